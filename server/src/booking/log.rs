//! The coordinator's durable log: the only module that touches the `bookings` table. A booking
//! is `preparing` from its intent until the decision; the UPDATE to `committed` (in the
//! transaction that also writes the pass) is the commit point; `aborted` is final too.
//! `finished` records that recovery has nothing left to send: an abort every owner has
//! acknowledged, or a commit, whose delivery the outbox took over at the commit point (the
//! pass it queues there is the commit message, see `replication::inbox`).

use chrono::Utc;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passcom_shared::api::LegRequest;
use passcom_shared::internal::Decision;
use passcom_shared::AirlineCode;
use uuid::Uuid;

use crate::db::text_enum;
use crate::schema::bookings;

text_enum!(
    /// Where a coordinated booking stands (the `bookings.state` CHECK lists the same words).
    BookingState {
        Preparing => "preparing",
        Committed => "committed",
        Aborted => "aborted",
    }
);

/// The intent, durable before any owner hears of the booking. Recovery needs only who owns
/// which seat; the segments' details live in the pass.
pub async fn log_intent(
    conn: &mut AsyncPgConnection,
    booking_id: Uuid,
    user_id: Uuid,
    legs: &[LegRequest],
) -> QueryResult<()> {
    let legs = serde_json::to_value(legs).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    diesel::insert_into(bookings::table)
        .values((
            bookings::booking_id.eq(booking_id),
            bookings::user_id.eq(user_id),
            bookings::state.eq(BookingState::Preparing),
            bookings::legs.eq(legs),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// `preparing` → `committed` and finished, as a statement of its own type: diesel never
/// prepares an UPDATE of its own, and this one runs for every booking.
struct Decide {
    booking_id: Uuid,
}

crate::db::prepared_once!(Decide);

impl QueryFragment<Pg> for Decide {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("UPDATE bookings SET state = '");
        out.push_sql(BookingState::Committed.as_str());
        out.push_sql("', finished = true, updated_at = now() WHERE booking_id = ");
        out.push_bind_param::<diesel::sql_types::Uuid, _>(&self.booking_id)?;
        out.push_sql(" AND state = '");
        out.push_sql(BookingState::Preparing.as_str());
        out.push_sql("'");
        Ok(())
    }
}

/// The commit point, inside the caller's transaction. False when the booking is no longer
/// `preparing` (recovery aborted it: the coordinator was too slow).
pub async fn commit(conn: &mut AsyncPgConnection, booking_id: Uuid) -> QueryResult<bool> {
    Ok(Decide { booking_id }.execute(conn).await? == 1)
}

/// Records the abort of a booking still `preparing` (never of a committed one), and whether
/// every owner has acknowledged it.
pub async fn abort(conn: &mut AsyncPgConnection, booking_id: Uuid, finished: bool) -> QueryResult<()> {
    let undecided = bookings::table
        .find(booking_id)
        .filter(bookings::state.eq_any([BookingState::Preparing, BookingState::Aborted]));
    diesel::update(undecided)
        .set((
            bookings::state.eq(BookingState::Aborted),
            bookings::finished.eq(finished),
            bookings::updated_at.eq(Utc::now()),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Aborts the booking if it is still `preparing` and began before `begun_before`: its request
/// failed or is long past its deadline, so nobody will decide it. True if it was aborted now.
/// Safe against a request still running: its commit point requires `preparing`, so it finds
/// the booking abandoned and aborts too.
pub async fn abandon(
    conn: &mut AsyncPgConnection,
    booking_id: Uuid,
    begun_before: chrono::DateTime<Utc>,
) -> QueryResult<bool> {
    let undecided = bookings::table
        .find(booking_id)
        .filter(bookings::state.eq(BookingState::Preparing))
        .filter(bookings::created_at.lt(begun_before));
    let aborted = diesel::update(undecided)
        .set((bookings::state.eq(BookingState::Aborted), bookings::updated_at.eq(Utc::now())))
        .execute(conn)
        .await?;
    Ok(aborted == 1)
}

/// Aborts every booking still `preparing` that began before `cutoff`. A booking being prepared
/// is unfinished: saying so lets the index of unfinished bookings find them, where the state
/// alone meant reading every booking ever made, every round.
pub async fn abort_stale(conn: &mut AsyncPgConnection, cutoff: chrono::DateTime<Utc>) -> QueryResult<usize> {
    let stale = bookings::table
        .filter(bookings::finished.eq(false))
        .filter(bookings::state.eq(BookingState::Preparing))
        .filter(bookings::created_at.lt(cutoff));
    diesel::update(stale)
        .set((bookings::state.eq(BookingState::Aborted), bookings::updated_at.eq(Utc::now())))
        .execute(conn)
        .await
}

/// A decided booking some owner has not acknowledged yet.
pub struct Unfinished {
    pub booking_id: Uuid,
    pub state: BookingState,
    /// Every owner of a leg, once each, in code order.
    pub owners: Vec<AirlineCode>,
}

/// Up to `limit` decided, unfinished bookings last touched before `before`, oldest first. The
/// caller keeps other replicas away with a round lock.
pub async fn unfinished(
    conn: &mut AsyncPgConnection,
    before: chrono::DateTime<Utc>,
    limit: i64,
) -> anyhow::Result<Vec<Unfinished>> {
    let due: Vec<(Uuid, BookingState, serde_json::Value)> = bookings::table
        .filter(bookings::finished.eq(false))
        .filter(bookings::state.ne(BookingState::Preparing))
        .filter(bookings::updated_at.lt(before))
        .order(bookings::created_at)
        .limit(limit)
        .select((bookings::booking_id, bookings::state, bookings::legs))
        .load(conn)
        .await?;
    due.into_iter()
        .map(|(booking_id, state, legs)| Ok(Unfinished { booking_id, state, owners: owners_of(legs)? }))
        .collect()
}

/// Every owner of the logged legs, once each, in code order.
fn owners_of(legs: serde_json::Value) -> QueryResult<Vec<AirlineCode>> {
    let legs: Vec<LegRequest> =
        serde_json::from_value(legs).map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?;
    let mut owners: Vec<AirlineCode> = legs.into_iter().map(|l| l.airline).collect();
    owners.sort();
    owners.dedup();
    Ok(owners)
}

/// The owners of one logged booking (none if there is no such booking).
pub async fn owners(conn: &mut AsyncPgConnection, booking_id: Uuid) -> QueryResult<Vec<AirlineCode>> {
    let legs: Option<serde_json::Value> =
        bookings::table.find(booking_id).select(bookings::legs).first(conn).await.optional()?;
    Ok(match legs {
        Some(legs) => owners_of(legs)?,
        None => Vec::new(),
    })
}

/// Every owner acknowledged these decided bookings' outcomes.
pub async fn mark_finished(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<usize> {
    let decided =
        bookings::table.filter(bookings::booking_id.eq_any(ids)).filter(bookings::state.ne(BookingState::Preparing));
    diesel::update(decided).set((bookings::finished.eq(true), bookings::updated_at.eq(Utc::now()))).execute(conn).await
}

pub async fn state_of(conn: &mut AsyncPgConnection, booking_id: Uuid) -> QueryResult<Option<BookingState>> {
    bookings::table.find(booking_id).select(bookings::state).first(conn).await.optional()
}

/// The decision as a participant asks for it: no record means presumed abort.
pub async fn decision(conn: &mut AsyncPgConnection, booking_id: Uuid) -> QueryResult<Decision> {
    Ok(match state_of(conn, booking_id).await? {
        Some(BookingState::Committed) => Decision::Committed,
        Some(BookingState::Aborted) => Decision::Aborted,
        Some(BookingState::Preparing) => Decision::Preparing,
        None => Decision::Unknown,
    })
}
