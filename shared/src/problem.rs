//! The error body of both APIs: RFC 9457 `application/problem+json` with a stable `code`.

use serde::{Deserialize, Serialize};

pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable and machine-readable, e.g. `seat_taken`.
    pub code: String,
    /// The airline a failure is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub airline: Option<String>,
    /// The itinerary leg (0-based) a failure is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leg: Option<usize>,
}

impl Problem {
    pub fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("https://passcom.example/problems/{code}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            code: code.to_owned(),
            airline: None,
            leg: None,
        }
    }
}
