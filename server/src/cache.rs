//! A value that is good for a short while. Catalog reads are by far the most frequent request,
//! and a seat count that is up to a second old is fine for browsing: the booking itself checks
//! the seat at its owner. Refreshes are single-flight: under load, one caller refreshes while
//! the others wait for its answer instead of each hitting the database or the peer.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

pub struct TtlCache<T> {
    ttl: Duration,
    slot: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> TtlCache<T> {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, slot: Mutex::new(None) }
    }

    /// The cached value while it is fresh, else what `refresh` produces (which is kept).
    pub async fn get_or_refresh<E, Fut>(&self, refresh: impl FnOnce() -> Fut) -> Result<Arc<T>, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((at, value)) = slot.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(value.clone());
            }
        }
        let value = Arc::new(refresh().await?);
        if !self.ttl.is_zero() {
            *slot = Some((Instant::now(), value.clone()));
        }
        Ok(value)
    }
}

/// Many small values, each good for `ttl`, at most `capacity` of them: finished search answers,
/// keyed by their normalized query.
pub struct TtlMap<V> {
    ttl: Duration,
    capacity: usize,
    entries: std::sync::Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> TtlMap<V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self { ttl, capacity, entries: std::sync::Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, V)>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.lock().get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    pub fn insert(&self, key: String, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= self.capacity {
                // Only a flood of distinct queries gets here; starting over is cheap.
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refreshes_only_when_stale_and_keeps_no_error() {
        let cache = TtlCache::new(Duration::from_millis(50));
        let first: Result<_, ()> = cache.get_or_refresh(|| async { Ok(1) }).await;
        let cached: Result<_, ()> = cache.get_or_refresh(|| async { Ok(2) }).await;
        assert_eq!((*first.unwrap(), *cached.unwrap()), (1, 1));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(cache.get_or_refresh(|| async { Err::<i32, _>("down") }).await.is_err());
        let fresh: Result<_, ()> = cache.get_or_refresh(|| async { Ok(3) }).await;
        assert_eq!(*fresh.unwrap(), 3);
    }

    #[test]
    fn a_map_forgets_stale_entries_and_stays_bounded() {
        let map = TtlMap::new(Duration::from_millis(30), 2);
        map.insert("a".into(), 1);
        map.insert("b".into(), 2);
        map.insert("c".into(), 3);
        assert_eq!((map.get("a"), map.get("c")), (None, Some(3)), "full: started over");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(map.get("c"), None, "stale");
    }
}
