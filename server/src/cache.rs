//! A value that is good for a short while. Catalog reads are by far the most frequent request,
//! and a seat count that is up to a second old is fine for browsing: the booking itself checks
//! the seat at its owner. Refreshes are single-flight: under load, one caller refreshes while
//! the others keep getting the previous value, instead of each hitting the database or the peer
//! (or waiting for the one that does).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct TtlCache<T> {
    ttl: Duration,
    slot: std::sync::Mutex<Option<(Instant, Arc<T>)>>,
    /// Held while refreshing, so that callers finding nothing usable wait for one refresh.
    refreshing: tokio::sync::Mutex<()>,
}

impl<T> TtlCache<T> {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, slot: std::sync::Mutex::new(None), refreshing: tokio::sync::Mutex::new(()) }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn current(&self, max_age: Duration) -> Option<Arc<T>> {
        let slot = self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.as_ref().filter(|(at, _)| at.elapsed() < max_age).map(|(_, value)| value.clone())
    }

    fn store(&self, value: Option<Arc<T>>) {
        let mut slot = self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = value.filter(|_| !self.ttl.is_zero()).map(|v| (Instant::now(), v));
    }

    /// The cached value if it is at most a few ttls old (a background refresher keeps it
    /// younger than one); otherwise one caller refreshes while the others wait for its result.
    pub async fn get_or_refresh<E, Fut>(&self, refresh: impl FnOnce() -> Fut) -> Result<Arc<T>, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(value) = self.current(self.ttl * STALE_FOR) {
            return Ok(value);
        }
        let _refreshing = self.refreshing.lock().await;
        if let Some(value) = self.current(self.ttl) {
            return Ok(value);
        }
        let value = Arc::new(refresh().await?);
        self.store(Some(value.clone()));
        Ok(value)
    }

    /// Replaces the value now; on failure forgets it, so that readers see the failure at once
    /// instead of a value that can no longer be renewed.
    pub async fn refresh<E, Fut>(&self, refresh: impl FnOnce() -> Fut) -> Result<(), E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let _refreshing = self.refreshing.lock().await;
        match refresh().await {
            Ok(value) => {
                self.store(Some(Arc::new(value)));
                Ok(())
            }
            Err(e) => {
                self.store(None);
                Err(e)
            }
        }
    }
}

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

    #[tokio::test]
    async fn serves_a_young_value_refreshes_an_old_one_and_forgets_a_failed_one() {
        let cache = TtlCache::new(Duration::from_millis(20));
        let first: Result<_, ()> = cache.get_or_refresh(|| async { Ok(1) }).await;
        assert_eq!(*first.unwrap(), 1);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let young: Result<_, ()> = cache.get_or_refresh(|| async { Ok(2) }).await;
        assert_eq!(*young.unwrap(), 1, "a little past its ttl it is still served");
        tokio::time::sleep(Duration::from_millis(40)).await;
        let renewed: Result<_, ()> = cache.get_or_refresh(|| async { Ok(3) }).await;
        assert_eq!(*renewed.unwrap(), 3, "too old: refreshed");
        assert!(cache.refresh(|| async { Err::<i32, _>("down") }).await.is_err());
        let after: Result<_, ()> = cache.get_or_refresh(|| async { Ok(4) }).await;
        assert_eq!(*after.unwrap(), 4, "a failed refresh leaves nothing stale behind");
    }

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
