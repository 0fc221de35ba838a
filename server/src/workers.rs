//! The background loops of a server, started and supervised in one place. A loop that panics
//! is logged, counted in `/metrics` (`passcom_worker_panics_total`) and started again after a
//! pause; stopping the server stops them all.

use std::future::Future;
use std::time::Duration;

use actix_web::web;
use tokio::task::JoinSet;

use crate::app::AppState;
use crate::booking::recovery;
use crate::operations::events;
use crate::replication::outbox;

/// A crashed worker waits this long before it runs again, so a worker that panics at once
/// cannot spin.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

pub struct Workers {
    tasks: JoinSet<()>,
}

impl Workers {
    pub fn start(state: web::Data<AppState>) -> Self {
        let mut workers = Self { tasks: JoinSet::new() };
        workers.supervise("outbox", &state, outbox::run);
        workers.supervise("recovery", &state, recovery::run);
        workers.supervise("peer_keys", &state, prefetch_peer_keys);
        workers.supervise("loop_clock", &state, |state| async move { state.clock.run().await });
        workers.supervise("events", &state, events::run);
        workers
    }

    fn supervise<F, Fut>(&mut self, name: &'static str, state: &web::Data<AppState>, run: F)
    where
        F: Fn(web::Data<AppState>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let state = state.clone();
        self.tasks.spawn(async move {
            loop {
                let task = tokio::spawn(run(state.clone()));
                // Stopping the supervisor stops the worker too.
                let _stop_with_me = AbortOnDrop(task.abort_handle());
                match task.await {
                    Ok(()) => return,
                    Err(e) if e.is_panic() => {
                        tracing::error!(worker = name, "background worker panicked; restarting it");
                        state.metrics.worker_panic(name);
                        tokio::time::sleep(RESTART_PAUSE).await;
                    }
                    Err(_) => return,
                }
            }
        });
    }

    /// Stops every worker and waits until each has ended.
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Fetches every peer's public key ahead of need and keeps it fresh, so that a peer's
/// passengers stay logged in here even if that peer dies before we saw one of its tokens.
async fn prefetch_peer_keys(state: web::Data<AppState>) {
    loop {
        let complete = state.keys.prefetch().await;
        // Peers that are not up yet are tried again soon; once all keys are here, rarely.
        tokio::time::sleep(Duration::from_secs(if complete { 120 } else { 2 })).await;
    }
}
