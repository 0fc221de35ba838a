//! The participant side of a booking: this airline holding, selling and freeing its own seats.
//! The conditional UPDATE here, not the Redis lock, is what makes a double sale impossible:
//! a seat moves from `available` to `held` for exactly one booking, and only that booking can
//! move it on. Every operation is idempotent on the booking id.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::dsl;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use passcom_shared::client::FinishAction;
use passcom_shared::internal::HoldLeg;
use passcom_shared::{AirlineCode, Code};
use uuid::Uuid;

use crate::catalog::local::SeatStatus;
use crate::error::ApiError;
use crate::schema::{seats, segments};

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error("seat {seat} on segment {segment} is already taken")]
    Taken { index: usize, segment: String, seat: String },
    #[error("segment {segment} has no seat {seat} on sale")]
    NoSuchSeat { index: usize, segment: String, seat: String },
    #[error("the flight of segment {segment} is cancelled")]
    Cancelled { index: usize, segment: String },
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

impl HoldError {
    /// How a refusal reads to our own client; `leg_of` maps a position among this owner's seats
    /// to the itinerary's leg.
    pub fn refusal(self, airline: &AirlineCode, leg_of: impl Fn(usize) -> usize) -> ApiError {
        match self.explain(airline) {
            Ok((code, index, what)) => leg_refusal(code, leg_of(index), &what, airline),
            Err(e) => e,
        }
    }

    /// How a refusal reads to a peer coordinator: `leg` is the position among the seats it asked
    /// us to hold, and the detail leaves the leg out; the coordinator, which knows the
    /// itinerary, names it ([`leg_refusal`]).
    pub fn owner_refusal(self, airline: &AirlineCode) -> ApiError {
        match self.explain(airline) {
            Ok((code, index, what)) => ApiError::new(code, what).with_leg(index).with_airline(airline.clone()),
            Err(e) => e,
        }
    }

    /// The code, the position among this owner's seats and what is wrong; a database failure
    /// as the error it is.
    fn explain(self, airline: &AirlineCode) -> Result<(Code, usize, String), ApiError> {
        Ok(match self {
            HoldError::Taken { index, segment, seat } => {
                (Code::SeatTaken, index, format!("seat {seat} on {airline}/{segment} is already sold or held"))
            }
            HoldError::NoSuchSeat { index, segment, seat } => {
                (Code::InvalidItinerary, index, format!("segment {airline}/{segment} has no seat {seat}"))
            }
            HoldError::Cancelled { index, segment } => {
                (Code::FlightCancelled, index, format!("the flight of {airline}/{segment} is cancelled"))
            }
            HoldError::Db(e) => return Err(ApiError::from(e)),
        })
    }
}

/// A refusal of one leg of an itinerary, as the passenger reads it.
pub fn leg_refusal(code: Code, leg: usize, what: &str, airline: &AirlineCode) -> ApiError {
    ApiError::new(code, format!("leg {leg}: {what}")).with_leg(leg).with_airline(airline.clone())
}

const AVAILABLE: &str = SeatStatus::Available.as_str();
const HELD: &str = SeatStatus::Held.as_str();
const SOLD: &str = SeatStatus::Sold.as_str();

fn push_words(out: &mut AstPass<'_, '_, Pg>, words: &[&str]) {
    for word in words {
        out.push_sql(word);
    }
}

/// The conditional UPDATE of one seat in [`take`], as a query of its own type: diesel would
/// re-plan a plain `sql_query` on every call, while a query with a static id is prepared once
/// per connection. It touches one seat by its key and checks the segment in a sub-select, so
/// that PostgreSQL settles on one generic plan instead of planning each call anew (planning a
/// join of the seats with a list of them cost three times its execution).
///
/// A flight's cancellation marks every one of its seats (`flight_cancelled`), so a hold and a
/// cancellation meet on the seat row: a hold that got there first is committed before the
/// cancellation looks for the passes to disrupt; one that comes second waits for it and sees the
/// mark. The seat keeps the price it was taken at, for the airline's revenue.
struct TakeSeat {
    booking_id: Uuid,
    /// NULL sells outright (a booking whose only owner is its coordinator).
    held_until: Option<DateTime<Utc>>,
    coordinator: String,
    segment_id: String,
    seat: String,
}

