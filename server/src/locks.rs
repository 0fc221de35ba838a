//! Shared seat locks in Redis: the fast first line against two buyers racing for a seat. All the
//! seats of an itinerary are taken in one atomic Lua step or none is; the value is the booking id
//! (the token) and only that booking releases them (compare-and-delete). The locks expire after
//! `PASSCOM_LOCK_TTL_MS`; the owner's conditional UPDATE, not the lock, is the final guard.
//!
//! Redis being down must cost a booking no more than a branch: once a command or a connection
//! attempt has failed, requests fail at once with [`LockError::Down`] while exactly one of them
//! at a time (at most every [`RETRY_EVERY`]) tries to connect again, so the first booking after
//! Redis returns is the one that reconnects. A failure while this process itself stood still
//! (SIGSTOP, a stalled VM: the timeouts of every call in flight fire at once on resume) says
//! nothing about Redis and is not counted, as the peer breakers do not count theirs
//! ([`LoopClock`]): the requests after the resume use the same connection.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use passcom_shared::{AirlineCode, SeatCode, SegmentId};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisResult, Script};
use uuid::Uuid;

use crate::stall::LoopClock;

/// Redis answers a local connect or one of our scripts in well under a millisecond: anything
/// this slow is a Redis that is gone or hung, and waiting longer only queues bookings behind it.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// How often a request may try to reconnect while Redis is down.
const RETRY_EVERY: Duration = Duration::from_millis(100);

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
    #[error("the lock service is down; reconnecting")]
    Down,
}

pub struct SeatLocks {
    client: redis::Client,
    link: Mutex<Link>,
    /// Held while connecting, so that requests arriving before the first connection wait for
    /// it instead of failing.
    connecting: tokio::sync::Mutex<()>,
    prefix: String,
    ttl: Duration,
    acquire: Script,
    release: Script,
    clock: Arc<LoopClock>,
}

#[derive(Default)]
struct Link {
    conn: Option<MultiplexedConnection>,
    /// When Redis last failed us (a refused connect, a dropped connection, a timeout).
    failed_at: Option<Instant>,
    /// A reconnection is under way.
    probing: bool,
}

impl Link {
    fn known_down(&self) -> bool {
        self.failed_at.is_some_and(|at| self.probing || at.elapsed() < RETRY_EVERY)
    }
}

/// Clears `probing` however the probe ends, also when its request is dropped midway.
struct Probing<'a>(&'a Mutex<Link>);

impl Drop for Probing<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).probing = false;
    }
}

/// Whether an error means the connection is gone, rather than a refusal by a live Redis.
fn link_broken(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
}

impl SeatLocks {
    pub fn new(redis_url: &str, prefix: &str, ttl: Duration, clock: Arc<LoopClock>) -> anyhow::Result<Self> {
        Ok(Self {
            client: redis::Client::open(redis_url).map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?,
            link: Mutex::new(Link::default()),
            connecting: tokio::sync::Mutex::new(()),
            prefix: prefix.to_owned(),
            ttl,
            acquire: Script::new(ACQUIRE),
            release: Script::new(RELEASE),
            clock,
        })
    }

    /// A key of this server's namespace (the limits' counters live beside the seat locks).
    pub fn namespaced(&self, what: &str) -> String {
        format!("{}:{what}", self.prefix)
    }

    pub fn key(&self, airline: &AirlineCode, segment: &SegmentId, seat: &SeatCode) -> String {
        format!("{}:seat:{airline}:{segment}:{seat}", self.prefix)
    }

    fn link(&self) -> MutexGuard<'_, Link> {
        // A few fields, always consistent: a panic elsewhere cannot poison them.
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The shared connection, made on first use so that the server starts (and serves reads)
    /// while Redis is down. The limits' counters share it.
    pub(crate) async fn conn(&self) -> Result<MultiplexedConnection, LockError> {
        {
            let link = self.link();
            if let Some(conn) = &link.conn {
                return Ok(conn.clone());
            }
            if link.known_down() {
                return Err(LockError::Down);
            }
        }
        let _one_at_a_time = self.connecting.lock().await;
        let probing = {
            let mut link = self.link();
            if let Some(conn) = &link.conn {
                return Ok(conn.clone());
            }
            if link.known_down() {
                return Err(LockError::Down);
            }
            link.probing = true;
            Probing(&self.link)
        };
        let config =
            AsyncConnectionConfig::new().set_connection_timeout(CONNECT_TIMEOUT).set_response_timeout(RESPONSE_TIMEOUT);
        let started = Instant::now();
        let connected = self.client.get_multiplexed_async_connection_with_config(&config).await;
        let mut link = self.link();
        match connected {
            Ok(conn) => {
                if link.failed_at.take().is_some() {
                    tracing::info!("the lock service is back");
                }
                link.conn = Some(conn.clone());
                drop(link);
                drop(probing);
                Ok(conn)
            }
            Err(e) => {
                if !self.clock.stalled_since(started) {
                    link.failed_at = Some(Instant::now());
                }
                drop(link);
                drop(probing);
                Err(e.into())
            }
        }
    }

    /// Runs a command and passes its result on; one that shows the connection gone drops it, so
    /// that the next requests fail fast until a reconnection succeeds, unless this process stood
    /// still meanwhile (then the failure is ours, not Redis's).
    pub(crate) async fn checked<T>(&self, command: impl Future<Output = RedisResult<T>>) -> Result<T, LockError> {
        let started = Instant::now();
        let result = command.await;
        if let Err(e) = &result {
            if self.clock.stalled_since(started) {
                tracing::warn!(error = %e, "lock service call failed while this process stood still; not taken for Redis down");
            } else if link_broken(e) {
                let mut link = self.link();
                if link.conn.take().is_some() {
                    tracing::warn!(error = %e, "lost the lock service");
                }
                link.failed_at = Some(Instant::now());
            }
        }
        Ok(result?)
    }

    pub async fn acquire_all(&self, keys: &[String], token: Uuid) -> Result<(), LockError> {
        let mut conn = self.conn().await?;
        let mut invocation = self.acquire.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let conflict: usize =
            self.checked(invocation.arg(token.to_string()).arg(ttl_ms).invoke_async(&mut conn)).await?;
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
        self.checked(invocation.arg(token.to_string()).invoke_async(&mut conn)).await
    }

    pub async fn ping(&self) -> Result<(), LockError> {
        let mut conn = self.conn().await?;
        self.checked(redis::cmd("PING").query_async::<String>(&mut conn)).await.map(drop)
    }
}
