//! Shared seat locks in Redis: the fast first line against two buyers racing for a seat. All the
//! seats of an itinerary are taken in one atomic Lua step or none is; the value is the booking id
//! (the token) and only that booking releases them (compare-and-delete). The locks expire after
//! `PASSCOM_LOCK_TTL_MS`; the owner's conditional UPDATE, not the lock, is the final guard.

use std::time::Duration;

use passcom_shared::{AirlineCode, SeatCode, SegmentId};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use tokio::sync::Mutex;
use uuid::Uuid;

/// Returns 0 when every key was free (or already ours) and is now ours, else the 1-based index
/// of the first key another booking holds, having taken nothing.
const ACQUIRE: &str = r"
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner and owner ~= ARGV[1] then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
end
return 0
";

/// Deletes each key still holding our token; returns how many it deleted.
const RELEASE: &str = r"
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then n = n + redis.call('DEL', key) end
end
return n
";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("seat {index} is locked by another booking")]
    Conflict { index: usize },
    #[error("the lock service is unavailable: {0}")]
    Unavailable(#[from] redis::RedisError),
}

pub struct SeatLocks {
    client: redis::Client,
    conn: Mutex<Option<ConnectionManager>>,
    prefix: String,
    ttl: Duration,
    acquire: Script,
    release: Script,
}

impl SeatLocks {
    pub fn new(redis_url: &str, prefix: &str, ttl: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            client: redis::Client::open(redis_url).map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?,
            conn: Mutex::new(None),
            prefix: prefix.to_owned(),
            ttl,
            acquire: Script::new(ACQUIRE),
            release: Script::new(RELEASE),
        })
    }

    /// `{prefix}:{what}`: any key of this server's namespace.
    pub fn namespaced(&self, what: &str) -> String {
        format!("{}:{what}", self.prefix)
    }

    pub fn key(&self, airline: &AirlineCode, segment: &SegmentId, seat: &SeatCode) -> String {
        format!("{}:seat:{airline}:{segment}:{seat}", self.prefix)
    }

    /// The shared connection, made on first use so that the server starts (and serves reads)
    /// while Redis is down. The manager reconnects by itself after that. The limits' counters
    /// share it.
    pub(crate) async fn conn(&self) -> Result<ConnectionManager, redis::RedisError> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_millis(500))
            .set_response_timeout(Duration::from_secs(1))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(self.client.clone(), config).await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    pub async fn acquire_all(&self, keys: &[String], token: Uuid) -> Result<(), LockError> {
        let mut conn = self.conn().await?;
        let mut invocation = self.acquire.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let conflict: usize = invocation.arg(token.to_string()).arg(ttl_ms).invoke_async(&mut conn).await?;
        match conflict {
            0 => Ok(()),
            i => Err(LockError::Conflict { index: i - 1 }),
        }
    }

    pub async fn release_all(&self, keys: &[String], token: Uuid) -> Result<u64, LockError> {
        let mut conn = self.conn().await?;
        let mut invocation = self.release.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        Ok(invocation.arg(token.to_string()).invoke_async(&mut conn).await?)
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await.map(drop)
    }
}
