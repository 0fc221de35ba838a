//! Sales figures of this airline's segments, computed by PostgreSQL: seats sold, revenue (what
//! each seat was sold for) and load factor, per segment and per departure day.

use chrono::{Duration, NaiveDate};
use diesel::sql_types::Timestamptz;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passcom_shared::airline::{DaySales, SalesFigures, SalesReport, SegmentSales};
use passcom_shared::api::Money;
use passcom_shared::SegmentId;

use crate::catalog::federated::start_of;

/// The longest period one report covers.
pub const MAX_DAYS: i64 = 366;

/// Every segment departing in the period, with its sold seats and what they were sold for (a
/// seat sold before prices were kept per seat counts at the segment's price).
const PER_SEGMENT: &str = "
    SELECT g.segment_id, g.flight_no, g.origin, g.destination, g.departs_at, g.currency,
           g.cancelled_at IS NOT NULL AS cancelled,
           g.seats_total::bigint AS seats_total,
           count(s.seat) AS seats_sold,
           coalesce(sum(coalesce(s.price_cents, g.price_cents)) FILTER (WHERE s.seat IS NOT NULL), 0)::bigint
             AS revenue_cents
      FROM segments g
      LEFT JOIN seats s ON s.segment_id = g.segment_id AND s.status = 'sold'
     WHERE g.departs_at >= $1 AND g.departs_at < $2
     GROUP BY g.segment_id";

/// The rows PostgreSQL answers. A module of their own: diesel's derive writes a qualified path
/// for an embedded struct, which the `unused_qualifications` lint would refuse.
#[allow(unused_qualifications)]
mod rows {
    use chrono::{DateTime, NaiveDate, Utc};
    use diesel::sql_types::{BigInt, Bool, Date, Double, Text, Timestamptz};
    use diesel::QueryableByName;

    #[derive(QueryableByName)]
    pub(super) struct SegmentRow {
        #[diesel(sql_type = Text)]
        pub(super) segment_id: String,
        #[diesel(sql_type = Text)]
        pub(super) flight_no: String,
        #[diesel(sql_type = Text)]
        pub(super) origin: String,
        #[diesel(sql_type = Text)]
        pub(super) destination: String,
        #[diesel(sql_type = Timestamptz)]
        pub(super) departs_at: DateTime<Utc>,
        #[diesel(sql_type = Text)]
        pub(super) currency: String,
        #[diesel(sql_type = Bool)]
        pub(super) cancelled: bool,
        #[diesel(embed)]
        pub(super) figures: Figures,
    }

    #[derive(QueryableByName)]
    pub(super) struct DayRow {
        #[diesel(sql_type = Date)]
        pub(super) day: NaiveDate,
        #[diesel(sql_type = Text)]
        pub(super) currency: String,
        #[diesel(sql_type = BigInt)]
        pub(super) segments: i64,
        #[diesel(embed)]
        pub(super) figures: Figures,
    }

    /// The columns both reports have.
    #[derive(QueryableByName)]
    pub(super) struct Figures {
        #[diesel(sql_type = BigInt)]
        pub(super) seats_total: i64,
        #[diesel(sql_type = BigInt)]
        pub(super) seats_sold: i64,
        #[diesel(sql_type = BigInt)]
        pub(super) revenue_cents: i64,
        #[diesel(sql_type = Double)]
        pub(super) load_factor: f64,
    }
}

use rows::{DayRow, Figures, SegmentRow};

impl Figures {
    fn into_wire(self, currency: String) -> SalesFigures {
        SalesFigures {
            seats_total: self.seats_total,
            seats_sold: self.seats_sold,
            revenue: Money { cents: self.revenue_cents, currency },
            load_factor: self.load_factor,
        }
    }
}

/// The report of the segments departing from `from` to `to` (UTC days, both included).
pub async fn report(conn: &mut AsyncPgConnection, from: NaiveDate, to: NaiveDate) -> diesel::QueryResult<SalesReport> {
    let (start, end) = (start_of(from), start_of(to + Duration::days(1)));
    let segments: Vec<SegmentRow> = diesel::sql_query(format!(
        "SELECT p.*, round(p.seats_sold::numeric / nullif(p.seats_total, 0), 4)::float8 AS load_factor
           FROM ({PER_SEGMENT}) p ORDER BY p.departs_at, p.segment_id"
    ))
    .bind::<Timestamptz, _>(start)
    .bind::<Timestamptz, _>(end)
    .load(conn)
    .await?;
    let days: Vec<DayRow> = diesel::sql_query(format!(
        "SELECT (p.departs_at AT TIME ZONE 'UTC')::date AS day, p.currency, count(*) AS segments,
                sum(p.seats_total)::bigint AS seats_total, sum(p.seats_sold)::bigint AS seats_sold,
                sum(p.revenue_cents)::bigint AS revenue_cents,
                coalesce(round(sum(p.seats_sold)::numeric / nullif(sum(p.seats_total), 0), 4), 0)::float8 AS load_factor
           FROM ({PER_SEGMENT}) p GROUP BY 1, 2 ORDER BY 1, 2"
    ))
    .bind::<Timestamptz, _>(start)
    .bind::<Timestamptz, _>(end)
    .load(conn)
    .await?;
    Ok(SalesReport {
        from,
        to,
        segments: segments
            .into_iter()
            .filter_map(|r| {
                Some(SegmentSales {
                    segment_id: SegmentId::parse(&r.segment_id).ok()?,
                    flight_no: r.flight_no,
                    origin: r.origin,
                    destination: r.destination,
                    departs_at: r.departs_at,
                    cancelled: r.cancelled,
                    figures: r.figures.into_wire(r.currency),
                })
            })
            .collect(),
        days: days
            .into_iter()
            .map(|r| DaySales { day: r.day, segments: r.segments, figures: r.figures.into_wire(r.currency) })
            .collect(),
    })
}
