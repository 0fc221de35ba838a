//! Building the application: the one place where settings become a pool, clients, keys and a
//! bound HTTP server. Tests start servers exactly the way `main` does, on port 0.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use passcom_shared::client::{http_client, SERVER_KEEP_ALIVE};
use passcom_shared::AirlineCode;
use tokio::sync::{watch, Notify};
use tracing_actix_web::TracingLogger;

use crate::app::AppState;
use crate::auth::password::Passwords;
use crate::auth::{KeyRing, SigningKey};
use crate::cache::TtlMap;
use crate::config::Settings;
use crate::db;
use crate::federation::Federation;
use crate::locks::SeatLocks;
use crate::metrics::Metrics;
use crate::routes::{self, edge};
use crate::stall::LoopClock;
use crate::telemetry::{request_id_and_metrics, PasscomRootSpan};
use crate::workers::Workers;

/// Airline-days of segments kept for search: a year ahead for a few airlines.
const DAY_BUCKETS: usize = 4096;
/// A segment's flight, times and price do not change once published; its seat count in this
/// cache is only a hint (the hold at the owner decides).
const SEGMENT_TTL: std::time::Duration = std::time::Duration::from_secs(10);
const CITIES_TTL: std::time::Duration = std::time::Duration::from_secs(60);

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind(settings.bind).with_context(|| format!("PASSCOM_BIND: binding {}", settings.bind))?;
        Self::build_with_listener(settings, listener).await
    }

    pub async fn build_with_listener(settings: Settings, listener: TcpListener) -> anyhow::Result<Self> {
        db::migrate(&settings.database_url).await?;
        let pool = db::build_pool(&settings.database_url, settings.db_pool_size)?;
        let http = http_client(settings.peer_connect_timeout, settings.peer_request_timeout);
        let signing = SigningKey::load_or_generate(&settings.signing_key_path, settings.airline.clone())?;
        let peer_urls: HashMap<AirlineCode, String> =
            settings.peers.iter().map(|p| (p.airline.clone(), p.url.clone())).collect();
        let keys = Arc::new(KeyRing::new(signing, peer_urls, http.clone()));
        let metrics = Arc::new(Metrics::new(settings.airline.as_str())?);
        let clock = Arc::new(LoopClock::default());
        let federation = Federation::new(&settings, &http, keys.clone(), metrics.clone(), clock.clone());
        let locks = SeatLocks::new(&settings.redis_url, &settings.redis_prefix, settings.lock_ttl, clock.clone())?;
        let workers = settings.http_workers;
        let request_timeout = settings.limits.client_request_timeout;
        let catalog_ttl = settings.catalog_ttl;
        let search_cache_ttl = settings.search_cache_ttl;
        let catalog_stale = settings.catalog_stale;
        let state = web::Data::new(AppState {
            settings,
            pool,
            locks,
            keys,
            federation,
            clock,
            metrics,
            days: TtlMap::new(search_cache_ttl, DAY_BUCKETS).keeping_on_failure(catalog_stale),
            segments_by_id: TtlMap::new(SEGMENT_TTL, 4096),
            cities: TtlMap::new(CITIES_TTL, 64),
            passwords: Passwords::new(std::thread::available_parallelism().map_or(2, usize::from)),
            answers: TtlMap::new(catalog_ttl, 1024),
            outbox_wake: Notify::new(),
            events_top: watch::Sender::new(0),
        });

        let port = listener.local_addr()?.port();
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .configure(routes::config)
                .default_service(web::to(routes::not_found))
                .wrap(from_fn(edge::catch_panics))
                .wrap(from_fn(edge::body_deadline))
                .wrap(from_fn(edge::refuse_unknown_query))
                .wrap(ErrorHandlers::new().default_handler(routes::ensure_problem))
                .wrap(TracingLogger::<PasscomRootSpan>::new())
                .wrap(from_fn(request_id_and_metrics))
                .wrap(from_fn(edge::head_as_get))
        })
        .workers(workers.max(1))
        .client_request_timeout(request_timeout)
        .keep_alive(SERVER_KEEP_ALIVE)
        .client_disconnect_timeout(std::time::Duration::from_secs(1))
        .shutdown_timeout(5)
        .listen(listener)?
        .run();
        tracing::info!(airline = %state.settings.airline, port, "server listening");
        Ok(Self { port, server, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped; the background workers live exactly as long.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let workers = Workers::start(self.state.clone());
        let result = self.server.await;
        workers.stop().await;
        result
    }
}
