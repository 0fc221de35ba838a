//! Latency percentiles and tallies of request outcomes.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The `p`-th percentile (0–100) of `sorted` by the nearest-rank method: always one of the
/// samples, never an interpolation, so a p99 of 100 samples is the second slowest request.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Milliseconds with one decimal, the unit every report uses.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<Duration>,
}

impl Latencies {
    pub fn push(&mut self, sample: Duration) {
        self.samples.push(sample);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn percentile(&self, p: f64) -> Option<Duration> {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        percentile(&sorted, p)
    }

    /// `p50 12.3 ms, p99 45.6 ms, max 50.1 ms`.
    pub fn summary(&self) -> String {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        match (percentile(&sorted, 50.0), percentile(&sorted, 99.0), sorted.last()) {
            (Some(p50), Some(p99), Some(max)) => format!("p50 {}, p99 {}, max {}", ms(p50), ms(p99), ms(*max)),
            _ => "no samples".to_owned(),
        }
    }
}

/// How one request ended, as the reports group it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The expected 2xx.
    Success,
    /// An HTTP answer other than the expected one, with its problem `code`.
    Refused { status: u16, code: String },
    /// No HTTP answer at all: refused connection, reset.
    Transport,
    /// No HTTP answer in the time the client gives.
    Timeout,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Success => f.write_str("success"),
            Outcome::Refused { status, code } => write!(f, "{status} {code}"),
            Outcome::Transport => f.write_str("connection error"),
            Outcome::Timeout => f.write_str("timeout"),
        }
    }
}

/// Counts of outcomes.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    counts: BTreeMap<Outcome, usize>,
}

impl Tally {
    pub fn add(&mut self, outcome: Outcome) {
        *self.counts.entry(outcome).or_default() += 1;
    }

    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Tally) {
        for (outcome, n) in &other.counts {
            *self.counts.entry(outcome.clone()).or_default() += n;
        }
    }

    pub fn successes(&self) -> usize {
        self.counts.get(&Outcome::Success).copied().unwrap_or(0)
    }

    /// How many outcomes `keep` selects, and their breakdown, like `seat_locked 80, seat_taken 9`
    /// (the problem code alone when `keep` selects a single status, else `409 seat_locked`).
    pub fn breakdown(&self, keep: impl Fn(&Outcome) -> bool) -> (usize, String) {
        let kept: Vec<(&Outcome, usize)> = self.counts.iter().filter(|(o, _)| keep(o)).map(|(o, n)| (o, *n)).collect();
        let mut statuses: Vec<Option<u16>> = kept.iter().map(|(o, _)| status_of(o)).collect();
        statuses.dedup();
        let one_status = statuses.len() == 1;
        let parts: Vec<String> = kept
            .iter()
            .map(|(o, n)| match o {
                Outcome::Refused { code, .. } if one_status => format!("{code} {n}"),
                other => format!("{other} {n}"),
            })
            .collect();
        (kept.iter().map(|(_, n)| n).sum(), parts.join(", "))
    }

    /// Outcomes that are an HTTP answer with this status.
    pub fn with_status(&self, status: u16) -> (usize, String) {
        self.breakdown(|o| status_of(o) == Some(status))
    }
}

fn status_of(outcome: &Outcome) -> Option<u16> {
    match outcome {
        Outcome::Refused { status, .. } => Some(*status),
        Outcome::Success | Outcome::Transport | Outcome::Timeout => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&samples, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&samples, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&samples, 0.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&samples[..1], 99.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn tallies_break_down_by_code() {
        let mut tally = Tally::default();
        tally.add(Outcome::Success);
        for code in ["seat_locked", "seat_locked", "seat_taken"] {
            tally.add(Outcome::Refused { status: 409, code: code.into() });
        }
        tally.add(Outcome::Refused { status: 503, code: "airline_unavailable".into() });
        tally.add(Outcome::Transport);
        assert_eq!(tally.total(), 6);
        assert_eq!(tally.successes(), 1);
        assert_eq!(tally.with_status(409), (3, "seat_locked 2, seat_taken 1".to_owned()));
        assert_eq!(
            tally.breakdown(|o| *o != Outcome::Success && status_of(o) != Some(409)),
            (2, "503 airline_unavailable 1, connection error 1".to_owned())
        );
    }
}
