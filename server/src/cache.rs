//! Values that are good for a short while. Catalog reads are by far the most frequent request,
//! and a seat count a few seconds old is fine for browsing: the booking itself checks the seat
//! at its owner. Renewals are single-flight: under load, one caller renews a value while the
//! others keep getting the previous one, instead of each hitting the database or the peer (or
//! waiting for the one that does).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Many small values, each good for `ttl`, at most `capacity` of them: finished search answers,
/// keyed by their normalized query. A stale value is still served for a while (up to
/// `STALE_FOR` ttls) while exactly one caller recomputes it, so that expiry never makes every
/// concurrent caller recompute at once.
pub struct TtlMap<V> {
    ttl: Duration,
    /// How long a value whose renewal failed is still served (see [`TtlMap::renewal_failed`]).
    keep_on_failure: Duration,
    capacity: usize,
    entries: std::sync::Mutex<HashMap<String, Entry<V>>>,
}

struct Entry<V> {
    at: Instant,
    value: V,
    refreshing: bool,
    /// Its last renewal failed: the source is not answering.
    failed: bool,
}

/// How many ttls a value may be served past its freshness, while it is being renewed.
const STALE_FOR: u32 = 3;

/// What a lookup found.
pub enum Cached<V> {
    /// Fresh, or stale while someone else recomputes it: serve it.
    Serve(V),
    /// Stale, and this caller was chosen to recompute it (and may serve it if that fails).
    Refresh(V),
    Missing,
}

impl<V: Clone> TtlMap<V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self { ttl, keep_on_failure: ttl * STALE_FOR, capacity, entries: std::sync::Mutex::new(HashMap::new()) }
    }

    /// A map whose values outlive a failed renewal for `keep_on_failure`: the last good copy
    /// of a peer's catalog beats none while the peer does not answer.
    pub fn keeping_on_failure(mut self, keep_on_failure: Duration) -> Self {
        self.keep_on_failure = keep_on_failure.max(self.ttl * STALE_FOR);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry<V>>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, key: &str) -> Cached<V> {
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(key) else { return Cached::Missing };
        let age = entry.at.elapsed();
        // Being renewed (which may take a hung source's whole timeout) or after a failed
        // renewal, the value is the last good one: served up to the longer bound.
        let servable = if entry.failed || entry.refreshing { self.keep_on_failure } else { self.ttl * STALE_FOR };
        if age < self.ttl {
            Cached::Serve(entry.value.clone())
        } else if age >= servable {
            Cached::Missing
        } else if entry.refreshing {
            Cached::Serve(entry.value.clone())
        } else {
            entry.refreshing = true;
            Cached::Refresh(entry.value.clone())
        }
    }

    pub fn insert(&self, key: String, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            let ttl = self.ttl;
            let keep = self.keep_on_failure;
            entries.retain(|_, e| e.at.elapsed() < if e.failed { keep } else { ttl * STALE_FOR });
            if entries.len() >= self.capacity {
                // Only a flood of distinct queries gets here; starting over is cheap.
                entries.clear();
            }
        }
        entries.insert(key, Entry { at: Instant::now(), value, refreshing: false, failed: false });
    }

    /// The renewal of `key` failed: its value stays, to be served (and renewed by one caller at
    /// a time) for up to `keep_on_failure` from when it was fetched.
    pub fn renewal_failed(&self, key: &str) {
        if let Some(entry) = self.lock().get_mut(key) {
            entry.refreshing = false;
            entry.failed = true;
        }
    }

    /// The age of `key`'s value if it is served only because its renewal failed.
    pub fn failed_age(&self, key: &str) -> Option<Duration> {
        self.lock().get(key).filter(|e| e.failed && e.at.elapsed() >= self.ttl).map(|e| e.at.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(c: Cached<i32>) -> String {
        match c {
            Cached::Serve(v) => format!("serve {v}"),
            Cached::Refresh(v) => format!("refresh {v}"),
            Cached::Missing => "missing".into(),
        }
    }

    #[test]
    fn a_stale_answer_is_recomputed_by_one_caller_while_others_get_it() {
        let map = TtlMap::new(Duration::from_millis(30), 2);
        map.insert("a".into(), 1);
        assert_eq!(show(map.get("a")), "serve 1");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(show(map.get("a")), "refresh 1", "the first to see it stale refreshes");
        assert_eq!(show(map.get("a")), "serve 1", "the others are served meanwhile");
        map.insert("a".into(), 2);
        assert_eq!(show(map.get("a")), "serve 2");
        std::thread::sleep(Duration::from_millis(160));
        assert_eq!(show(map.get("a")), "missing", "too old to serve at all");
        map.insert("b".into(), 1);
        map.insert("c".into(), 1);
        map.insert("d".into(), 1);
        assert_eq!((show(map.get("b")), show(map.get("d"))), ("missing".into(), "serve 1".into()), "bounded");
    }

    #[test]
    fn a_value_whose_renewal_failed_is_served_until_its_bound() {
        let map = TtlMap::new(Duration::from_millis(20), 8).keeping_on_failure(Duration::from_millis(300));
        map.insert("a".into(), 1);
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(show(map.get("a")), "refresh 1");
        map.renewal_failed("a");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(show(map.get("a")), "refresh 1", "past three ttls, still served: the source is down");
        assert_eq!(show(map.get("a")), "serve 1", "while one caller renews it");
        assert!(map.failed_age("a").is_some_and(|age| age >= Duration::from_millis(80)));
        map.renewal_failed("a");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(show(map.get("a")), "missing", "not beyond the bound");
        map.insert("a".into(), 2);
        assert_eq!((show(map.get("a")), map.failed_age("a")), ("serve 2".into(), None));
    }
}
