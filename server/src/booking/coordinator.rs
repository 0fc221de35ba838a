//! The coordinator: the airline that received `POST /api/v1/bookings` drives an
//! application-level two-phase commit with presumed abort across the legs' owners (DESIGN §4).
//! [`book`] and [`two_phase`] read as the protocol, one call per step.
//!
//! The UPDATE of the booking to `committed`, in the transaction that also writes the pass and
//! its outbox rows, is the commit point. Before it, any failure aborts; after it, the booking
//! completes: the passenger is answered at once, and the outbox carries the commit to the other
//! owners with the pass (retrying until each has it), so no commit call waits on the request.

use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::AsyncPgConnection;
use passcom_shared::api::{BookingRequest, Pass};
use passcom_shared::client::FinishAction;
use passcom_shared::internal::Replicated;
use passcom_shared::internal::{HoldLeg, ReplicatedPass};
use passcom_shared::{AirlineCode, Code};
use uuid::Uuid;

use super::deadline::Deadline;
use super::idempotency::{self, Earlier, IdempotencyKey, Outcome};
use super::itinerary::{Itinerary, OwnerLegs};
use super::participant::{self, HoldError};
use super::{log, owners, pass_id};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::limits;
use crate::locks::LockError;
use crate::passes;
use crate::replication::outbox::{self, To};

/// One booking as the coordinator runs it.
struct Booking<'a> {
    id: Uuid,
    user_id: Uuid,
    request_id: &'a str,
    key: Option<&'a IdempotencyKey>,
    deadline: Deadline,
}

/// An abort is worth this long a wait even past the deadline: a healthy owner answers in
/// milliseconds, and the aborts that do not get through are resent by recovery.
const ABORT_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

#[tracing::instrument(skip_all, fields(booking_id = tracing::field::Empty, legs = request.legs.len()))]
pub async fn book(
    state: &AppState,
    user_id: Uuid,
    request_id: &str,
    request: BookingRequest,
    key: Option<IdempotencyKey>,
) -> ApiResult<Outcome> {
    let deadline = Deadline::after(state.settings.booking_deadline);
    if let Some(key) = &key {
        let mut conn = state.pool.get().await?;
        // A request still running is past its deadline (and deciding) within this much.
        let settle = chrono::Duration::from_std(state.settings.booking_deadline).map_err(ApiError::internal)?
            + chrono::Duration::seconds(1);
        match idempotency::earlier(&mut conn, user_id, key, settle).await? {
            Earlier::New => {}
            Earlier::Answered(outcome) => return Ok(outcome),
            Earlier::Abandoned(old) => abort_abandoned(state, request_id, old, &deadline).await?,
        }
    }
    // 1. Validate.
    let itinerary = Itinerary::resolve(state, request_id, &request, &deadline).await?;
    let booking =
        Booking { id: pass_id::new(&state.settings.airline), user_id, request_id, key: key.as_ref(), deadline };
    tracing::Span::current().record("booking_id", tracing::field::display(booking.id));

    // 3. Lock every seat in Redis, all or none. Before the intent (2): a buyer who loses the
    // race leaves no trace in any database.
    let result = match lock_seats(state, &booking, &itinerary).await {
        Ok(lock_keys) => {
            // Counted once its seats are locked: replays are free, and an attempt that loses the
            // race for a seat costs only a Redis call, so a passenger retrying it (or a crowd of
            // clients sharing one account, as the original PassCom's script is) is not refused
            // for the attempts of others.
            let sold = match limits::booking_started(state, user_id).await {
                Ok(()) => sell(state, &booking, &itinerary).await,
                Err(e) => Err(e),
            };
            // 7. Release the locks (the pass, and with it the commit, was queued for the other
            // owners at the commit point).
            if let Err(e) = state.locks.release_all(&lock_keys, booking.id).await {
                tracing::warn!(error = %e, "could not release seat locks; they expire by themselves");
            }
            sold
        }
        Err(e) => Err(e),
    };
    state.metrics.booking(match &result {
        Ok(_) => "confirmed",
        Err(e) => e.code().as_str(),
    });
    if let Some(key) = &key {
        remember_answer(state, &booking, key, &result).await;
    }
    result.map(Outcome::Created)
}

async fn lock_seats(state: &AppState, booking: &Booking<'_>, itinerary: &Itinerary) -> ApiResult<Vec<String>> {
    let seats: Vec<_> = itinerary.seats().collect();
    let keys: Vec<String> =
        seats.iter().map(|(_, leg, seat)| state.locks.key(leg.airline(), &leg.segment.segment_id, seat)).collect();
    match state.locks.acquire_all(&keys, booking.id).await {
        Ok(()) => Ok(keys),
        Err(LockError::Conflict { index }) => {
            let (i, leg, seat) = seats[index];
            Err(ApiError::new(
                Code::SeatLocked,
                format!(
                    "leg {i}: seat {seat} on {}/{} is being booked by someone else",
                    leg.airline(),
                    leg.segment.segment_id
                ),
            )
            .with_leg(i)
            .with_airline(leg.airline().clone()))
        }
        Err(e @ (LockError::Unavailable(_) | LockError::Down)) => {
            Err(ApiError::dependency_unavailable(Code::LockServiceUnavailable, "the seat lock service", e))
        }
    }
}

