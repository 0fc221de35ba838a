//! What staff change in their airline's schedule: publish flights (a batch all or nothing),
//! change a price (for seats sold from then on), cancel a flight. Each change and its event
//! are one transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Jsonb, Text};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passcom_shared::airline::{AirlineEventKind, CancelledFlight, PublishRequest};
use passcom_shared::api::{Money, Segment};
use passcom_shared::city::city_key;
use passcom_shared::{Code, SegmentId};
use serde_json::json;

use super::disruption;
use super::events;
use super::flight::{self, Flight};
use crate::app::AppState;
use crate::catalog::local;
use crate::error::{ApiError, ApiResult};
use crate::replication::outbox;
use crate::schema::{seats, segments};

/// The most segments one call publishes (a week of a busy airline).
pub const MAX_BATCH: usize = 500;
const MAX_REASON_CHARS: usize = 200;

/// A batch of 1 to [`MAX_BATCH`] sane flights with distinct ids; the error names the segment.
pub fn parse_batch(request: PublishRequest, now: DateTime<Utc>) -> ApiResult<Vec<Flight>> {
    if request.segments.is_empty() || request.segments.len() > MAX_BATCH {
        return Err(ApiError::invalid_body(format!("`segments` lists 1 to {MAX_BATCH} segments")));
    }
    let mut flights: Vec<Flight> = Vec::with_capacity(request.segments.len());
    for (i, raw) in request.segments.into_iter().enumerate() {
        let flight = Flight::parse(raw, now).map_err(|why| ApiError::invalid_body(format!("segments[{i}]: {why}")))?;
        if let Some(j) = flights.iter().position(|f| f.segment_id == flight.segment_id) {
            return Err(ApiError::invalid_body(format!(
                "segments[{i}]: the id {} is also segments[{j}]'s",
                flight.segment_id
            )));
        }
        flights.push(flight);
    }
    Ok(flights)
}

/// A reason to show passengers: 1-200 characters, no control characters.
pub fn parse_reason(raw: &str) -> ApiResult<String> {
    let reason = raw.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
        return Err(ApiError::invalid_body(format!("`reason` must be 1-{MAX_REASON_CHARS} characters")));
    }
    Ok(reason.to_owned())
}

fn segment_of(flight: &Flight, airline: &passcom_shared::AirlineCode) -> Segment {
    Segment {
        airline: airline.clone(),
        segment_id: flight.segment_id.clone(),
        flight_no: flight.flight_no.clone(),
        origin: flight.origin.clone(),
        destination: flight.destination.clone(),
        departs_at: flight.departs_at,
        arrives_at: flight.arrives_at,
        price: flight.price.clone(),
        seats_total: flight.seats_total(),
        seats_available: flight.seats_total(),
    }
}

/// Publishes every flight with its seat map, or none: 409 `segment_exists` when an id is taken.
#[tracing::instrument(skip_all, fields(segments = flights.len()))]
pub async fn publish(state: &AppState, flights: Vec<Flight>) -> ApiResult<Vec<Segment>> {
    let airline = &state.settings.airline;
    let published: Vec<Segment> = flights.iter().map(|f| segment_of(f, airline)).collect();
    let rows = serde_json::Value::Array(
        flights
            .iter()
            .map(|f| {
                json!({
                    "segment_id": f.segment_id, "flight_no": f.flight_no,
                    "origin": f.origin, "origin_key": city_key(&f.origin),
                    "destination": f.destination, "destination_key": city_key(&f.destination),
                    "departs_at": f.departs_at, "arrives_at": f.arrives_at,
                    "price_cents": f.price.cents, "currency": f.price.currency,
                    "seats_total": f.seats_total(), "rows": f.rows, "letters": f.letters,
                })
            })
            .collect(),
    );
    let ids: Vec<String> = flights.iter().map(|f| f.segment_id.to_string()).collect();
    let details: Vec<serde_json::Value> = published.iter().map(|s| json!(s)).collect();
    let mut conn = state.pool.get().await?;
    outbox::transaction(state, &mut conn, |conn| {
        async move {
            let inserted: Vec<String> = diesel::sql_query(
                "INSERT INTO segments (segment_id, flight_no, origin, origin_key, destination, destination_key,
                                       departs_at, arrives_at, price_cents, currency, seats_total)
                 SELECT segment_id, flight_no, origin, origin_key, destination, destination_key,
                        departs_at, arrives_at, price_cents, currency, seats_total
                   FROM jsonb_to_recordset($1) AS f(segment_id text, flight_no text, origin text, origin_key text,
                        destination text, destination_key text, departs_at timestamptz, arrives_at timestamptz,
                        price_cents bigint, currency text, seats_total int)
                 ON CONFLICT (segment_id) DO NOTHING
                 RETURNING segment_id AS id",
            )
            .bind::<Jsonb, _>(&rows)
            .load::<Id>(conn)
            .await?
            .into_iter()
            .map(|row| row.id)
            .collect();
            if let Some(taken) = ids.iter().find(|id| !inserted.contains(id)) {
                return Err(ApiError::new(
                    Code::SegmentExists,
                    format!("segment {taken} already exists; nothing was published"),
                ));
            }
            diesel::sql_query(
                "INSERT INTO seats (segment_id, seat)
                 SELECT f.segment_id, r.n::text || substr(f.letters, l.i, 1)
                   FROM jsonb_to_recordset($1) AS f(segment_id text, rows int, letters text),
                        generate_series(1, f.rows) AS r(n), generate_series(1, length(f.letters)) AS l(i)",
            )
            .bind::<Jsonb, _>(&rows)
            .execute(conn)
            .await?;
            events::schedule_changed(conn, AirlineEventKind::SegmentPublished, &ids, &details).await?;
            Ok(())
        }
        .scope_boxed()
    })
    .await?;
    Ok(published)
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Text)]
    id: String,
}

