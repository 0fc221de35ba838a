//! A circuit breaker per peer. After `threshold` consecutive failures it opens and calls fail at
//! once instead of waiting for a timeout; after `cooldown` it lets exactly one probe through
//! (half-open), whose outcome closes it again or re-opens it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use passcom_shared::api::BreakerState;

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    probe_in_flight: bool,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self { threshold: threshold.max(1), cooldown, inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state is a few integers, always consistent; a panic elsewhere cannot poison it.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a call may go out now. In half-open state only the first caller gets `true`.
    pub fn allow(&self) -> bool {
        let mut inner = self.lock();
        match inner.opened_at {
            None => true,
            Some(at) if at.elapsed() >= self.cooldown && !inner.probe_in_flight => {
                inner.probe_in_flight = true;
                true
            }
            Some(_) => false,
        }
    }

    pub fn record_success(&self) {
        let mut inner = self.lock();
        *inner = Inner::default();
    }

    pub fn record_failure(&self) {
        let mut inner = self.lock();
        inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        if inner.probe_in_flight || inner.consecutive_failures >= self.threshold {
            inner.opened_at = Some(Instant::now());
            inner.probe_in_flight = false;
        }
    }

    pub fn state(&self) -> (BreakerState, u32) {
        let inner = self.lock();
        let state = match inner.opened_at {
            None => BreakerState::Closed,
            Some(at) if at.elapsed() >= self.cooldown => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        };
        (state, inner.consecutive_failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_probes_once_when_half_open() {
        let breaker = Breaker::new(2, Duration::from_millis(30));
        breaker.record_failure();
        assert!(breaker.allow());
        breaker.record_failure();
        assert_eq!(breaker.state().0, BreakerState::Open);
        assert!(!breaker.allow());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(breaker.state().0, BreakerState::HalfOpen);
        assert!(breaker.allow(), "one probe goes through");
        assert!(!breaker.allow(), "and only one");
        breaker.record_failure();
        assert_eq!(breaker.state().0, BreakerState::Open, "a failed probe re-opens");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow());
        breaker.record_success();
        assert_eq!(breaker.state(), (BreakerState::Closed, 0));
        assert!(breaker.allow() && breaker.allow());
    }
}
