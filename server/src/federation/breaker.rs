//! A circuit breaker per peer. After `threshold` consecutive failures it opens and calls fail at
//! once instead of waiting for a timeout; after `cooldown` it lets exactly one probe through
//! (half-open), whose outcome closes it again or re-opens it. A call holds a [`Permit`]: a
//! probe whose caller gave up (its request dropped, its deadline passed) lets the next caller
//! probe instead of leaving the breaker waiting forever for an outcome.

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

    /// Whether a call may go out now. In half-open state only the first caller gets a permit.
    pub fn allow(&self) -> Option<Permit<'_>> {
        let mut inner = self.lock();
        match inner.opened_at {
            None => Some(Permit { breaker: self, probe: false }),
            Some(at) if at.elapsed() >= self.cooldown && !inner.probe_in_flight => {
                inner.probe_in_flight = true;
                Some(Permit { breaker: self, probe: true })
            }
            Some(_) => None,
        }
    }

    fn record_success(&self) {
        let mut inner = self.lock();
        *inner = Inner::default();
    }

    fn record_failure(&self) {
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

/// The right to make one call; its outcome is recorded with [`Permit::success`] or
/// [`Permit::failure`]. Dropped without either, it records nothing, but frees the probe slot.
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
}

impl Permit<'_> {
    pub fn success(mut self) {
        self.probe = false;
        self.breaker.record_success();
    }

    pub fn failure(mut self) {
        self.probe = false;
        self.breaker.record_failure();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe {
            self.breaker.lock().probe_in_flight = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_probes_once_when_half_open() {
        let breaker = Breaker::new(2, Duration::from_millis(30));
        breaker.allow().unwrap().failure();
        breaker.allow().unwrap().failure();
        assert_eq!(breaker.state().0, BreakerState::Open);
        assert!(breaker.allow().is_none());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(breaker.state().0, BreakerState::HalfOpen);
        let probe = breaker.allow().expect("one probe goes through");
        assert!(breaker.allow().is_none(), "and only one");
        probe.failure();
        assert_eq!(breaker.state().0, BreakerState::Open, "a failed probe re-opens");
        std::thread::sleep(Duration::from_millis(40));
        breaker.allow().unwrap().success();
        assert_eq!(breaker.state(), (BreakerState::Closed, 0));
        assert!(breaker.allow().is_some() && breaker.allow().is_some());
    }

    #[test]
    fn a_probe_given_up_on_lets_the_next_caller_probe() {
        let breaker = Breaker::new(1, Duration::ZERO);
        breaker.allow().unwrap().failure();
        let abandoned = breaker.allow().expect("the probe");
        assert!(breaker.allow().is_none());
        drop(abandoned);
        assert!(breaker.allow().is_some(), "the probe slot is free again");
    }
}
