//! A booking's deadline: the instant the coordinator stops waiting for holds. It travels in
//! every hold request, so that a participant can refuse a hold that arrives after the
//! coordinator gave up on it, and it bounds how long the client waits whatever the peers do.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    utc: DateTime<Utc>,
}

impl Deadline {
    pub fn after(budget: Duration) -> Self {
        let utc = Utc::now() + chrono::Duration::from_std(budget).unwrap_or(chrono::Duration::seconds(3));
        Self { at: Instant::now() + budget, utc }
    }

    /// The deadline on the wall clock, for the participant (whose clock is NTP-synchronized
    /// with ours; a skew only moves the instant its refusals begin).
    pub fn utc(&self) -> DateTime<Utc> {
        self.utc
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// What is left, but at least `floor`: for messages that are worth a round trip to a
    /// healthy peer even once the deadline has passed (an abort), and that recovery resends
    /// anyway if they do not get through in time.
    pub fn remaining_at_least(&self, floor: Duration) -> Duration {
        self.remaining().max(floor)
    }
}
