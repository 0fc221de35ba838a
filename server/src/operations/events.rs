//! Events of the committed state, for staff (`/api/v1/airline/events`) and passengers
//! (`/api/v1/passes/events`).
//!
//! Every event row is written in the transaction of the change it tells about: sales and
//! freed seats by a trigger on `seats` (one row per pass and segment, however many seats),
//! pass changes by a trigger on `passes`, schedule changes here. Each row carries its
//! transaction's id (`tx`). Row ids follow INSERT order, not commit order, so a reader going by
//! id could step past a row that commits late; a reader here takes only the events of
//! transactions older than every one still running (`pg_snapshot_xmin` of its own snapshot),
//! which are all finished and can never be joined by another, in `(tx, id)` order. An event's
//! public id, its [`Position`], is that order in one number. Nothing is written a second time
//! to order events. A round a few times a second tells the streams how far events go, and
//! raises the low-availability alert of every segment the sales or cancellations since the last
//! round touched.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use passcom_shared::airline::{AirlineEvent, AirlineEventKind, PassEvent};
use passcom_shared::api::{Money, PassStatus};
use passcom_shared::SegmentId;
use uuid::Uuid;

use crate::app::AppState;
use crate::passes::StoredStatus;

/// Any fixed number shared by the replicas of one airline: one alert round at a time.
const ALERTS_LOCK: i64 = 0x5041_5353_4556_5453;
/// How often the round looks for new events (it also tells the streams what it found).
const INTERVAL: Duration = Duration::from_millis(100);
const IDLE_INTERVAL: Duration = Duration::from_millis(400);
/// At most this many events per answer to a stream.
const PAGE: i64 = 500;

/// Where an event stands in the order of events: its transaction's id, and its place in that
/// transaction, 1 + its row id less the transaction's first (row ids grow within a
/// transaction). As one number, `tx << 24 | place`, it is the event's public id (SSE `id`,
/// `Last-Event-ID`). A transaction id fits in 39 bits for 2^39 transactions (17 years at 1,000
/// a second); a transaction's events span fewer than 2^24 row ids unless 16 million events are
/// written while it runs (the migration keeps the earlier events, one old transaction, within
/// that span).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    tx: i64,
    place: i64,
}

impl Position {
    const PLACE_BITS: u32 = 24;
    const LAST_PLACE: i64 = (1 << Self::PLACE_BITS) - 1;

    /// Before every event.
    pub const START: Position = Position { tx: 0, place: 0 };

    /// After every event of transaction `tx`.
    fn after_all_of(tx: i64) -> Position {
        Position { tx, place: Self::LAST_PLACE }
    }

    /// The position a public id names; `None` if no event could have it.
    pub fn from_id(id: i64) -> Option<Position> {
        (id >= 0).then_some(Position { tx: id >> Self::PLACE_BITS, place: id & Self::LAST_PLACE })
    }

    pub fn id(self) -> i64 {
        self.tx << Self::PLACE_BITS | self.place
    }
}

pub const fn kind_word(kind: AirlineEventKind) -> &'static str {
    match kind {
        AirlineEventKind::Sale => "sale",
        AirlineEventKind::Cancellation => "cancellation",
        AirlineEventKind::SegmentPublished => "segment_published",
        AirlineEventKind::PriceChanged => "price_changed",
        AirlineEventKind::FlightCancelled => "flight_cancelled",
        AirlineEventKind::LowAvailability => "low_availability",
    }
}

fn parse_kind(word: &str) -> Option<AirlineEventKind> {
    use AirlineEventKind::*;
    [Sale, Cancellation, SegmentPublished, PriceChanged, FlightCancelled, LowAvailability]
        .into_iter()
        .find(|k| kind_word(*k) == word)
}

/// Records schedule changes in the caller's transaction: one event per segment, with its detail.
pub async fn schedule_changed(
    conn: &mut AsyncPgConnection,
    kind: AirlineEventKind,
    segments: &[String],
    details: &[serde_json::Value],
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO events (audience, kind, segment_id, detail)
         SELECT 'airline', $1, x.id, x.detail FROM unnest($2::text[], $3::jsonb[]) AS x(id, detail)",
    )
    .bind::<Text, _>(kind_word(kind))
    .bind::<Array<Text>, _>(segments)
    .bind::<Array<Jsonb>, _>(details)
    .execute(conn)
    .await
    .map(drop)
}

