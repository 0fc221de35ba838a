//! Cancelling a pass. Only the airline that sold it cancels it: there it is marked cancelled at
//! once, and through the outbox every leg's owner frees its seats (an owner frees only seats
//! that this seller sold) and every peer marks the pass cancelled, retried until each
//! acknowledges. Any other airline forwards the passenger's request to the seller, with the
//! passenger's token as proof that they asked, and keeps the cancelled pass the seller answers.
//! While the seller is down nothing is cancelled: 503 naming it, and the passenger retries.
//! Cancelling again is harmless.

use diesel_async::scoped_futures::ScopedFutureExt;
use passcom_shared::api::{Pass, PassStatus};
use passcom_shared::client::PeerError;
use passcom_shared::internal::{CancelRequest, Replicated, ReplicatedPass};
use passcom_shared::AirlineCode;
use uuid::Uuid;

use super::participant;
use crate::app::AppState;
use crate::auth::Passenger;
use crate::error::{ApiError, ApiResult};
use crate::federation::Owner;
use crate::passes;
use crate::replication::outbox::{self, To};

#[tracing::instrument(skip(state, passenger), fields(user_id = %passenger.user_id))]
pub async fn cancel(state: &AppState, request_id: &str, passenger: &Passenger, pass_id: Uuid) -> ApiResult<Pass> {
    let pass = passes::one(&mut *state.pool.get().await?, passenger.user_id, pass_id).await?;
    if pass.status == PassStatus::Cancelled {
        return Ok(pass);
    }
    let seller = &pass.sold_by;
    let peer = match state.federation.owner(seller) {
        Some(Owner::Here) => return cancel_here(state, passenger.user_id, pass_id).await,
        Some(Owner::Peer(peer)) => peer,
        None => return Err(ApiError::internal(anyhow::anyhow!("pass {pass_id} names an unknown seller {seller}"))),
    };
    let request = CancelRequest { passenger_token: passenger.token.clone() };
    let cancelled = peer.cancel_pass(request_id, pass_id, &request).await.map_err(|e| match e {
        PeerError::Refused(problem) => ApiError::from_problem(&problem),
        PeerError::Unreachable(_) => ApiError::airline_unavailable(
            seller,
            format!("only airline {seller}, which sold this pass, can cancel it, and it cannot be reached; nothing was cancelled"),
        ),
    })?;
    if cancelled.pass_id != pass_id || cancelled.sold_by != *seller || cancelled.status != PassStatus::Cancelled {
        return Err(ApiError::internal(anyhow::anyhow!("seller {seller} answered a cancellation with another pass")));
    }
    // Seen here at once; the seller's replication brings the same write later.
    let replicated = ReplicatedPass { user_id: passenger.user_id, pass: cancelled.clone() };
    passes::upsert(&mut *state.pool.get().await?, &replicated).await?;
    Ok(cancelled)
}

/// Cancels a pass this airline sold.
pub async fn cancel_here(state: &AppState, user_id: Uuid, pass_id: Uuid) -> ApiResult<Pass> {
    let mut conn = state.pool.get().await?;
    let own = &state.settings.airline;
    outbox::transaction(state, &mut conn, |conn| {
        async move {
            match passes::lock_status(conn, user_id, pass_id).await? {
                None => return Err(ApiError::not_found("you have no pass with this id")),
                Some(PassStatus::Cancelled) => return passes::one(conn, user_id, pass_id).await,
                // A disrupted pass is cancelled like any other: every leg's seat is freed.
                Some(PassStatus::Confirmed | PassStatus::Disrupted) => {}
            }
            let mut pass = passes::one(conn, user_id, pass_id).await?;
            if pass.sold_by != *own {
                return Err(ApiError::forbidden(format!(
                    "only airline {} cancels this pass, which it sold",
                    pass.sold_by
                )));
            }
            passes::mark_cancelled(conn, pass_id).await?;
            pass.status = PassStatus::Cancelled;
            let mut owners: Vec<AirlineCode> = pass.legs.iter().map(|l| l.airline.clone()).collect();
            owners.sort();
            owners.dedup();
            if owners.contains(own) {
                participant::release(conn, pass_id, Some(own)).await?;
            }
            outbox::enqueue(state, conn, To::Only(&owners), &Replicated::Release { booking_id: pass_id }).await?;
            let replicated = Replicated::Pass(ReplicatedPass { user_id, pass: pass.clone() });
            outbox::enqueue(state, conn, To::EveryPeer, &replicated).await?;
            Ok(pass)
        }
        .scope_boxed()
    })
    .await
}
