//! Bodies of the public API (`/api/v1`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{AirlineCode, SeatCode, SegmentId};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Credentials {
    pub login: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    pub user_id: Uuid,
    pub login: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub user_id: Uuid,
}

/// An amount of money in minor units (centavos). On the wire it is `{"amount":"349.90","currency":"BRL"}`
/// so that no client does arithmetic on floats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    pub cents: i64,
    pub currency: String,
}

/// The wire form of [`Money`].
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Money))]
struct MoneyWire {
    /// A decimal string with two places, like `349.90`.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9]+\.[0-9]{2}$", example = "349.90"))]
    amount: String,
    currency: String,
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <MoneyWire as utoipa::PartialSchema>::schema()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Money {}

impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let abs = self.cents.unsigned_abs();
        let sign = if self.cents < 0 { "-" } else { "" };
        MoneyWire { amount: format!("{sign}{}.{:02}", abs / 100, abs % 100), currency: self.currency.clone() }
            .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = MoneyWire::deserialize(d)?;
        let parsed = wire.amount.split_once('.').and_then(|(units, cents)| {
            let units: i64 = units.parse().ok().filter(|u| *u >= 0)?;
            let cents: i64 = cents.parse().ok().filter(|_| cents.len() == 2)?;
            units.checked_mul(100)?.checked_add(cents)
        });
        match parsed {
            Some(cents) => Ok(Money { cents, currency: wire.currency }),
            None => Err(serde::de::Error::custom(format!("`{}` is not an amount like 349.90", wire.amount))),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Segment {
    pub airline: AirlineCode,
    pub segment_id: SegmentId,
    pub flight_no: String,
    pub origin: String,
    pub destination: String,
    pub departs_at: DateTime<Utc>,
    pub arrives_at: DateTime<Utc>,
    pub price: Money,
    pub seats_total: i64,
    pub seats_available: i64,
}

/// A page of segments, sorted by departure (then airline and id). `next_cursor`, passed back
/// as `cursor`, gives the next page; `None` on the last one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentList {
    pub segments: Vec<Segment>,
    #[serde(default)]
    pub next_cursor: Option<String>,
    pub unavailable_airlines: Vec<AirlineCode>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CityList {
    pub cities: Vec<String>,
    pub unavailable_airlines: Vec<AirlineCode>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeatAvailability {
    pub seat: SeatCode,
    pub available: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentDetail {
    #[serde(flatten)]
    pub segment: Segment,
    pub seats: Vec<SeatAvailability>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Route {
    pub legs: Vec<Segment>,
    /// The price of one seat on every leg; a party pays it once per passenger.
    pub total_price: Money,
    pub departs_at: DateTime<Utc>,
    pub arrives_at: DateTime<Utc>,
    /// The fewest seats free on any leg.
    pub seats_available: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RouteList {
    pub routes: Vec<Route>,
    /// False when the search stopped at its deadline or work bound: there may be more routes.
    pub complete: bool,
    pub unavailable_airlines: Vec<AirlineCode>,
    /// Airlines that did not answer lately, whose last good catalog was used instead.
    #[serde(default)]
    pub stale_airlines: Vec<StaleAirline>,
}

/// An airline's catalog served from the last copy it gave, because it is not answering now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaleAirline {
    pub airline: AirlineCode,
    /// How old that copy is, in whole seconds.
    pub age_secs: u64,
}

/// The most passengers one booking carries.
pub const MAX_PARTY: usize = 9;
/// The longest passenger name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Traveller {
    pub name: String,
}

/// One leg of a booking: `seat` for a party of one, or `seats`, one per passenger in the
/// order of `passengers`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LegRequest {
    pub airline: AirlineCode,
    pub segment_id: SegmentId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<SeatCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<Vec<SeatCode>>,
}

/// One seat on one segment: a leg of a booking for a party of one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct SeatLeg {
    pub airline: AirlineCode,
    pub segment_id: SegmentId,
    pub seat: SeatCode,
}

impl From<&SeatLeg> for LegRequest {
    fn from(leg: &SeatLeg) -> Self {
        Self {
            airline: leg.airline.clone(),
            segment_id: leg.segment_id.clone(),
            seat: Some(leg.seat.clone()),
            seats: None,
        }
    }
}

/// `passengers` may be left out for a party of one (the account holder).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BookingRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passengers: Option<Vec<Traveller>>,
    pub legs: Vec<LegRequest>,
}

impl BookingRequest {
    /// A booking for a party of one, one seat per leg.
    pub fn one_seat_each(legs: &[SeatLeg]) -> Self {
        Self { passengers: None, legs: legs.iter().map(LegRequest::from).collect() }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PassStatus {
    Confirmed,
    /// A leg's flight was cancelled by its airline: see the pass's `disruptions`.
    Disrupted,
    Cancelled,
}

/// A leg of a pass whose flight its airline cancelled.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Disruption {
    /// The leg (0-based) of the pass.
    pub leg: usize,
    pub airline: AirlineCode,
    pub segment_id: SegmentId,
    /// The airline's words.
    pub reason: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PassLeg {
    pub airline: AirlineCode,
    pub segment_id: SegmentId,
    pub flight_no: String,
    pub origin: String,
    pub destination: String,
    pub departs_at: DateTime<Utc>,
    pub arrives_at: DateTime<Utc>,
    /// The first passenger's seat.
    pub seat: SeatCode,
    /// Every passenger's seat, in the order of the pass's `passengers` (empty on passes sold
    /// before parties could book).
    #[serde(default)]
    pub seats: Vec<SeatCode>,
    /// The price of one seat.
    pub price: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pass {
    pub pass_id: Uuid,
    pub status: PassStatus,
    pub created_at: DateTime<Utc>,
    pub sold_by: AirlineCode,
    /// The named passengers; empty for a party of one booked without names.
    #[serde(default)]
    pub passengers: Vec<Traveller>,
    pub legs: Vec<PassLeg>,
    pub total_price: Money,
    /// The legs whose flights were cancelled (a `disrupted` pass has at least one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disruptions: Vec<Disruption>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PassList {
    pub passes: Vec<Pass>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerStatus {
    pub airline: AirlineCode,
    pub url: String,
    pub breaker: BreakerState,
    pub consecutive_failures: u32,
    pub reachable: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FederationStatus {
    pub airline: AirlineCode,
    pub peers: Vec<PeerStatus>,
}

#[cfg(test)]
mod tests {
    use super::Money;

    #[test]
    fn money_round_trips_as_a_decimal_string() {
        let m = Money { cents: 34990, currency: "BRL".into() };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"amount":"349.90","currency":"BRL"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        assert!(serde_json::from_str::<Money>(r#"{"amount":"3.5","currency":"BRL"}"#).is_err());
    }
}