/// Follows the events until the server stops: tells the streams how far they go, and raises
/// the alerts the new sales and cancellations call for.
pub async fn run(state: actix_web::web::Data<AppState>) {
    // Quick while events flow, slower while none do: an idle server should cost next to
    // nothing, and the first event after a quiet spell still reaches streams within IDLE_INTERVAL.
    let mut pause = INTERVAL;
    let mut seen = Position::START;
    loop {
        match round(&state, seen).await {
            Ok(top) => {
                if top > seen {
                    pause = INTERVAL;
                }
                seen = top;
                state.events_top.send_if_modified(|told| std::mem::replace(told, top.id()) != top.id());
            }
            Err(e) => tracing::warn!(error = %e, "event round failed"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(IDLE_INTERVAL);
    }
}

/// One round: how far the finished events go and, if that moved past `seen`, the alerts.
async fn round(state: &AppState, seen: Position) -> anyhow::Result<Position> {
    let mut conn = state.pool.get().await?;
    let top = top(&mut conn).await?;
    if top > seen {
        alert_round(&mut conn).await?;
    }
    Ok(top)
}

#[derive(QueryableByName)]
struct Top {
    #[diesel(sql_type = BigInt)]
    tx: i64,
}

/// After every event of every finished transaction: where a stream that starts now begins.
pub async fn top(conn: &mut AsyncPgConnection) -> QueryResult<Position> {
    let top: Top = diesel::sql_query(
        "SELECT coalesce((SELECT tx FROM events WHERE tx < pg_snapshot_xmin(pg_current_snapshot())
                           ORDER BY tx DESC LIMIT 1), '0')::text::bigint AS tx",
    )
    .get_result(conn)
    .await?;
    Ok(Position::after_all_of(top.tx))
}

#[derive(QueryableByName)]
struct Span {
    #[diesel(sql_type = BigInt)]
    mark: i64,
    #[diesel(sql_type = BigInt)]
    horizon: i64,
}

#[derive(QueryableByName)]
struct Touched {
    #[diesel(sql_type = Text)]
    segment_id: String,
}

/// The segments sold or freed in the transactions finished since the last round, and their
/// alerts. One round at a time (replicas share the database), each starting where the last
/// stopped, so that no two rounds count the same sale and none is missed.
async fn alert_round(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    conn.transaction(|conn| {
        async move {
            if !crate::db::try_round_lock(conn, ALERTS_LOCK).await? {
                return Ok(());
            }
            // From the last round's horizon to this one's: every transaction below a horizon
            // was finished when it was read, so the next statement sees all of them. Read
            // first and bound as values, so that the scan is a range of the `(tx, id)` index.
            let span: Span = diesel::sql_query(
                "SELECT tx::text::bigint AS mark, pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon
                   FROM event_watermark",
            )
            .get_result(conn)
            .await?;
            if span.horizon <= span.mark {
                return Ok(());
            }
            let touched: Vec<Touched> = diesel::sql_query(
                "SELECT DISTINCT segment_id FROM events
                  WHERE tx >= $1::text::xid8 AND tx < $2::text::xid8 AND kind IN ('sale', 'cancellation')
                    AND segment_id IS NOT NULL",
            )
            .bind::<BigInt, _>(span.mark)
            .bind::<BigInt, _>(span.horizon)
            .load(conn)
            .await?;
            diesel::sql_query("UPDATE event_watermark SET tx = $1::text::xid8")
                .bind::<BigInt, _>(span.horizon)
                .execute(conn)
                .await?;
            let touched: Vec<String> = touched.into_iter().map(|t| t.segment_id).collect();
            if !touched.is_empty() {
                raise_alerts(conn, &touched).await?;
            }
            Ok(())
        }
        .scope_boxed()
    })
    .await
}

/// Raises the alert of every listed segment with fewer than 10 % of its seats unsold, once,
/// and lowers it when it goes back over (so it can be raised again). Run by one alert round at
/// a time, on finished sales, so no two sales can both miss the crossing.
async fn raise_alerts(conn: &mut AsyncPgConnection, segments: &[String]) -> QueryResult<usize> {
    diesel::sql_query(
        "WITH counts AS (
             SELECT g.segment_id, g.seats_total,
                    g.seats_total - (SELECT count(*) FROM seats s WHERE s.segment_id = g.segment_id AND s.status = 'sold')
                      AS free
               FROM segments g WHERE g.segment_id = ANY($1) AND g.cancelled_at IS NULL),
         flipped AS (
             INSERT INTO segment_alerts (segment_id, low)
             SELECT segment_id, free * 10 < seats_total FROM counts
             ON CONFLICT (segment_id) DO UPDATE SET low = EXCLUDED.low WHERE segment_alerts.low <> EXCLUDED.low
             RETURNING segment_id, low)
         INSERT INTO events (audience, kind, segment_id, seats, detail)
         SELECT 'airline', 'low_availability', c.segment_id, c.free,
                jsonb_build_object('seats_total', c.seats_total, 'seats_available', c.free)
           FROM flipped f JOIN counts c USING (segment_id) WHERE f.low",
    )
    .bind::<Array<Text>, _>(segments)
    .execute(conn)
    .await
}

