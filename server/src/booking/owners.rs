//! Talking to a booking's owners, wherever they are: hold their seats (prepare), tell them the
//! outcome (commit, abort, release), ask a coordinator for its decision. Each call resolves the
//! airline to an [`Owner`] once; nothing else branches on "this airline or a peer".

use diesel_async::AsyncPgConnection;
use futures::future::join_all;
use passcom_shared::client::{FinishAction, PeerError};
use passcom_shared::internal::{Decision, HoldRequest};
use passcom_shared::{AirlineCode, Code};
use uuid::Uuid;

use super::deadline::Deadline;
use super::itinerary::OwnerLegs;
use super::{log, participant};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::federation::Owner;
use crate::operations::disruption;

/// Prepare: asks every other owner to hold its legs, in parallel, waiting no longer than the
/// booking's deadline. Returns the refusal of the earliest leg, if any owner refused or could
/// not be reached in time.
pub async fn hold_everywhere<'a>(
    state: &AppState,
    request_id: &str,
    booking_id: Uuid,
    deadline: &Deadline,
    groups: impl IntoIterator<Item = (&'a AirlineCode, &'a OwnerLegs)>,
) -> Option<ApiError> {
    let holds = join_all(
        groups.into_iter().map(|(airline, group)| hold_at(state, request_id, booking_id, deadline, airline, group)),
    );
    holds.await.into_iter().filter_map(Result::err).min_by_key(|e| e.problem().leg.unwrap_or(usize::MAX))
}

/// Asks another airline to hold its legs. Errors name the itinerary leg and the airline.
async fn hold_at(
    state: &AppState,
    request_id: &str,
    booking_id: Uuid,
    deadline: &Deadline,
    airline: &AirlineCode,
    group: &OwnerLegs,
) -> ApiResult<()> {
    let Some(Owner::Peer(peer)) = state.federation.owner(airline) else {
        return Err(ApiError::internal(anyhow::anyhow!("asked to hold seats of {airline}, which is not a peer")));
    };
    let leg_of = |index_in_group: usize| group.get(index_in_group).map_or(group[0].0, |(i, _)| *i);
    let request = HoldRequest {
        booking_id,
        coordinator: state.settings.airline.clone(),
        legs: group.iter().map(|(_, l)| l.clone()).collect(),
        deadline: Some(deadline.utc()),
    };
    let left = deadline.remaining();
    if left.is_zero() {
        return Err(ApiError::new(Code::BookingTimedOut, "the booking ran out of time; nothing was booked"));
    }
    match peer.hold(request_id, &request, left).await {
        Ok(_) => Ok(()),
        // A refusal of one of its seats names the seat's position among those we asked for.
        Err(PeerError::Refused(problem)) => Err(match problem.leg {
            Some(index) => participant::leg_refusal(problem.code, leg_of(index), &problem.detail, airline),
            None => ApiError::from_problem(&problem).with_leg(leg_of(0)).with_airline(airline.clone()),
        }),
        Err(e) => Err(ApiError::peer_failure(airline, e)),
    }
}

/// Sends the outcome to every owner in parallel; true when all acknowledged.
pub async fn finish_everywhere(
    state: &AppState,
    request_id: &str,
    booking_id: Uuid,
    owners: &[AirlineCode],
    action: FinishAction,
) -> bool {
    let sends = owners.iter().map(|airline| finish_at(state, request_id, booking_id, airline, action));
    let results = join_all(sends).await;
    for (airline, result) in owners.iter().zip(&results) {
        if let Err(e) = result {
            tracing::warn!(%airline, %booking_id, action = action.as_str(), error = %e, "owner has not acknowledged; recovery will retry");
        }
    }
    results.iter().all(Result::is_ok)
}

async fn finish_at(
    state: &AppState,
    request_id: &str,
    booking_id: Uuid,
    airline: &AirlineCode,
    action: FinishAction,
) -> Result<(), String> {
    match state.federation.owner(airline) {
        Some(Owner::Here) => {
            let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
            finish_here(state, &mut conn, booking_id, action, None).await.map(drop).map_err(|e| e.to_string())
        }
        Some(Owner::Peer(peer)) => {
            peer.finish(request_id, booking_id, action).await.map(drop).map_err(|e| e.to_string())
        }
        None => Err(format!("no peer {airline}")),
    }
}

/// This airline's part of a booking's outcome. A sale may land on a flight cancelled since the
/// hold was granted (the coordinator decided on our yes vote and cannot be refused): it goes
/// through, and its pass is disrupted.
pub async fn finish_here(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    booking_id: Uuid,
    action: FinishAction,
    by: Option<&AirlineCode>,
) -> diesel::QueryResult<usize> {
    let finished = participant::finish(conn, booking_id, action, by).await?;
    // A repeat changes nothing, but the first sale may have stopped before its disruption.
    if action == FinishAction::Commit && (finished.seats == 0 || finished.on_cancelled_flight) {
        disruption::after_sale(state, conn, booking_id).await?;
    }
    Ok(finished.seats)
}

/// A coordinator's decision about one of its bookings, asked by a participant.
pub async fn decision_of(state: &AppState, coordinator: &AirlineCode, booking_id: Uuid) -> anyhow::Result<Decision> {
    match state.federation.owner(coordinator) {
        Some(Owner::Here) => {
            let mut conn = state.pool.get().await?;
            Ok(log::decision(&mut conn, booking_id).await?)
        }
        Some(Owner::Peer(peer)) => {
            Ok(peer.decision(&format!("recovery-{booking_id}"), booking_id).await.map(|body| body.decision)?)
        }
        None => Err(anyhow::anyhow!("coordinator {coordinator} is not a peer")),
    }
}