crate::db::prepared_once!(TakeSeat);

impl QueryFragment<Pg> for TakeSeat {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("UPDATE seats SET status = CASE WHEN ");
        out.push_bind_param::<Nullable<Timestamptz>, _>(&self.held_until)?;
        push_words(&mut out, &["::timestamptz IS NULL THEN '", SOLD, "' ELSE '", HELD, "' END, booking_id = "]);
        out.push_bind_param::<SqlUuid, _>(&self.booking_id)?;
        out.push_sql(", held_until = ");
        out.push_bind_param::<Nullable<Timestamptz>, _>(&self.held_until)?;
        out.push_sql(", coordinator = ");
        out.push_bind_param::<Text, _>(&self.coordinator)?;
        out.push_sql(", price_cents = (SELECT p.price_cents FROM segments p WHERE p.segment_id = ");
        out.push_bind_param::<Text, _>(&self.segment_id)?;
        out.push_sql(") WHERE segment_id = ");
        out.push_bind_param::<Text, _>(&self.segment_id)?;
        out.push_sql(" AND seat = ");
        out.push_bind_param::<Text, _>(&self.seat)?;
        push_words(&mut out, &[" AND (status = '", AVAILABLE, "' OR (status = '", HELD, "' AND booking_id = "]);
        out.push_bind_param::<SqlUuid, _>(&self.booking_id)?;
        // A repeat of a hold, never another airline's hold taken over by reusing its booking id.
        out.push_sql(" AND coordinator = ");
        out.push_bind_param::<Text, _>(&self.coordinator)?;
        out.push_sql(
            ")) AND NOT flight_cancelled AND (SELECT g.departs_at > now() FROM segments g WHERE g.segment_id = ",
        );
        out.push_bind_param::<Text, _>(&self.segment_id)?;
        out.push_sql(")");
        Ok(())
    }
}

/// Holds every listed seat for the booking, or none of them. Several seats need a transaction,
/// so that a refusal of one gives back the others; one seat's UPDATE takes it or not by itself.
pub async fn hold(
    conn: &mut AsyncPgConnection,
    booking_id: Uuid,
    coordinator: &AirlineCode,
    legs: &[HoldLeg],
    ttl: Duration,
) -> Result<DateTime<Utc>, HoldError> {
    let held_until = hold_deadline(ttl);
    if let [_] = legs {
        return take(conn, booking_id, coordinator, legs, Some(held_until)).await.map(|()| held_until);
    }
    conn.transaction::<_, HoldError, _>(|conn| {
        async move { take(conn, booking_id, coordinator, legs, Some(held_until)).await.map(|()| held_until) }
            .scope_boxed()
    })
    .await
}

pub fn hold_deadline(ttl: Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(10))
}

/// Holds (until `held_until`) or, with `None`, sells every listed seat. With several seats it
/// must run inside the caller's transaction: on a refusal some seats may already be taken, and
/// only the rollback gives them back.
pub async fn take(
    conn: &mut AsyncPgConnection,
    booking_id: Uuid,
    coordinator: &AirlineCode,
    legs: &[HoldLeg],
    held_until: Option<DateTime<Utc>>,
) -> Result<(), HoldError> {
    let taken = send_take(conn, booking_id, coordinator, legs, held_until).await;
    check_taken(conn, legs, taken).await
}

