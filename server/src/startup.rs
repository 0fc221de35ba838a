//! Building the application: the one place where settings become a pool, clients, keys and a
//! bound HTTP server. Tests start servers exactly the way `main` does, on port 0.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use passcom_shared::api::Segment;
use passcom_shared::client::http_client;
use passcom_shared::AirlineCode;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing_actix_web::TracingLogger;

use crate::auth::password::Passwords;
use crate::auth::{KeyRing, SigningKey};
use crate::booking::finished::Finished;
use crate::cache::{TtlCache, TtlMap};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::federation::{self, Federation};
use crate::locks::SeatLocks;
use crate::metrics::Metrics;
use crate::telemetry::{request_id_and_metrics, PasscomRootSpan};
use crate::{booking, outbox, routes};

/// Everything a handler or worker needs, built once per server.
pub struct AppState {
    pub settings: Settings,
    pub pool: DbPool,
    pub locks: SeatLocks,
    pub keys: Arc<KeyRing>,
    pub federation: Federation,
    pub metrics: Arc<Metrics>,
    pub passwords: Passwords,
    /// Finished search answers (JSON), reused for `catalog_ttl`.
    pub answers: TtlMap<web::Bytes>,
    /// This airline's whole upcoming catalog, reused for `catalog_ttl`.
    pub catalog: TtlCache<Vec<Segment>>,
    /// Pinged after a local write that queued outbox rows, so replication starts at once.
    pub outbox_wake: Notify,
    /// Committed bookings every owner acknowledged, to be recorded in a batch.
    pub finished: Finished,
}

impl AppState {
    /// This airline and its peers, in code order: the order logins are claimed in.
    pub fn all_airlines(&self) -> Vec<AirlineCode> {
        let mut all: Vec<AirlineCode> = self.federation.peers().iter().map(|p| p.airline.clone()).collect();
        all.push(self.settings.airline.clone());
        all.sort();
        all
    }

    pub fn knows_airline(&self, airline: &AirlineCode) -> bool {
        *airline == self.settings.airline || self.federation.peer(airline).is_some()
    }
}

/// Fetches every peer's public key ahead of need and keeps it fresh, so that a peer's
/// passengers stay logged in here even if that peer dies before we saw one of its tokens.
async fn prefetch_peer_keys(state: web::Data<AppState>) {
    loop {
        let complete = state.keys.prefetch().await;
        // Peers that are not up yet are tried again soon; once all keys are here, rarely.
        tokio::time::sleep(std::time::Duration::from_secs(if complete { 120 } else { 2 })).await;
    }
}

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
        let federation = Federation::new(&settings, &http, keys.clone(), metrics.clone());
        let locks = SeatLocks::new(&settings.redis_url, &settings.redis_prefix, settings.lock_ttl)?;
        let workers = settings.http_workers;
        let catalog_ttl = settings.catalog_ttl;
        let catalog = TtlCache::new(catalog_ttl);
        let state = web::Data::new(AppState {
            settings,
            pool,
            locks,
            keys,
            federation,
            metrics,
            catalog,
            passwords: Passwords::new(std::thread::available_parallelism().map_or(2, usize::from)),
            answers: TtlMap::new(catalog_ttl, 1024),
            outbox_wake: Notify::new(),
            finished: Finished::default(),
        });

        let port = listener.local_addr()?.port();
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .configure(routes::config)
                .default_service(web::to(routes::not_found))
                .wrap(ErrorHandlers::new().default_handler(routes::ensure_problem))
                .wrap(TracingLogger::<PasscomRootSpan>::new())
                .wrap(from_fn(request_id_and_metrics))
        })
        .workers(workers.max(1))
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

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until stopped; the background workers (outbox delivery, booking recovery) live
    /// exactly as long.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let workers: Vec<JoinHandle<()>> = vec![
            tokio::spawn(outbox::run(self.state.clone())),
            tokio::spawn(booking::recovery::run(self.state.clone())),
            tokio::spawn(booking::finished::run(self.state.clone())),
            tokio::spawn(prefetch_peer_keys(self.state.clone())),
            tokio::spawn(federation::catalog::keep_fresh(self.state.clone())),
        ];
        let result = self.server.await;
        for worker in workers {
            worker.abort();
        }
        result
    }
}
