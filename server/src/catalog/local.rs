//! This airline's own segments and seat maps, read from its database.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passcom_shared::api::{Money, SeatAvailability, Segment, SegmentDetail};
use passcom_shared::{AirlineCode, SeatCode, SegmentId};

use crate::db::text_enum;
use crate::schema::seats;

text_enum!(
    /// A seat at its owner (the `seats.status` CHECK lists the same words). Only `available`
    /// may be taken; only the booking that holds a seat may sell or free it.
    SeatStatus {
        Available => "available",
        Held => "held",
        Sold => "sold",
    }
);

#[derive(Debug, QueryableByName)]
struct SegmentRow {
    #[diesel(sql_type = Text)]
    segment_id: String,
    #[diesel(sql_type = Text)]
    flight_no: String,
    #[diesel(sql_type = Text)]
    origin: String,
    #[diesel(sql_type = Text)]
    destination: String,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    departs_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    arrives_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    price_cents: i64,
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = BigInt)]
    seats_total: i64,
    #[diesel(sql_type = BigInt)]
    seats_available: i64,
}

impl SegmentRow {
    fn into_segment(self, airline: &AirlineCode) -> Option<Segment> {
        Some(Segment {
            airline: airline.clone(),
            // Ids were checked on the way in; a row that no longer parses is skipped, not served.
            segment_id: SegmentId::parse(&self.segment_id).ok()?,
            flight_no: self.flight_no,
            origin: self.origin,
            destination: self.destination,
            departs_at: self.departs_at,
            arrives_at: self.arrives_at,
            price: Money { cents: self.price_cents, currency: self.currency },
            seats_total: self.seats_total,
            seats_available: self.seats_available,
        })
    }
}

const SEGMENTS_WITH_COUNTS: &str = "
    SELECT s.segment_id, s.flight_no, s.origin, s.destination, s.departs_at, s.arrives_at,
           s.price_cents, s.currency,
           s.seats_total::bigint AS seats_total,
           s.seats_total - coalesce(t.taken, 0) AS seats_available
      FROM segments s
      LEFT JOIN (SELECT segment_id, count(*) AS taken FROM seats WHERE status <> 'available' GROUP BY segment_id) t
        ON t.segment_id = s.segment_id
     WHERE s.departs_at > now()
       AND ($1::text[] IS NULL OR s.segment_id = ANY($1))
     ORDER BY s.departs_at, s.segment_id";

/// Every future segment of this airline; searches filter this (cached) list in memory.
pub async fn list(conn: &mut AsyncPgConnection, airline: &AirlineCode) -> QueryResult<Vec<Segment>> {
    query(conn, airline, None).await
}

/// The listed segments, with availability; unknown or departed ones are simply absent.
pub async fn by_ids(
    conn: &mut AsyncPgConnection,
    airline: &AirlineCode,
    ids: &[SegmentId],
) -> QueryResult<Vec<Segment>> {
    let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    query(conn, airline, Some(ids)).await
}

async fn query(
    conn: &mut AsyncPgConnection,
    airline: &AirlineCode,
    ids: Option<Vec<String>>,
) -> QueryResult<Vec<Segment>> {
    let rows: Vec<SegmentRow> =
        diesel::sql_query(SEGMENTS_WITH_COUNTS).bind::<Nullable<Array<Text>>, _>(ids).load(conn).await?;
    Ok(rows.into_iter().filter_map(|r| r.into_segment(airline)).collect())
}

/// One segment with its seat map, or `None` when this airline has no such (future) segment.
pub async fn detail(
    conn: &mut AsyncPgConnection,
    airline: &AirlineCode,
    id: &SegmentId,
) -> QueryResult<Option<SegmentDetail>> {
    let Some(segment) = by_ids(conn, airline, std::slice::from_ref(id)).await?.pop() else {
        return Ok(None);
    };
    let rows: Vec<(String, SeatStatus)> =
        seats::table.filter(seats::segment_id.eq(id.as_str())).select((seats::seat, seats::status)).load(conn).await?;
    let mut seats: Vec<SeatAvailability> = rows
        .into_iter()
        .filter_map(|(seat, status)| {
            Some(SeatAvailability { seat: SeatCode::parse(&seat).ok()?, available: status == SeatStatus::Available })
        })
        .collect();
    seats.sort_by_key(|s| seat_order(&s.seat));
    Ok(Some(SegmentDetail { segment, seats }))
}

/// Row number first, then letter: 2A before 10A.
pub fn seat_order(seat: &SeatCode) -> (u32, String) {
    let s = seat.as_str();
    let (row, letter) = s.split_at(s.len() - 1);
    (row.parse().unwrap_or(u32::MAX), letter.to_owned())
}