async fn sell(state: &AppState, booking: &Booking<'_>, itinerary: &Itinerary) -> ApiResult<Pass> {
    let pass = itinerary.pass(booking.id, &state.settings.airline);
    if itinerary.all_at(&state.settings.airline) {
        sell_locally(state, booking, &pass, itinerary).await?;
    } else {
        two_phase(state, booking, &pass, itinerary).await?;
    }
    Ok(pass)
}

/// Every leg is ours: one local transaction sells the seats and records the pass and its
/// replication (the one-phase commit of a single participant). A refusal rolls it all back, so
/// there is nothing to recover and no coordinator log to keep.
async fn sell_locally(state: &AppState, booking: &Booking<'_>, pass: &Pass, itinerary: &Itinerary) -> ApiResult<()> {
    let own = &state.settings.airline;
    let group = itinerary.by_owner().remove(own).unwrap_or_default();
    let seats: Vec<HoldLeg> = group.iter().map(|(_, l)| l.clone()).collect();
    let mut conn = state.pool.get().await?;
    outbox::transaction(state, &mut conn, |conn| {
        async move {
            if let Some(key) = booking.key {
                idempotency::claim(conn, booking.user_id, key, booking.id).await?;
            }
            limits::within_seat_cap(conn, booking.user_id, &pass.legs, state.settings.limits.seats_per_flight).await?;
            // The seats' UPDATEs and the pass's statements go in one round trip; a refusal rolls
            // the pass back with the rest.
            let taken = participant::send_take(conn, booking.id, own, &seats, None);
            let (taken, recorded) = futures::join!(taken, record_pass(state, conn, booking.user_id, pass));
            participant::check_taken(conn, &seats, taken).await.map_err(|e| e.refusal(own, |i| group[i].0))?;
            recorded
        }
        .scope_boxed()
    })
    .await
}

/// Legs at other airlines: two-phase commit. Our own legs are not held: the decision
/// transaction sells them, so their owner (us) votes last, in the commit point itself, and a
/// refusal there aborts the booking like any other owner's. The commit reaches the other
/// owners with the pass, through the outbox; only an abort is sent to them directly.
async fn two_phase(state: &AppState, booking: &Booking<'_>, pass: &Pass, itinerary: &Itinerary) -> ApiResult<()> {
    let mut groups = itinerary.by_owner();
    let local = groups.remove(&state.settings.airline);
    let remote: Vec<AirlineCode> = groups.keys().cloned().collect();

    // 2. Log the intent.
    log_intent(state, booking, itinerary).await?;
    // 4. Prepare: every other owner holds its seats.
    let refusal = owners::hold_everywhere(state, booking.request_id, booking.id, &booking.deadline, &groups).await;
    pause(state.settings.faults.pause_after_prepare).await;
    // 5. Decide.
    let decided = match refusal {
        Some(refusal) => Decided::Refused(refusal),
        None => decide(state, booking, pass, local.as_ref()).await?,
    };
    // 6. Finish at every owner: an abort now, a commit through the outbox.
    match decided {
        // The other owners sell their holds when the pass reaches them: the outbox row the
        // decision wrote carries the commit, and delivers it however long an owner is away.
        Decided::Committed => {
            pause(state.settings.faults.pause_after_decision).await;
            Ok(())
        }
        Decided::Abandoned => {
            let aborts = owners::finish_everywhere(state, booking.request_id, booking.id, &remote, FinishAction::Abort);
            let _ = tokio::time::timeout(booking.deadline.remaining_at_least(ABORT_WAIT), aborts).await;
            Err(ApiError::new(Code::BookingTimedOut, "the booking took too long and was abandoned; nothing was booked"))
        }
        Decided::Refused(refusal) => {
            abort(state, booking, &remote).await?;
            Err(refusal)
        }
    }
}

async fn log_intent(state: &AppState, booking: &Booking<'_>, itinerary: &Itinerary) -> ApiResult<()> {
    let legs = itinerary.requested();
    let mut conn = state.pool.get().await?;
    let Some(key) = booking.key else {
        // One statement needs no transaction around it.
        return Ok(log::log_intent(&mut conn, booking.id, booking.user_id, &legs).await?);
    };
    diesel_async::AsyncConnection::transaction::<_, ApiError, _>(&mut conn, |conn| {
        async move {
            idempotency::claim(conn, booking.user_id, key, booking.id).await?;
            Ok(log::log_intent(conn, booking.id, booking.user_id, &legs).await?)
        }
        .scope_boxed()
    })
    .await
}

