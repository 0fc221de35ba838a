//! This airline's own segments and seat maps, read from its database.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passcom_shared::api::{Money, SeatAvailability, Segment, SegmentDetail};
use passcom_shared::city::city_key;
use passcom_shared::internal::{SegmentFilter, MAX_SEGMENT_BATCH};
use passcom_shared::{AirlineCode, SeatCode, SegmentId, SegmentIds};

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
    #[diesel(sql_type = Timestamptz)]
    departs_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
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

/// Counting the taken seats of each listed segment goes through an index that holds only
/// them, so a page costs what it lists, not what the airline sells. Cancelled flights are not
/// listed: nothing on them is for sale.
const SEGMENTS_WITH_COUNTS: &str = "
    SELECT s.segment_id, s.flight_no, s.origin, s.destination, s.departs_at, s.arrives_at,
           s.price_cents, s.currency,
           s.seats_total::bigint AS seats_total,
           s.seats_total - (SELECT count(*) FROM seats t WHERE t.segment_id = s.segment_id AND t.status <> 'available')
             AS seats_available
      FROM segments s
     WHERE s.departs_at > now()
       AND s.cancelled_at IS NULL
       AND ($1::text[] IS NULL OR s.segment_id = ANY($1))
       AND ($2::text IS NULL OR s.origin_key = $2)
       AND ($3::text IS NULL OR s.destination_key = $3)
       AND ($4::timestamptz IS NULL OR s.departs_at >= $4)
       AND ($5::timestamptz IS NULL OR s.departs_at < $5)
       AND ($6::timestamptz IS NULL OR (s.departs_at, s.segment_id) > ($6, $7))
     ORDER BY s.departs_at, s.segment_id
     LIMIT $8";

/// This airline's upcoming segments that `filter` selects, in (departure, id) order, at most
/// [`MAX_SEGMENT_BATCH`].
pub async fn list(
    conn: &mut AsyncPgConnection,
    airline: &AirlineCode,
    filter: &SegmentFilter,
) -> QueryResult<Vec<Segment>> {
    let ids: Option<Vec<String>> =
        filter.ids.as_ref().map(|ids| ids.as_slice().iter().map(ToString::to_string).collect());
    let limit = filter.limit.unwrap_or(MAX_SEGMENT_BATCH).min(MAX_SEGMENT_BATCH);
    let rows: Vec<SegmentRow> = diesel::sql_query(SEGMENTS_WITH_COUNTS)
        .bind::<Nullable<Array<Text>>, _>(ids)
        .bind::<Nullable<Text>, _>(filter.origin.as_deref().map(city_key))
        .bind::<Nullable<Text>, _>(filter.destination.as_deref().map(city_key))
        .bind::<Nullable<Timestamptz>, _>(filter.from)
        .bind::<Nullable<Timestamptz>, _>(filter.to)
        .bind::<Nullable<Timestamptz>, _>(filter.after.as_ref().map(|k| k.departs_at))
        .bind::<Text, _>(filter.after.as_ref().map_or("", |k| k.segment_id.as_str()))
        .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
        .load(conn)
        .await?;
    Ok(rows.into_iter().filter_map(|r| r.into_segment(airline)).collect())
}

/// The listed segments, with availability; unknown or departed ones are simply absent.
pub async fn by_ids(
    conn: &mut AsyncPgConnection,
    airline: &AirlineCode,
    ids: &[SegmentId],
) -> QueryResult<Vec<Segment>> {
    let ids = SegmentIds::new(ids.to_vec()).map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
    list(conn, airline, &SegmentFilter { ids: Some(ids), ..SegmentFilter::default() }).await
}

/// Every city this airline flies from or to, on upcoming segments.
pub async fn cities(conn: &mut AsyncPgConnection) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct City {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let rows: Vec<City> = diesel::sql_query(
        "SELECT DISTINCT name FROM (SELECT origin AS name FROM segments WHERE departs_at > now() AND cancelled_at IS NULL
                                    UNION SELECT destination FROM segments WHERE departs_at > now() AND cancelled_at IS NULL) c
          ORDER BY name",
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|c| c.name).collect())
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
