//! Cancelling a pass: here at once, then at every leg's owner (which frees the seats) and every
//! peer (which marks the pass cancelled) through the outbox, retried until each acknowledges.
//! Cancelling again is harmless.

use diesel_async::scoped_futures::ScopedFutureExt;
use passcom_shared::api::{Pass, PassStatus};
use passcom_shared::internal::{Replicated, ReplicatedPass};
use passcom_shared::AirlineCode;
use uuid::Uuid;

use super::participant;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::passes;
use crate::replication::outbox::{self, To};

#[tracing::instrument(skip(state))]
pub async fn cancel(state: &AppState, user_id: Uuid, pass_id: Uuid) -> ApiResult<Pass> {
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
            passes::mark_cancelled(conn, pass_id).await?;
            let mut pass = passes::one(conn, user_id, pass_id).await?;
            pass.status = PassStatus::Cancelled;
            let mut owners: Vec<AirlineCode> = pass.legs.iter().map(|l| l.airline.clone()).collect();
            owners.sort();
            owners.dedup();
            if owners.contains(own) {
                participant::release(conn, pass_id).await?;
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