/// The abort is written before any owner hears of it, and recorded as finished once all have.
/// The client waits for the owners only until the deadline (and [`ABORT_WAIT`]): an owner that
/// did not answer its hold will rarely answer its abort, and recovery resends it.
async fn abort(state: &AppState, booking: &Booking<'_>, remote: &[AirlineCode]) -> ApiResult<()> {
    log::abort(&mut *state.pool.get().await?, booking.id, false).await?;
    tell_aborted(state, booking.request_id, booking.id, remote, &booking.deadline).await
}

async fn tell_aborted(
    state: &AppState,
    request_id: &str,
    booking_id: Uuid,
    owners: &[AirlineCode],
    deadline: &Deadline,
) -> ApiResult<()> {
    let aborts = owners::finish_everywhere(state, request_id, booking_id, owners, FinishAction::Abort);
    if let Ok(true) = tokio::time::timeout(deadline.remaining_at_least(ABORT_WAIT), aborts).await {
        log::abort(&mut *state.pool.get().await?, booking_id, true).await?;
    }
    Ok(())
}

/// An earlier request with the same key failed and its booking was aborted: its owners are
/// told before the retry asks them for the same seats.
async fn abort_abandoned(state: &AppState, request_id: &str, booking_id: Uuid, deadline: &Deadline) -> ApiResult<()> {
    let owners = log::owners(&mut *state.pool.get().await?, booking_id).await?;
    tracing::info!(%booking_id, "an earlier request with this Idempotency-Key failed; aborting its booking");
    tell_aborted(state, request_id, booking_id, &owners, deadline).await
}

enum Decided {
    Committed,
    /// Recovery aborted the booking while it was preparing (we were too slow).
    Abandoned,
    /// An owner refused its seats; nothing is decided yet, so the booking may be aborted.
    Refused(ApiError),
}

/// Why the decision transaction rolled back: a refusal of our own seats, or a failure that
/// leaves the outcome unknown (recovery settles it; we must not abort).
enum DecisionError {
    Refused(ApiError),
    Failed(ApiError),
}

impl From<diesel::result::Error> for DecisionError {
    fn from(e: diesel::result::Error) -> Self {
        DecisionError::Failed(e.into())
    }
}

/// The commit point: `preparing` → `committed`, the sale of our own legs, and the pass with its
/// replication, atomically.
async fn decide(state: &AppState, booking: &Booking<'_>, pass: &Pass, local: Option<&OwnerLegs>) -> ApiResult<Decided> {
    let own = &state.settings.airline;
    let mut conn = state.pool.get().await?;
    let decided = outbox::transaction(state, &mut conn, |conn| {
        async move {
            let cap = state.settings.limits.seats_per_flight;
            limits::within_seat_cap(conn, booking.user_id, &pass.legs, cap).await.map_err(DecisionError::Refused)?;
            if !log::commit(conn, booking.id).await? {
                return Ok(Decided::Abandoned);
            }
            if let Some(group) = local {
                let seats: Vec<HoldLeg> = group.iter().map(|(_, l)| l.clone()).collect();
                participant::take(conn, booking.id, own, &seats, None).await.map_err(|e| match e {
                    HoldError::Db(e) => DecisionError::Failed(e.into()),
                    refused => DecisionError::Refused(
                        refused.refusal(own, |i| group.get(i).map_or(group[0].0, |(leg, _)| *leg)),
                    ),
                })?;
            }
            record_pass(state, conn, booking.user_id, pass).await.map_err(DecisionError::Failed)?;
            Ok(Decided::Committed)
        }
        .scope_boxed()
    })
    .await;
    match decided {
        Ok(decided) => Ok(decided),
        Err(DecisionError::Refused(refusal)) => Ok(Decided::Refused(refusal)),
        Err(DecisionError::Failed(e)) => Err(e),
    }
}

/// The pass, here and (through the outbox) at every peer.
async fn record_pass(state: &AppState, conn: &mut AsyncPgConnection, user_id: Uuid, pass: &Pass) -> ApiResult<()> {
    let replicated = ReplicatedPass { user_id, pass: pass.clone() };
    let queued = outbox::enqueue(state, conn, To::EveryPeer, &Replicated::Pass(replicated.clone()));
    // The pass's statements and its outbox row reach PostgreSQL together.
    futures::try_join!(passes::upsert(conn, &replicated), queued)?;
    Ok(())
}

async fn remember_answer(state: &AppState, booking: &Booking<'_>, key: &IdempotencyKey, answer: &ApiResult<Pass>) {
    let stored = match state.pool.get().await {
        Ok(mut conn) => idempotency::remember(&mut conn, booking.user_id, key, booking.id, answer)
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = stored {
        tracing::warn!(error = %e, "could not store the idempotent response");
    }
}

/// Fault injection for crash tests: zero (no pause) unless configured.
async fn pause(duration: std::time::Duration) {
    if !duration.is_zero() {
        tracing::warn!(?duration, "fault injection: pausing");
        tokio::time::sleep(duration).await;
    }
}
