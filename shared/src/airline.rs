//! Bodies of the staff API (`/api/v1/airline/…`) and of the event streams (staff and passenger).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{Money, PassStatus, Segment};
use crate::SegmentId;

/// A seat map of `rows` rows (1, 2, …) of the seats `letters` (`ABCDEF`): seats 1A … 30F.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeatLayout {
    /// 1-99.
    pub rows: u32,
    /// 1-10 distinct capital letters.
    pub letters: String,
}

/// A flight to publish. Without `segment_id` it is `FLIGHT-YYYYMMDD-HHMM` (UTC departure).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewSegment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_id: Option<SegmentId>,
    /// 2-8 capital letters and digits, like `PA101`.
    pub flight_no: String,
    pub origin: String,
    pub destination: String,
    pub departs_at: DateTime<Utc>,
    pub arrives_at: DateTime<Utc>,
    /// The price of one seat.
    pub price: Money,
    pub seats: SeatLayout,
}

/// One segment or a batch of them, published all together or not at all.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishRequest {
    pub segments: Vec<NewSegment>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Published {
    pub segments: Vec<Segment>,
}

/// A new price for seats sold from now on; passes already sold keep theirs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceChange {
    pub price: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlightCancellation {
    /// Shown to the passengers on their passes: 1-200 characters.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancelledFlight {
    pub segment_id: SegmentId,
    pub cancelled_at: DateTime<Utc>,
    pub reason: String,
    /// Passes with a seat on the flight, now `disrupted` (0 on a repeat).
    pub disrupted_passes: u64,
}

/// One segment's sales.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentSales {
    pub segment_id: SegmentId,
    pub flight_no: String,
    pub origin: String,
    pub destination: String,
    pub departs_at: DateTime<Utc>,
    pub cancelled: bool,
    #[serde(flatten)]
    pub figures: SalesFigures,
}

/// What was sold of some seats.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SalesFigures {
    pub seats_total: i64,
    pub seats_sold: i64,
    /// What the sold seats were sold for.
    pub revenue: Money,
    /// `seats_sold / seats_total`, 0-1, rounded to 4 places.
    pub load_factor: f64,
}

/// The sales of one departure day (UTC) and currency.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DaySales {
    pub day: NaiveDate,
    pub segments: i64,
    #[serde(flatten)]
    pub figures: SalesFigures,
}

/// Sales of the segments departing from `from` to `to` (UTC days, both included).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SalesReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub segments: Vec<SegmentSales>,
    pub days: Vec<DaySales>,
}

/// What happened to an airline's flights.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AirlineEventKind {
    /// Seats of one pass sold on a segment.
    Sale,
    /// Sold seats freed: their pass was cancelled.
    Cancellation,
    SegmentPublished,
    PriceChanged,
    FlightCancelled,
    /// Fewer than 10 % of the segment's seats are left; said again only after it went back over.
    LowAvailability,
}

/// One event of `GET /api/v1/airline/events`; its `id` is the SSE event id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AirlineEvent {
    pub id: i64,
    pub kind: AirlineEventKind,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_id: Option<SegmentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_id: Option<Uuid>,
    /// Seats sold or freed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<i64>,
    /// What the seats were sold for (sales and cancellations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// Kind-specific facts: the new price, the reason, seats left.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
}

/// One event of `GET /api/v1/passes/events`: a pass of the caller got this status.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PassEvent {
    pub id: i64,
    pub pass_id: Uuid,
    pub status: PassStatus,
    pub at: DateTime<Utc>,
}
