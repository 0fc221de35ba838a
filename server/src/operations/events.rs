//! Events of the committed state, for staff (`/api/v1/airline/events`) and passengers
//! (`/api/v1/passes/events`).
//!
//! Every event row is written in the transaction of the change it tells about: sales and
//! freed seats by a trigger on `seats`, pass changes by a trigger on `passes`, schedule changes
//! here. Row ids follow INSERT order, not commit order, so a reader going by id could step past
//! a row that commits late. The sequencer gives committed rows a `seq` in id order, one round
//! at a time under an advisory lock (safe with several replicas on one database), so a reader
//! that has seen `seq` n has seen everything below it. The same round raises the
//! low-availability alert of every segment its sales or cancellations touched.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use passcom_shared::airline::{AirlineEvent, AirlineEventKind, PassEvent};
use passcom_shared::api::{Money, PassStatus};
use passcom_shared::SegmentId;
use uuid::Uuid;

use crate::app::AppState;
use crate::passes::StoredStatus;

/// Any fixed number shared by the replicas of one airline: one sequencer round at a time.
const SEQUENCER_LOCK: i64 = 0x5041_5353_4556_5453;
const ROUND: i64 = 1000;
/// How often the sequencer looks for new rows (it also tells the streams what it found).
const INTERVAL: Duration = Duration::from_millis(100);
const IDLE_INTERVAL: Duration = Duration::from_millis(400);
/// Set for the sequencer's transaction. ANALYZE samples `events` at any moment, and a sample
/// taken during a burst says that a large share of the rows are unsequenced; the planner then
/// reads the whole table, which grows with history, for the few rows a round wants (53 ms a
/// probe at 430,000 events). The rows a round wants are always few and always in the
/// `events_unsequenced` index, and every other statement of the round goes by id, so no plan
/// needs a sequential scan.
const SEARCH_BY_INDEX: &str = "SET LOCAL enable_seqscan = off";
/// At most this many events per answer to a stream.
const PAGE: i64 = 500;

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

