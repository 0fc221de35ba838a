//! Tells a slow peer (or Redis) from a slow us. When this process is paused (SIGSTOP, a VM
//! migration, a machine swapping), every call in flight times out at once on resume, through no
//! fault of the other side; counted against it, those timeouts would open every peer's breaker
//! and mark the lock service down, refusing bookings that would succeed. A ticker notes when
//! the local event loop falls behind, and a failed call that overlapped such a stall is not
//! counted, by the peer breakers (`federation`) nor by the lock service (`locks`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(50);
/// A tick this late means the process, not a peer, stood still.
const STALL: Duration = Duration::from_millis(500);

pub struct LoopClock {
    origin: Instant,
    /// Milliseconds since `origin` of the last tick, and of the last tick that came late.
    last_tick: AtomicU64,
    stalled_at: AtomicU64,
}

impl Default for LoopClock {
    fn default() -> Self {
        Self { origin: Instant::now(), last_tick: AtomicU64::new(0), stalled_at: AtomicU64::new(0) }
    }
}

impl LoopClock {
    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    /// Ticks until the server stops.
    pub async fn run(&self) {
        loop {
            tokio::time::sleep(TICK).await;
            let now = self.millis(Instant::now());
            let last = self.last_tick.swap(now, Ordering::Relaxed);
            if last > 0 && now.saturating_sub(last) > millis(TICK + STALL) {
                tracing::warn!(late_ms = now - last, "the local event loop stood still");
                self.stalled_at.store(now, Ordering::Relaxed);
            }
        }
    }

    /// Whether the loop stood still at some point since `started`, or stands still now (the
    /// ticker has not run yet after a resume).
    pub fn stalled_since(&self, started: Instant) -> bool {
        let now = self.millis(Instant::now());
        let last = self.last_tick.load(Ordering::Relaxed);
        let behind = last > 0 && now.saturating_sub(last) > millis(TICK + STALL);
        behind || self.stalled_at.load(Ordering::Relaxed) >= self.millis(started).max(1)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
