//! Bodies of the internal API (`/internal/v1`), spoken only between airline servers with a
//! service token (audience [`SERVICE_AUDIENCE`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{Pass, Segment};
use crate::{AirlineCode, SeatCode, SegmentId, SegmentIds};

/// Audience of server-to-server tokens; passenger tokens never carry it.
pub const SERVICE_AUDIENCE: &str = "passcom-internal";
/// Audience of passenger tokens.
pub const PASSENGER_AUDIENCE: &str = "passcom";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginClaim {
    pub login: String,
    pub user_id: Uuid,
}

/// An account as every airline stores it. The password hash travels so that the passenger can
/// log in anywhere; it is an argon2id PHC string, never the password.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReplicatedAccount {
    pub user_id: Uuid,
    pub login: String,
    pub password_hash: String,
    pub home_airline: AirlineCode,
    pub created_at: DateTime<Utc>,
}

/// A pass as every airline stores it, with its owner.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReplicatedPass {
    pub user_id: Uuid,
    #[serde(flatten)]
    pub pass: Pass,
}

/// One write another airline must see; the unit of replication.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum Replicated {
    Account(ReplicatedAccount),
    Pass(ReplicatedPass),
    /// To a leg's owner: free the seats of a cancelled pass.
    Release {
        booking_id: Uuid,
    },
    /// From a segment's owner: the flight of one of the pass's legs was cancelled. Accepted only
    /// from that owner; a pass only moves from `confirmed` to `disrupted`, never back.
    Disruption(ReplicatedDisruption),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReplicatedDisruption {
    pub pass_id: Uuid,
    pub airline: AirlineCode,
    pub segment_id: SegmentId,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// The largest replication body a server accepts. Senders split their batches to stay under
/// it: a batch the receiver refuses as too large would be refused forever, and the writes in it
/// would never arrive.
pub const MAX_REPLICATION_BODY: usize = 4 * 1024 * 1024;

/// Many replicated writes in one call, applied by the receiver in one transaction, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicationBatch {
    pub messages: Vec<Replicated>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicationReceipt {
    /// Messages applied; the others were refused and logged by the receiver.
    pub applied: usize,
    pub refused: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct HoldLeg {
    pub segment_id: SegmentId,
    pub seat: SeatCode,
}

/// Prepare: hold every listed seat for the booking, all or none.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldRequest {
    pub booking_id: Uuid,
    pub coordinator: AirlineCode,
    pub legs: Vec<HoldLeg>,
    /// The coordinator stops waiting for holds at this instant and aborts: a hold arriving
    /// later (a stalled link delivering late) is refused instead of blocking a seat for a
    /// booking that is already over. Absent from older coordinators: no deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldGranted {
    pub booking_id: Uuid,
    pub held_until: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Preparing,
    Committed,
    Aborted,
    /// The coordinator has no record: presumed abort.
    Unknown,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecisionBody {
    pub booking_id: Uuid,
    pub decision: Decision,
}

/// What a participant did with one booking's seats on commit, abort or release.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeatsChanged {
    pub booking_id: Uuid,
    pub seats: u64,
}

/// Which of an airline's upcoming segments to list: by cities, ids, a departure window, and a
/// page (`after`, `limit`), always sorted by departure then id.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SegmentFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Only these segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<SegmentIds>,
    /// Departing at or after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Departing before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    /// Only segments after this one in (departure, id) order: a page's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<SegmentKey>,
    /// At most this many (the server caps it at [`MAX_SEGMENT_BATCH`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// The most segments one internal call returns.
pub const MAX_SEGMENT_BATCH: usize = 5000;

/// A position in an airline's (departure, id) order, `2026-11-22T10:00:00Z,A101-20261122-1000`
/// on the wire; an empty id stands before every segment of that instant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SegmentKey {
    pub departs_at: DateTime<Utc>,
    pub segment_id: String,
}

impl std::fmt::Display for SegmentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.departs_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), self.segment_id)
    }
}

impl std::str::FromStr for SegmentKey {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let (at, id) = raw.split_once(',').ok_or("a segment key is `TIME,ID`")?;
        let departs_at = DateTime::parse_from_rfc3339(at).map_err(|_| "a segment key starts with an RFC 3339 time")?;
        if !id.is_empty() {
            SegmentId::parse(id).map_err(|e| e.to_string())?;
        }
        Ok(Self { departs_at: departs_at.with_timezone(&Utc), segment_id: id.to_owned() })
    }
}

impl Serialize for SegmentKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SegmentKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentBatch {
    pub segments: Vec<Segment>,
}

/// The cities an airline flies from or to (upcoming segments only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CityBatch {
    pub cities: Vec<String>,
}

/// A passenger's cancellation, forwarded to the airline that sold the pass (the only one that
/// cancels it) with the passenger's own token as proof that they asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub passenger_token: String,
}

/// Which segments to describe the way the original PassCom API names them (by integer ids,
/// seats by position). With neither list: every upcoming segment. A listed segment is described
/// even after it departed, since passes name such segments too.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LegacyLookup {
    /// Only these segments, by our id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_ids: Option<Vec<SegmentId>>,
    /// Only these segments, by their integer id (`id_trecho`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_ids: Option<Vec<i64>>,
    /// Every seat, not only the free ones.
    #[serde(default)]
    pub all_seats: bool,
}

/// The most segments one [`LegacyLookup`] may list.
pub const MAX_LEGACY_LOOKUP: usize = 500;

/// A segment with its integer id and its seats (free ones only, unless all were asked for).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LegacySegment {
    pub legacy_id: i64,
    pub segment_id: SegmentId,
    pub origin: String,
    pub destination: String,
    pub departs_at: DateTime<Utc>,
    pub seats: Vec<LegacySeat>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LegacySeat {
    /// `id_assento`, unique within the airline.
    pub legacy_id: i64,
    pub seat: SeatCode,
    /// `numero`: 1 for the first seat of the seat map (row, then letter), 2 for the next, …
    pub position: i64,
    pub available: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LegacySegmentBatch {
    pub segments: Vec<LegacySegment>,
}