/// Sequences events until the server stops, and tells the streams the highest `seq`.
pub async fn run(state: actix_web::web::Data<AppState>) {
    // Quick while events flow, slower while none do: an idle server should cost next to
    // nothing, and the first event after a quiet spell still reaches streams within IDLE_INTERVAL.
    let mut pause = INTERVAL;
    loop {
        match sequence(&state).await {
            Ok((assigned, top)) => {
                state.events_top.send_if_modified(|seen| std::mem::replace(seen, top) != top);
                // A full round left more behind. Otherwise the next waits its turn: a round
                // costs a transaction whether it finds three events or three hundred.
                if assigned >= ROUND as usize {
                    continue;
                }
                if assigned > 0 {
                    pause = INTERVAL;
                }
            }
            Err(e) => tracing::warn!(error = %e, "event sequencer round failed"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(IDLE_INTERVAL);
    }
}

#[derive(QueryableByName)]
struct Sequenced {
    #[diesel(sql_type = Nullable<Text>)]
    segment_id: Option<String>,
}

#[derive(QueryableByName)]
struct Probe {
    #[diesel(sql_type = Bool)]
    pending: bool,
    #[diesel(sql_type = BigInt)]
    top: i64,
}

#[derive(QueryableByName)]
struct Top {
    #[diesel(sql_type = BigInt)]
    top: i64,
}

/// One round: returns the rows sequenced (0 when another replica holds the lock) and the
/// highest `seq`.
async fn sequence(state: &AppState) -> anyhow::Result<(usize, i64)> {
    let mut conn = state.pool.get().await?;
    // Most rounds of a quiet server find nothing: one statement says so (and reads the top,
    // which another replica may have raised), instead of a transaction of five. It asks for the
    // first unsequenced id, not whether one exists: the planner answers EXISTS with a scan of
    // the whole table whenever its statistics caught a backlog (see [`SEARCH_BY_INDEX`]).
    let probe: Probe = diesel::sql_query(
        "SELECT (SELECT id FROM events WHERE seq IS NULL ORDER BY id LIMIT 1) IS NOT NULL AS pending,
                coalesce((SELECT max(seq) FROM events), 0) AS top",
    )
    .get_result(&mut conn)
    .await?;
    if !probe.pending {
        return Ok((0, probe.top));
    }
    let assigned = conn
        .transaction::<_, diesel::result::Error, _>(|conn| {
            async move {
                let locked: bool =
                    diesel::select(diesel::dsl::sql::<Bool>(&format!("pg_try_advisory_xact_lock({SEQUENCER_LOCK})")))
                        .get_result(conn)
                        .await?;
                if !locked {
                    return Ok(0);
                }
                diesel::sql_query(SEARCH_BY_INDEX).execute(conn).await?;
                merge_seat_events(conn).await?;
                // The round's ids, read once, drive the UPDATE one index probe each. Joined as a
                // CTE of rows instead, with the planner expecting one row, it probed the whole
                // list for every row: rounds of 78 events took 75-370 ms under load.
                let rows: Vec<Sequenced> = diesel::sql_query(
                    "WITH next AS (SELECT ARRAY(SELECT id FROM events WHERE seq IS NULL ORDER BY id LIMIT $1) AS ids),
                          base AS (SELECT coalesce(max(seq), 0) AS b FROM events)
                     UPDATE events e SET seq = base.b + x.n
                       FROM next, base, unnest(next.ids) WITH ORDINALITY AS x(id, n)
                      WHERE e.id = x.id
                     RETURNING CASE WHEN e.kind IN ('sale', 'cancellation') THEN e.segment_id END AS segment_id",
                )
                .bind::<BigInt, _>(ROUND)
                .load(conn)
                .await?;
                let mut touched: Vec<String> = rows.iter().filter_map(|r| r.segment_id.clone()).collect();
                touched.sort();
                touched.dedup();
                if !touched.is_empty() {
                    raise_alerts(conn, &touched).await?;
                }
                Ok(rows.len())
            }
            .scope_boxed()
        })
        .await?;
    let top: Top = diesel::sql_query("SELECT coalesce(max(seq), 0) AS top FROM events").get_result(&mut conn).await?;
    Ok((assigned, top.top))
}

/// Makes one event of the seat events one transaction wrote for one pass and segment: the
/// trigger writes a row per seat (a party's seats, or every seat a cancellation frees). A
/// transaction's rows are all committed together, so a round sees all of them or none. The
/// kept rows are updated from arrays, one index probe each, for the reason given in
/// [`sequence`].
async fn merge_seat_events(conn: &mut AsyncPgConnection) -> QueryResult<usize> {
    diesel::sql_query(
        "WITH dup AS MATERIALIZED (
             SELECT min(id) AS keep, array_agg(id ORDER BY id) AS ids, sum(seats) AS seats,
                    sum(cents) AS cents
               FROM events WHERE seq IS NULL AND kind IN ('sale', 'cancellation')
              GROUP BY xmin::text, kind, segment_id, pass_id HAVING count(*) > 1),
         gone AS (DELETE FROM events e
                   WHERE e.id = ANY (ARRAY(SELECT unnest(ids[2:]) FROM dup)) RETURNING e.id),
         merged AS (SELECT array_agg(keep) AS keep, array_agg(seats) AS seats, array_agg(cents) AS cents
                      FROM dup)
         UPDATE events e SET seats = x.seats, cents = x.cents
           FROM merged, unnest(merged.keep, merged.seats, merged.cents) AS x(id, seats, cents)
          WHERE e.id = x.id",
    )
    .execute(conn)
    .await
}

/// Raises the alert of every listed segment with fewer than 10 % of its seats unsold, once,
/// and lowers it when it goes back over (so it can be raised again). Run by the sequencer
/// alone, on committed sales, so no two sales can both miss the crossing.
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
    seq: i64,
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

/// The airline's events after `after`, in order.
pub async fn airline_after(conn: &mut AsyncPgConnection, after: i64) -> QueryResult<Vec<AirlineEvent>> {
    let rows: Vec<EventRow> = diesel::sql_query(
        "SELECT e.seq, e.kind, e.segment_id, e.pass_id, e.seats::bigint AS seats, e.cents, g.currency, e.detail,
                e.created_at
           FROM events e LEFT JOIN segments g ON g.segment_id = e.segment_id
          WHERE e.seq > $1 AND e.audience = 'airline' ORDER BY e.seq LIMIT $2",
    )
    .bind::<BigInt, _>(after)
    .bind::<BigInt, _>(PAGE)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(AirlineEvent {
                id: row.seq,
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

/// The user's pass events after `after`, in order.
pub async fn passenger_after(conn: &mut AsyncPgConnection, user_id: Uuid, after: i64) -> QueryResult<Vec<PassEvent>> {
    use crate::schema::events;
    type Row = (Option<i64>, StoredStatus, Option<Uuid>, DateTime<Utc>);
    let rows: Vec<Row> = events::table
        .filter(events::user_id.eq(user_id))
        .filter(events::seq.gt(after))
        .order(events::seq)
        .limit(PAGE)
        .select((events::seq, events::kind, events::pass_id, events::created_at))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(seq, status, pass_id, at)| {
            Some(PassEvent { id: seq?, pass_id: pass_id?, status: PassStatus::from(status), at })
        })
        .collect())
}