/// `(departs_at, cancelled_at, cancel_reason, price_cents, currency)` of an own segment, locked
/// for a change, so that two changes of one flight run one after the other.
type Locked = (DateTime<Utc>, Option<DateTime<Utc>>, Option<String>, i64, String);

async fn lock(conn: &mut AsyncPgConnection, id: &SegmentId) -> ApiResult<Locked> {
    let row: Option<Locked> = segments::table
        .find(id.as_str())
        .select((
            segments::departs_at,
            segments::cancelled_at,
            segments::cancel_reason,
            segments::price_cents,
            segments::currency,
        ))
        .for_update()
        .first(conn)
        .await
        .optional()?;
    match row {
        Some(row) if row.0 > Utc::now() || row.1.is_some() => Ok(row),
        _ => Err(ApiError::not_found(format!("this airline has no upcoming segment `{id}`"))),
    }
}

/// The price of seats sold from now on; passes already sold keep what they paid.
#[tracing::instrument(skip(state))]
pub async fn change_price(state: &AppState, id: &SegmentId, price: Money) -> ApiResult<Segment> {
    let price = flight::price(price).map_err(ApiError::invalid_body)?;
    let mut conn = state.pool.get().await?;
    outbox::transaction(state, &mut conn, |conn| {
        async move {
            let (_, cancelled_at, _, old_cents, currency) = lock(conn, id).await?;
            if cancelled_at.is_some() {
                return Err(ApiError::new(Code::FlightCancelled, format!("the flight of {id} is cancelled")));
            }
            if currency != price.currency {
                return Err(ApiError::invalid_body(format!("segment {id} is priced in {currency}")));
            }
            diesel::update(segments::table.find(id.as_str()))
                .set(segments::price_cents.eq(price.cents))
                .execute(conn)
                .await?;
            let old = Money { cents: old_cents, currency };
            let detail = json!({"old_price": old, "price": price});
            events::schedule_changed(conn, AirlineEventKind::PriceChanged, &[id.to_string()], &[detail]).await?;
            local::by_ids(conn, &state.settings.airline, std::slice::from_ref(id))
                .await?
                .pop()
                .ok_or_else(|| ApiError::not_found(format!("this airline has no upcoming segment `{id}`")))
        }
        .scope_boxed()
    })
    .await
}

/// Cancels a flight: nothing more is sold on it, and every pass with a seat on it is disrupted
/// at every airline. Cancelling again answers the first cancellation.
#[tracing::instrument(skip(state))]
pub async fn cancel(state: &AppState, id: &SegmentId, reason: String) -> ApiResult<CancelledFlight> {
    let mut conn = state.pool.get().await?;
    outbox::transaction(state, &mut conn, |conn| {
        async move {
            if let (_, Some(cancelled_at), Some(reason), _, _) = lock(conn, id).await? {
                return Ok(CancelledFlight { segment_id: id.clone(), cancelled_at, reason, disrupted_passes: 0 });
            }
            // The database keeps microseconds; so does the answer.
            let cancelled_at = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
            diesel::update(segments::table.find(id.as_str()))
                .set((segments::cancelled_at.eq(cancelled_at), segments::cancel_reason.eq(&reason)))
                .execute(conn)
                .await?;
            // Every seat, so that a hold or sale under way finishes first (and is then found
            // below), and one that comes later waits for this commit and sees the mark.
            diesel::update(seats::table.filter(seats::segment_id.eq(id.as_str())))
                .set(seats::flight_cancelled.eq(true))
                .execute(conn)
                .await?;
            let disrupted_passes = disruption::disrupt_flight(state, conn, id, &reason, cancelled_at).await?;
            let detail = json!({"reason": reason, "disrupted_passes": disrupted_passes});
            events::schedule_changed(conn, AirlineEventKind::FlightCancelled, &[id.to_string()], &[detail]).await?;
            tracing::warn!(segment = %id, disrupted_passes, "flight cancelled");
            Ok(CancelledFlight { segment_id: id.clone(), cancelled_at, reason, disrupted_passes })
        }
        .scope_boxed()
    })
    .await
}