/// The UPDATEs of [`take`], one per seat, owned and borrowing nothing: PostgreSQL receives them
/// when the future is first polled, so a caller can send its next statements in the same round
/// trip. Each seat's count of rows taken; [`check_taken`] says whether they are all there.
pub fn send_take(
    conn: &mut AsyncPgConnection,
    booking_id: Uuid,
    coordinator: &AirlineCode,
    legs: &[HoldLeg],
    held_until: Option<DateTime<Utc>>,
) -> impl Future<Output = QueryResult<Vec<usize>>> + Send + 'static {
    let updates: Vec<_> = legs
        .iter()
        .map(|leg| {
            let query = TakeSeat {
                booking_id,
                held_until,
                coordinator: coordinator.to_string(),
                segment_id: leg.segment_id.to_string(),
                seat: leg.seat.to_string(),
            };
            query.execute(conn)
        })
        .collect();
    futures::future::try_join_all(updates)
}

/// Every seat of [`send_take`] taken, or why the first one that was not could not be.
pub async fn check_taken(
    conn: &mut AsyncPgConnection,
    legs: &[HoldLeg],
    taken: QueryResult<Vec<usize>>,
) -> Result<(), HoldError> {
    let Some(index) = taken?.iter().position(|rows| *rows != 1) else {
        return Ok(());
    };
    let leg = &legs[index];
    // Say why: the flight is cancelled, the seat is taken, or there is no such seat on sale.
    let upcoming = segments::table
        .filter(segments::segment_id.eq(leg.segment_id.as_str()))
        .filter(segments::departs_at.gt(Utc::now()));
    let cancelled: bool =
        diesel::select(dsl::exists(upcoming.filter(segments::cancelled_at.is_not_null()))).get_result(conn).await?;
    if cancelled {
        return Err(HoldError::Cancelled { index, segment: leg.segment_id.to_string() });
    }
    let exists: bool = diesel::select(dsl::exists(
        seats::table
            .filter(seats::segment_id.eq(leg.segment_id.as_str()))
            .filter(seats::seat.eq(leg.seat.as_str()))
            .filter(dsl::exists(upcoming)),
    ))
    .get_result(conn)
    .await?;
    let (segment, seat) = (leg.segment_id.to_string(), leg.seat.to_string());
    Err(if exists { HoldError::Taken { index, segment, seat } } else { HoldError::NoSuchSeat { index, segment, seat } })
}

/// Whether any seat of the booking was taken on behalf of another coordinator than `airline`:
/// asked only when a decision from `airline` changed nothing, to tell a repeat from an intruder.
pub async fn coordinated_by_another(
    conn: &mut AsyncPgConnection,
    booking_id: Uuid,
    airline: &AirlineCode,
) -> QueryResult<bool> {
    diesel::select(dsl::exists(
        seats::table.filter(seats::booking_id.eq(booking_id)).filter(seats::coordinator.ne(airline.as_str())),
    ))
    .get_result(conn)
    .await
}

/// The UPDATE of [`commit`] and [`abort`], run for every leg of every booking. Diesel never
/// prepares an UPDATE of its own, so this one has a type with a static id. A hold is found by
/// its deadline, which the schema ties to `status = 'held'`: a status condition would let the
/// planner walk a partial index of every held or sold seat instead of the booking's own rows.
struct FinishHolds {
    booking_id: Uuid,
    /// Sell the holds, or free them.
    sell: bool,
    /// Only holds taken for this coordinator, when given.
    coordinator: Option<String>,
}

crate::db::prepared_once!(FinishHolds);

impl diesel::query_builder::Query for FinishHolds {
    /// Whether the seat's flight was cancelled: a sale that lands on one disrupts its pass.
    type SqlType = Bool;
}

impl QueryFragment<Pg> for FinishHolds {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("UPDATE seats SET status = CASE WHEN ");
        out.push_bind_param::<Bool, _>(&self.sell)?;
        push_words(
            &mut out,
            &[" THEN '", SOLD, "' ELSE '", AVAILABLE, "' END, held_until = NULL, booking_id = CASE WHEN "],
        );
        out.push_bind_param::<Bool, _>(&self.sell)?;
        out.push_sql(" THEN booking_id END, coordinator = CASE WHEN ");
        out.push_bind_param::<Bool, _>(&self.sell)?;
        out.push_sql(" THEN coordinator END, price_cents = CASE WHEN ");
        out.push_bind_param::<Bool, _>(&self.sell)?;
        out.push_sql(" THEN price_cents END WHERE booking_id = ");
        out.push_bind_param::<SqlUuid, _>(&self.booking_id)?;
        out.push_sql(" AND held_until IS NOT NULL AND (");
        out.push_bind_param::<Nullable<Text>, _>(&self.coordinator)?;
        out.push_sql("::text IS NULL OR coordinator = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.coordinator)?;
        out.push_sql(") RETURNING flight_cancelled");
        Ok(())
    }
}

