//! The coordinator: the airline that received `POST /api/v1/bookings` drives an
//! application-level two-phase commit with presumed abort across the legs' owners (DESIGN §4):
//!
//! validate → log intent → lock seats in Redis → hold at each owner → decide → finish → replicate
//!
//! The UPDATE of the booking to `committed`, in the transaction that also writes the pass and
//! its outbox rows, is the commit point. Before it, any failure aborts; after it, the booking
//! completes, if not now then through recovery.

use std::collections::BTreeMap;

use chrono::{SubsecRound, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::future::join_all;
use passcom_shared::api::{BookingRequest, LegRequest, Money, Pass, PassLeg, PassStatus, Segment};
use passcom_shared::client::{FinishAction, PeerError};
use passcom_shared::internal::{HoldLeg, HoldRequest, ReplicatedPass, SegmentFilter};
use passcom_shared::{AirlineCode, SegmentId};
use uuid::Uuid;

use super::idempotency::{self, Earlier, IdempotencyKey};
use super::participant::{self, HoldError};
use crate::catalog;
use crate::error::{ApiError, ApiResult};
use crate::federation::catalog as fed_catalog;
use crate::locks::LockError;
use crate::outbox::{self, Replicated};
use crate::passes;
use crate::routing::MIN_CONNECTION;
use crate::schema::bookings;
use crate::startup::AppState;

pub const MAX_LEGS: usize = 6;

/// A leg as the coordinator logs it: what was asked, and the segment it resolved to.
#[derive(Debug, Clone)]
pub struct PlannedLeg {
    pub seat: passcom_shared::SeatCode,
    pub segment: Segment,
}

impl PlannedLeg {
    fn airline(&self) -> &AirlineCode {
        &self.segment.airline
    }
}

pub enum Outcome {
    Created(Pass),
    Replayed { status: u16, body: serde_json::Value },
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_itinerary", detail)
}

#[tracing::instrument(skip_all, fields(booking_id = tracing::field::Empty, legs = request.legs.len()))]
pub async fn book(
    state: &AppState,
    user_id: Uuid,
    request_id: &str,
    request: BookingRequest,
    key: Option<IdempotencyKey>,
) -> ApiResult<Outcome> {
    if let Some(key) = &key {
        let mut conn = state.pool.get().await?;
        match idempotency::lookup(&mut conn, user_id, key).await? {
            Some(Earlier::Response { status, body }) => return Ok(Outcome::Replayed { status, body }),
            Some(Earlier::Committed { booking_id }) => {
                return Ok(Outcome::Created(passes::one(&mut conn, user_id, booking_id).await?));
            }
            Some(Earlier::InProgress) => return Err(idempotency::in_progress()),
            None => {}
        }
    }
    check_shape(state, &request.legs)?;
    let legs = resolve_segments(state, request_id, &request.legs).await?;
    check_chain(&legs)?;

    let booking_id = Uuid::now_v7();
    tracing::Span::current().record("booking_id", tracing::field::display(booking_id));
    let result = run_protocol(state, user_id, request_id, booking_id, &legs, key.as_ref()).await;
    state.metrics.booking(match &result {
        Ok(_) => "confirmed",
        Err(e) => e.code(),
    });
    if let Some(key) = &key {
        let (status, body) = match &result {
            Ok(pass) => (201, serde_json::to_value(pass).unwrap_or_default()),
            Err(e) => (e.problem().status, serde_json::to_value(e.problem()).unwrap_or_default()),
        };
        match state.pool.get().await {
            Ok(mut conn) => {
                if let Err(e) = idempotency::finish(&mut conn, user_id, key, booking_id, status, &body).await {
                    tracing::warn!(error = %e, "could not store the idempotent response");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not store the idempotent response"),
        }
    }
    result.map(Outcome::Created)
}

fn check_shape(state: &AppState, legs: &[LegRequest]) -> ApiResult<()> {
    if legs.is_empty() || legs.len() > MAX_LEGS {
        return Err(invalid(format!("an itinerary has 1 to {MAX_LEGS} legs, not {}", legs.len())));
    }
    for (i, leg) in legs.iter().enumerate() {
        if !state.knows_airline(&leg.airline) {
            return Err(
                invalid(format!("leg {i}: there is no airline `{}` in this federation", leg.airline)).with_leg(i)
            );
        }
        if legs[..i].iter().any(|earlier| earlier.airline == leg.airline && earlier.segment_id == leg.segment_id) {
            return Err(
                invalid(format!("leg {i}: segment {}/{} is listed twice", leg.airline, leg.segment_id)).with_leg(i)
            );
        }
    }
    Ok(())
}

/// Finds every leg's segment. Segments never change once published, so the catalogs that
/// search keeps (ours and each peer's, at most a second old) answer almost always; only a leg
/// they lack is looked up at its owner (in parallel, one call per airline). Their seat counts
/// may be stale, but the hold at the owner is what decides.
async fn resolve_segments(state: &AppState, request_id: &str, legs: &[LegRequest]) -> ApiResult<Vec<PlannedLeg>> {
    let mut by_airline: BTreeMap<&AirlineCode, Vec<SegmentId>> = BTreeMap::new();
    for leg in legs {
        by_airline.entry(&leg.airline).or_default().push(leg.segment_id.clone());
    }
    let lookups = by_airline.into_iter().map(|(airline, ids)| async move {
        let own = *airline == state.settings.airline;
        let peer = if own {
            None
        } else {
            Some(state.federation.peer(airline).ok_or_else(|| invalid(format!("no airline `{airline}`")))?)
        };
        let cached = match peer {
            None => fed_catalog::local_catalog(state).await.ok(),
            Some(peer) => fed_catalog::peer_catalog(state, peer, request_id).await.ok(),
        };
        let from_cache: Vec<Segment> =
            cached.iter().flat_map(|all| all.iter()).filter(|s| ids.contains(&s.segment_id)).cloned().collect();
        if from_cache.len() == ids.len() {
            return ApiResult::Ok(from_cache);
        }
        match peer {
            None => {
                let mut conn = state.pool.get().await?;
                Ok(catalog::by_ids(&mut conn, airline, &ids).await?)
            }
            Some(peer) => {
                let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
                let filter = SegmentFilter { ids: Some(ids.join(",")), ..SegmentFilter::default() };
                let batch = state
                    .federation
                    .call(peer, "segments", request_id, |ctx| peer.client.segments(ctx, &filter))
                    .await
                    .map_err(|e| peer_failure(airline, e))?;
                Ok(batch.segments)
            }
        }
    });
    let found: Vec<Segment> =
        join_all(lookups).await.into_iter().collect::<ApiResult<Vec<_>>>()?.into_iter().flatten().collect();
    legs.iter()
        .enumerate()
        .map(|(i, leg)| {
            let segment =
                found.iter().find(|s| s.airline == leg.airline && s.segment_id == leg.segment_id).ok_or_else(|| {
                    invalid(format!("leg {i}: airline {} has no upcoming segment `{}`", leg.airline, leg.segment_id))
                        .with_leg(i)
                })?;
            Ok(PlannedLeg { seat: leg.seat.clone(), segment: segment.clone() })
        })
        .collect()
}

fn check_chain(legs: &[PlannedLeg]) -> ApiResult<()> {
    for (i, pair) in legs.windows(2).enumerate() {
        let (prev, next) = (&pair[0].segment, &pair[1].segment);
        let (arrived, departing) =
            (passcom_shared::city::city_key(&prev.destination), passcom_shared::city::city_key(&next.origin));
        if arrived != departing {
            return Err(invalid(format!(
                "leg {} departs from {}, but leg {i} arrives in {}",
                i + 1,
                next.origin,
                prev.destination
            ))
            .with_leg(i + 1));
        }
        if next.departs_at < prev.arrives_at + MIN_CONNECTION {
            return Err(invalid(format!(
                "leg {} departs at {}, less than {} minutes after leg {i} arrives at {}",
                i + 1,
                next.departs_at,
                MIN_CONNECTION.num_minutes(),
                prev.arrives_at
            ))
            .with_leg(i + 1));
        }
    }
    Ok(())
}

fn peer_failure(airline: &AirlineCode, e: PeerError) -> ApiError {
    match e {
        PeerError::Refused(problem) => ApiError::from_problem(&problem).with_airline(airline.clone()),
        PeerError::Unreachable(why) => {
            tracing::warn!(%airline, error = %why, "airline unavailable for a booking");
            ApiError::airline_unavailable(airline, format!("airline {airline} cannot be reached; nothing was booked"))
        }
    }
}

async fn run_protocol(
    state: &AppState,
    user_id: Uuid,
    request_id: &str,
    booking_id: Uuid,
    legs: &[PlannedLeg],
    key: Option<&IdempotencyKey>,
) -> ApiResult<Pass> {
    // Locks first: a buyer who loses the race leaves no trace in any database.
    let lock_keys: Vec<String> =
        legs.iter().map(|l| state.locks.key(l.airline(), &l.segment.segment_id, &l.seat)).collect();
    if let Err(e) = state.locks.acquire_all(&lock_keys, booking_id).await {
        return Err(match e {
            LockError::Conflict { index } => ApiError::conflict(
                "seat_locked",
                format!(
                    "leg {index}: seat {} on {}/{} is being booked by someone else",
                    legs[index].seat,
                    legs[index].airline(),
                    legs[index].segment.segment_id
                ),
            )
            .with_leg(index)
            .with_airline(legs[index].airline().clone()),
            LockError::Unavailable(e) => {
                ApiError::dependency_unavailable("lock_service_unavailable", "the seat lock service", e)
            }
        });
    }
    let pass = new_pass(state, booking_id, legs);
    let result = if legs.iter().all(|l| *l.airline() == state.settings.airline) {
        sell_locally(state, user_id, &pass, legs, key).await
    } else {
        two_phase(state, user_id, request_id, &pass, legs, key).await
    };
    if let Err(e) = state.locks.release_all(&lock_keys, booking_id).await {
        tracing::warn!(error = %e, "could not release seat locks; they expire by themselves");
    }
    result.map(|()| pass)
}

fn new_pass(state: &AppState, booking_id: Uuid, legs: &[PlannedLeg]) -> Pass {
    Pass {
        pass_id: booking_id,
        status: PassStatus::Confirmed,
        // The database keeps microseconds; so does the answer, so that every copy is equal.
        created_at: Utc::now().trunc_subsecs(6),
        sold_by: state.settings.airline.clone(),
        total_price: total_price(legs),
        legs: legs
            .iter()
            .map(|l| PassLeg {
                airline: l.airline().clone(),
                segment_id: l.segment.segment_id.clone(),
                flight_no: l.segment.flight_no.clone(),
                origin: l.segment.origin.clone(),
                destination: l.segment.destination.clone(),
                departs_at: l.segment.departs_at,
                arrives_at: l.segment.arrives_at,
                seat: l.seat.clone(),
                price: l.segment.price.clone(),
            })
            .collect(),
    }
}

/// Every leg is ours: one local transaction sells the seats and records the pass and its
/// replication (the one-phase commit of a single participant). A refusal rolls it all back, so
/// there is nothing to recover and no coordinator log to keep.
async fn sell_locally(
    state: &AppState,
    user_id: Uuid,
    pass: &Pass,
    legs: &[PlannedLeg],
    key: Option<&IdempotencyKey>,
) -> ApiResult<()> {
    let own = &state.settings.airline;
    let seats: Vec<HoldLeg> = by_owner(legs).remove(own).unwrap_or_default().into_iter().map(|(_, l)| l).collect();
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, ApiError, _>(|conn| {
        async move {
            if let Some(key) = key {
                idempotency::insert(conn, user_id, key, pass.pass_id).await?;
            }
            participant::take(conn, pass.pass_id, own, &seats, None).await.map_err(|e| hold_refusal(e, own, |i| i))?;
            record_pass(state, conn, user_id, pass).await
        }
        .scope_boxed()
    })
    .await?;
    state.outbox_wake.notify_one();
    Ok(())
}

/// The pass, here and (through the outbox) at every peer.
async fn record_pass(state: &AppState, conn: &mut AsyncPgConnection, user_id: Uuid, pass: &Pass) -> ApiResult<()> {
    let peers: Vec<AirlineCode> = state.federation.peers().iter().map(|p| p.airline.clone()).collect();
    let replicated = ReplicatedPass { user_id, pass: pass.clone() };
    passes::upsert(conn, &replicated).await?;
    outbox::enqueue(conn, &peers, &Replicated::Pass(replicated)).await?;
    Ok(())
}

/// The booking's legs grouped by owner, each with its position in the itinerary.
fn by_owner(legs: &[PlannedLeg]) -> BTreeMap<AirlineCode, Vec<(usize, HoldLeg)>> {
    let mut groups: BTreeMap<AirlineCode, Vec<(usize, HoldLeg)>> = BTreeMap::new();
    for (i, leg) in legs.iter().enumerate() {
        groups
            .entry(leg.airline().clone())
            .or_default()
            .push((i, HoldLeg { segment_id: leg.segment.segment_id.clone(), seat: leg.seat.clone() }));
    }
    groups
}

/// Legs at other airlines: two-phase commit. Our own legs are not held: the decision
/// transaction sells them, so their owner (us) votes last, in the commit point itself, and a
/// refusal there aborts the booking like any other owner's.
async fn two_phase(
    state: &AppState,
    user_id: Uuid,
    request_id: &str,
    pass: &Pass,
    legs: &[PlannedLeg],
    key: Option<&IdempotencyKey>,
) -> ApiResult<()> {
    let own = &state.settings.airline;
    let booking_id = pass.pass_id;
    let mut groups = by_owner(legs);
    let local = groups.remove(own);
    log_intent(state, user_id, booking_id, legs, key).await?;

    let holds =
        join_all(groups.iter().map(|(airline, group)| hold_at(state, request_id, booking_id, airline, group))).await;
    let refusal = holds.into_iter().filter_map(Result::err).min_by_key(|e| e.problem().leg.unwrap_or(usize::MAX));
    pause(state.settings.faults.pause_after_prepare).await;
    let remote: Vec<AirlineCode> = groups.into_keys().collect();
    let decided = match refusal {
        Some(refusal) => Decided::Refused(refusal),
        None => commit_decision(state, user_id, pass, local.as_deref()).await?,
    };
    match decided {
        Decided::Committed => {}
        Decided::Abandoned => {
            // Recovery aborted this booking while it was preparing (we were too slow).
            finish_everywhere(state, request_id, booking_id, &remote, FinishAction::Abort).await;
            return Err(ApiError::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "booking_timed_out",
                "the booking took too long and was abandoned; nothing was booked",
            ));
        }
        Decided::Refused(refusal) => {
            mark_aborted(state, booking_id, false).await?;
            if finish_everywhere(state, request_id, booking_id, &remote, FinishAction::Abort).await {
                mark_aborted(state, booking_id, true).await?;
            }
            return Err(refusal);
        }
    }
    state.outbox_wake.notify_one();
    pause(state.settings.faults.pause_after_decision).await;
    if finish_everywhere(state, request_id, booking_id, &remote, FinishAction::Commit).await {
        state.finished.record(booking_id);
    }
    Ok(())
}

/// The intent, durable before any owner hears of the booking.
async fn log_intent(
    state: &AppState,
    user_id: Uuid,
    booking_id: Uuid,
    legs: &[PlannedLeg],
    key: Option<&IdempotencyKey>,
) -> ApiResult<()> {
    // Recovery needs only who owns which seat; the segments' details live in the pass.
    let logged: Vec<LegRequest> = legs
        .iter()
        .map(|l| LegRequest {
            airline: l.airline().clone(),
            segment_id: l.segment.segment_id.clone(),
            seat: l.seat.clone(),
        })
        .collect();
    let legs_json = serde_json::to_value(logged).map_err(ApiError::internal)?;
    let intent = diesel::insert_into(bookings::table).values((
        bookings::booking_id.eq(booking_id),
        bookings::user_id.eq(user_id),
        bookings::state.eq("preparing"),
        bookings::legs.eq(legs_json),
    ));
    let mut conn = state.pool.get().await?;
    let Some(key) = key else {
        // One statement needs no transaction around it.
        intent.execute(&mut conn).await?;
        return Ok(());
    };
    conn.transaction::<_, ApiError, _>(|conn| {
        async move {
            idempotency::insert(conn, user_id, key, booking_id).await?;
            intent.execute(conn).await?;
            Ok(())
        }
        .scope_boxed()
    })
    .await
}

async fn pause(duration: std::time::Duration) {
    if !duration.is_zero() {
        tracing::warn!(?duration, "fault injection: pausing");
        tokio::time::sleep(duration).await;
    }
}

fn total_price(legs: &[PlannedLeg]) -> Money {
    let currency = legs.first().map(|l| l.segment.price.currency.clone()).unwrap_or_else(|| "BRL".into());
    Money { cents: legs.iter().map(|l| l.segment.price.cents).sum(), currency }
}

/// Asks another airline to hold its legs. Errors name the itinerary leg and the airline.
async fn hold_at(
    state: &AppState,
    request_id: &str,
    booking_id: Uuid,
    airline: &AirlineCode,
    group: &[(usize, HoldLeg)],
) -> ApiResult<()> {
    let hold_legs: Vec<HoldLeg> = group.iter().map(|(_, l)| l.clone()).collect();
    let leg_of = |index_in_group: usize| group.get(index_in_group).map_or(group[0].0, |(i, _)| *i);
    let peer = state.federation.peer(airline).ok_or_else(|| invalid(format!("no airline `{airline}`")))?;
    let request = HoldRequest { booking_id, coordinator: state.settings.airline.clone(), legs: hold_legs };
    match state.federation.call(peer, "hold", request_id, |ctx| peer.client.hold(ctx, &request)).await {
        Ok(_) => Ok(()),
        Err(PeerError::Refused(problem)) => {
            let leg = leg_of(problem.leg.unwrap_or(0));
            Err(ApiError::from_problem(&problem).with_leg(leg).with_airline(airline.clone()))
        }
        Err(e) => Err(peer_failure(airline, e)),
    }
}

/// How a participant's refusal reads, for our client and for a peer coordinator alike.
pub fn hold_refusal(e: HoldError, airline: &AirlineCode, leg_of: impl Fn(usize) -> usize) -> ApiError {
    match e {
        HoldError::Taken { index, segment, seat } => {
            let leg = leg_of(index);
            ApiError::conflict(
                "seat_taken",
                format!("leg {leg}: seat {seat} on {airline}/{segment} is already sold or held"),
            )
            .with_leg(leg)
            .with_airline(airline.clone())
        }
        HoldError::NoSuchSeat { index, segment, seat } => {
            let leg = leg_of(index);
            invalid(format!("leg {leg}: segment {airline}/{segment} has no seat {seat}"))
                .with_leg(leg)
                .with_airline(airline.clone())
        }
        HoldError::Db(e) => ApiError::from(e),
    }
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

/// `preparing` → `committed`, as a statement of its own type: diesel never prepares an UPDATE
/// of its own, and this one runs for every booking.
struct Decide {
    booking_id: Uuid,
}

crate::db::prepared_once!(Decide);

impl QueryFragment<Pg> for Decide {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("UPDATE bookings SET state = 'committed', updated_at = now() WHERE booking_id = ");
        out.push_bind_param::<diesel::sql_types::Uuid, _>(&self.booking_id)?;
        out.push_sql(" AND state = 'preparing'");
        Ok(())
    }
}

/// The commit point: `preparing` → `committed`, the sale of our own legs, and the pass with its
/// replication, atomically.
async fn commit_decision(
    state: &AppState,
    user_id: Uuid,
    pass: &Pass,
    local: Option<&[(usize, HoldLeg)]>,
) -> ApiResult<Decided> {
    let own = &state.settings.airline;
    let mut conn = state.pool.get().await?;
    let decided = conn
        .transaction::<_, DecisionError, _>(|conn| {
            async move {
                let committed = Decide { booking_id: pass.pass_id }.execute(conn).await?;
                if committed == 0 {
                    return Ok(Decided::Abandoned);
                }
                if let Some(group) = local {
                    let seats: Vec<HoldLeg> = group.iter().map(|(_, l)| l.clone()).collect();
                    participant::take(conn, pass.pass_id, own, &seats, None).await.map_err(|e| match e {
                        HoldError::Db(e) => DecisionError::Failed(e.into()),
                        refused => DecisionError::Refused(hold_refusal(refused, own, |i| {
                            group.get(i).map_or(group[0].0, |(leg, _)| *leg)
                        })),
                    })?;
                }
                record_pass(state, conn, user_id, pass).await.map_err(DecisionError::Failed)?;
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

/// Records the abort of a booking still `preparing` (never of a committed one), and whether
/// every owner has acknowledged it.
pub async fn mark_aborted(state: &AppState, booking_id: Uuid, finished: bool) -> ApiResult<()> {
    let mut conn = state.pool.get().await?;
    let undecided = bookings::table.find(booking_id).filter(bookings::state.eq_any(["preparing", "aborted"]));
    diesel::update(undecided)
        .set((bookings::state.eq("aborted"), bookings::finished.eq(finished), bookings::updated_at.eq(Utc::now())))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Sends the outcome to every owner in parallel; true when all acknowledged.
pub async fn finish_everywhere(
    state: &AppState,
    request_id: &str,
    booking_id: Uuid,
    owners: &[AirlineCode],
    action: FinishAction,
) -> bool {
    let sends = owners.iter().map(|airline| async move {
        if *airline == state.settings.airline {
            let mut conn = state.pool.get().await.map_err(|e| e.to_string())?;
            let done = match action {
                FinishAction::Commit => participant::commit(&mut conn, booking_id, None).await,
                FinishAction::Abort => participant::abort(&mut conn, booking_id, None).await,
                FinishAction::Release => participant::release(&mut conn, booking_id).await,
            };
            return done.map(drop).map_err(|e| e.to_string());
        }
        let peer = state.federation.peer(airline).ok_or_else(|| format!("no peer {airline}"))?;
        state
            .federation
            .call(peer, action.as_str(), request_id, |ctx| peer.client.finish(ctx, booking_id, action))
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    });
    let results = join_all(sends).await;
    for (airline, result) in owners.iter().zip(&results) {
        if let Err(e) = result {
            tracing::warn!(%airline, %booking_id, action = action.as_str(), error = %e, "owner has not acknowledged; recovery will retry");
        }
    }
    results.iter().all(Result::is_ok)
}