#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = BigInt)]
    tx: i64,
    #[diesel(sql_type = BigInt)]
    place: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    segment_id: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pass_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<BigInt>)]
    seats: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    cents: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    currency: Option<String>,
    #[diesel(sql_type = Jsonb)]
    detail: serde_json::Value,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
}

/// A feed's events (those matching `feed`, with `columns` of `events e`, joined with `joins`)
/// after the position (`$1`, `$2`), in order, at most `$3`, each with its position. Only
/// finished transactions. The position's event is found by its transaction's first row id, so
/// the scan starts right after it in the index on `(tx, id)` however far back it is; a position
/// in a transaction without events (a stream's start, "after all of `tx`") starts at the next.
fn feed_query(feed: &str, columns: &str, joins: &str) -> String {
    format!(
        "SELECT e.tx::text::bigint AS tx, e.id - (SELECT min(f.id) FROM events f WHERE f.tx = e.tx) + 1 AS place,
                {columns}
           FROM events e {joins}
          WHERE {feed}
            AND (e.tx, e.id) > ($1::text::xid8,
                 coalesce((SELECT min(f.id) FROM events f WHERE f.tx = $1::text::xid8) + $2 - 1, {i64_max}))
            AND e.tx < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY e.tx, e.id LIMIT $3",
        i64_max = i64::MAX
    )
}

/// The airline's events after `after`, in order.
pub async fn airline_after(conn: &mut AsyncPgConnection, after: Position) -> QueryResult<Vec<AirlineEvent>> {
    let rows: Vec<EventRow> = diesel::sql_query(feed_query(
        "e.audience = 'airline'",
        "e.kind, e.segment_id, e.pass_id, e.seats::bigint AS seats, e.cents, g.currency, e.detail, e.created_at",
        "LEFT JOIN segments g ON g.segment_id = e.segment_id",
    ))
    .bind::<BigInt, _>(after.tx)
    .bind::<BigInt, _>(after.place)
    .bind::<BigInt, _>(PAGE)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(AirlineEvent {
                id: Position { tx: row.tx, place: row.place }.id(),
                kind: parse_kind(&row.kind)?,
                at: row.created_at,
                segment_id: row.segment_id.and_then(|id| SegmentId::parse(&id).ok()),
                pass_id: row.pass_id,
                seats: row.seats,
                amount: row.cents.zip(row.currency).map(|(cents, currency)| Money { cents, currency }),
                detail: row.detail,
            })
        })
        .collect())
}

#[derive(QueryableByName)]
struct PassEventRow {
    #[diesel(sql_type = BigInt)]
    tx: i64,
    #[diesel(sql_type = BigInt)]
    place: i64,
    #[diesel(sql_type = Text)]
    kind: StoredStatus,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pass_id: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
}

/// The user's pass events after `after`, in order.
pub async fn passenger_after(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    after: Position,
) -> QueryResult<Vec<PassEvent>> {
    let rows: Vec<PassEventRow> =
        diesel::sql_query(feed_query("e.user_id = $4", "e.kind, e.pass_id, e.created_at", ""))
            .bind::<BigInt, _>(after.tx)
            .bind::<BigInt, _>(after.place)
            .bind::<BigInt, _>(PAGE)
            .bind::<SqlUuid, _>(user_id)
            .load(conn)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(PassEvent {
                id: Position { tx: row.tx, place: row.place }.id(),
                pass_id: row.pass_id?,
                status: PassStatus::from(row.kind),
                at: row.created_at,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::Position;

    #[test]
    fn an_id_names_its_position_and_orders_as_positions_do() {
        let positions = [
            Position::START,
            Position { tx: 1, place: 1 },
            Position { tx: 1, place: Position::LAST_PLACE },
            Position { tx: 2, place: 1 },
            Position { tx: 784_623, place: 3 },
            Position::after_all_of(784_623),
            Position { tx: (1 << 39) - 1, place: 1 },
        ];
        for pair in positions.windows(2) {
            assert!(pair[0] < pair[1] && pair[0].id() < pair[1].id(), "{pair:?}");
        }
        for position in positions {
            assert_eq!(Position::from_id(position.id()), Some(position));
        }
        assert_eq!(Position::from_id(-1), None);
    }
}