/// What finishing a booking here changed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Finished {
    /// Seats changed (0 on a repeat).
    pub seats: usize,
    /// Some of them are on a cancelled flight (read from the seat rows the statement changed, so
    /// a cancellation that marked them first is seen).
    pub on_cancelled_flight: bool,
}

async fn finish_holds(conn: &mut AsyncPgConnection, query: FinishHolds) -> QueryResult<Finished> {
    let rows: Vec<bool> = query.load(conn).await?;
    Ok(Finished { seats: rows.len(), on_cancelled_flight: rows.contains(&true) })
}

/// Turns the booking's holds into sales; with `by`, only holds taken for that coordinator.
pub async fn commit(conn: &mut AsyncPgConnection, booking_id: Uuid, by: Option<&AirlineCode>) -> QueryResult<Finished> {
    finish_holds(conn, FinishHolds { booking_id, sell: true, coordinator: by.map(ToString::to_string) }).await
}

/// Frees the booking's holds (with `by`, only those taken for that coordinator); sold seats are
/// never touched.
pub async fn abort(conn: &mut AsyncPgConnection, booking_id: Uuid, by: Option<&AirlineCode>) -> QueryResult<Finished> {
    finish_holds(conn, FinishHolds { booking_id, sell: false, coordinator: by.map(ToString::to_string) }).await
}

/// Carries out a coordinator's outcome (or a cancellation's release); with `by`, only on the
/// seats taken for that coordinator.
pub async fn finish(
    conn: &mut AsyncPgConnection,
    booking_id: Uuid,
    action: FinishAction,
    by: Option<&AirlineCode>,
) -> QueryResult<Finished> {
    match action {
        FinishAction::Commit => commit(conn, booking_id, by).await,
        FinishAction::Abort => abort(conn, booking_id, by).await,
        FinishAction::Release => {
            let seats = release(conn, booking_id, by).await?;
            Ok(Finished { seats, on_cancelled_flight: false })
        }
    }
}

/// Frees every seat of a cancelled pass, held or sold (a seat with a booking is never
/// available); with `by`, only seats its seller `by` took, since only the seller cancels.
pub async fn release(conn: &mut AsyncPgConnection, booking_id: Uuid, by: Option<&AirlineCode>) -> QueryResult<usize> {
    let freed = (
        seats::status.eq(SeatStatus::Available),
        seats::booking_id.eq(None::<Uuid>),
        seats::held_until.eq(None::<DateTime<Utc>>),
        seats::coordinator.eq(None::<String>),
        seats::price_cents.eq(None::<i64>),
    );
    let seats_of = seats::table.filter(seats::booking_id.eq(booking_id));
    match by {
        Some(by) => diesel::update(seats_of.filter(seats::coordinator.eq(by.as_str()))).set(freed).execute(conn).await,
        None => diesel::update(seats_of).set(freed).execute(conn).await,
    }
}

/// Bookings with a hold due to expire before `due_before`, and the coordinator to ask about
/// each.
pub async fn holds_to_question(
    conn: &mut AsyncPgConnection,
    due_before: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<(Uuid, Option<String>)>> {
    seats::table
        .filter(seats::status.eq(SeatStatus::Held))
        .filter(seats::held_until.lt(due_before))
        .select((seats::booking_id.assume_not_null(), seats::coordinator))
        .distinct()
        .limit(limit)
        .load(conn)
        .await
}
