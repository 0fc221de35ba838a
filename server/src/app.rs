//! The state every handler and worker shares, built once per server by `startup`. It holds
//! only the leaf services (pool, locks, keys, peers, caches, metrics); the domain modules take
//! it as an argument.

use std::sync::Arc;

use actix_web::web;
use passcom_shared::api::Segment;
use tokio::sync::{watch, Notify};

use crate::auth::password::Passwords;
use crate::auth::KeyRing;
use crate::cache::TtlMap;
use crate::catalog::route_search::Placed;
use crate::config::Settings;
use crate::db::DbPool;
use crate::federation::Federation;
use crate::locks::SeatLocks;
use crate::metrics::Metrics;
use crate::stall::LoopClock;

pub struct AppState {
    pub settings: Settings,
    pub pool: DbPool,
    pub locks: SeatLocks,
    pub keys: Arc<KeyRing>,
    pub federation: Federation,
    /// The ticker that tells the peer breakers and the lock service when this process stood still.
    pub clock: Arc<LoopClock>,
    pub metrics: Arc<Metrics>,
    pub passwords: Passwords,
    /// Finished search answers (JSON), reused for `catalog_ttl`.
    pub answers: TtlMap<web::Bytes>,
    /// Each airline's segments of one departure day (`airline|YYYY-MM-DD`), for search.
    pub days: TtlMap<Arc<Vec<Placed>>>,
    /// Segments a booking looked up (`airline/id`).
    pub segments_by_id: TtlMap<Segment>,
    /// Each airline's cities, kept for a minute.
    pub cities: TtlMap<Arc<Vec<String>>>,
    /// Pinged once a transaction that queued outbox rows has committed.
    pub outbox_wake: Notify,
    /// The id after every finished event, published by the events' round to the open streams.
    pub events_top: watch::Sender<i64>,
}
