//! The error body of both APIs: RFC 9457 `application/problem+json` with a stable `code`.

use std::fmt;

use serde::{Deserialize, Serialize};

pub const CONTENT_TYPE: &str = "application/problem+json";

/// Every code a PassCom server answers with, `snake_case` on the wire. A code this version does
/// not know (a newer peer's) reads as [`Code::PeerError`], so a relayed refusal always has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Code {
    SeatTaken,
    SeatLocked,
    AirlineUnavailable,
    LockServiceUnavailable,
    DatabaseUnavailable,
    InvalidItinerary,
    LoginTaken,
    BadCredentials,
    Unauthorized,
    Forbidden,
    NotFound,
    InvalidBody,
    InvalidQuery,
    InvalidPath,
    InvalidHeader,
    PayloadTooLarge,
    UnsupportedMediaType,
    MethodNotAllowed,
    BadRequest,
    RequestInProgress,
    IdempotencyKeyReused,
    BookingTimedOut,
    TooManyRequests,
    SeatLimitReached,
    RequestTimeout,
    HeadersTooLarge,
    /// A staff route asked to publish a segment id the airline already has.
    SegmentExists,
    /// The flight is cancelled: nothing on it can be sold or changed.
    FlightCancelled,
    Internal,
    #[serde(other)]
    PeerError,
}

impl Code {
    /// The HTTP status a code is answered with, unless a relayed refusal says otherwise.
    pub fn status(self) -> u16 {
        match self {
            Code::InvalidItinerary
            | Code::InvalidBody
            | Code::InvalidQuery
            | Code::InvalidPath
            | Code::InvalidHeader
            | Code::BadRequest => 400,
            Code::Unauthorized | Code::BadCredentials => 401,
            Code::Forbidden => 403,
            Code::NotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::RequestTimeout => 408,
            Code::SeatTaken
            | Code::SeatLocked
            | Code::LoginTaken
            | Code::RequestInProgress
            | Code::SeatLimitReached
            | Code::SegmentExists
            | Code::FlightCancelled => 409,
            Code::PayloadTooLarge => 413,
            Code::UnsupportedMediaType => 415,
            Code::IdempotencyKeyReused => 422,
            Code::TooManyRequests => 429,
            Code::HeadersTooLarge => 431,
            Code::Internal => 500,
            Code::PeerError => 502,
            Code::AirlineUnavailable
            | Code::LockServiceUnavailable
            | Code::DatabaseUnavailable
            | Code::BookingTimedOut => 503,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::SeatTaken => "seat_taken",
            Code::SeatLocked => "seat_locked",
            Code::AirlineUnavailable => "airline_unavailable",
            Code::LockServiceUnavailable => "lock_service_unavailable",
            Code::DatabaseUnavailable => "database_unavailable",
            Code::InvalidItinerary => "invalid_itinerary",
            Code::LoginTaken => "login_taken",
            Code::BadCredentials => "bad_credentials",
            Code::Unauthorized => "unauthorized",
            Code::Forbidden => "forbidden",
            Code::NotFound => "not_found",
            Code::InvalidBody => "invalid_body",
            Code::InvalidQuery => "invalid_query",
            Code::InvalidPath => "invalid_path",
            Code::InvalidHeader => "invalid_header",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::BadRequest => "bad_request",
            Code::RequestInProgress => "request_in_progress",
            Code::IdempotencyKeyReused => "idempotency_key_reused",
            Code::BookingTimedOut => "booking_timed_out",
            Code::TooManyRequests => "too_many_requests",
            Code::SeatLimitReached => "seat_limit_reached",
            Code::RequestTimeout => "request_timeout",
            Code::HeadersTooLarge => "headers_too_large",
            Code::SegmentExists => "segment_exists",
            Code::FlightCancelled => "flight_cancelled",
            Code::Internal => "internal",
            Code::PeerError => "peer_error",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable and machine-readable, e.g. `seat_taken`.
    pub code: Code,
    /// The airline a failure is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub airline: Option<String>,
    /// The itinerary leg (0-based) a failure is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leg: Option<usize>,
}

impl Problem {
    pub fn new(status: u16, code: Code, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("https://passcom.example/problems/{code}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            code,
            airline: None,
            leg: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_and_unknown_ones_become_peer_error() {
        assert_eq!(serde_json::to_string(&Code::SeatTaken).unwrap(), "\"seat_taken\"");
        assert_eq!(serde_json::from_str::<Code>("\"idempotency_key_reused\"").unwrap(), Code::IdempotencyKeyReused);
        assert_eq!(serde_json::from_str::<Code>("\"brand_new_code\"").unwrap(), Code::PeerError);
        for code in [
            Code::SeatLocked,
            Code::BookingTimedOut,
            Code::DatabaseUnavailable,
            Code::TooManyRequests,
            Code::SeatLimitReached,
            Code::RequestTimeout,
            Code::HeadersTooLarge,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
