//! Recording that every owner acknowledged a committed booking is bookkeeping for recovery,
//! not part of the answer: a lost record only makes recovery resend commits the owners already
//! have. So these records are batched, one UPDATE for many bookings, off the request path.

use std::sync::Arc;

use tokio::sync::{mpsc, Mutex};
use uuid::Uuid;

use super::log;
use crate::app::AppState;

const BATCH: usize = 1000;

/// Drains the queue that coordinators fill (`AppState::finished`) until the server stops.
/// The queue is shared so that a restarted worker takes it over.
pub async fn run(state: actix_web::web::Data<AppState>, receiver: Arc<Mutex<mpsc::UnboundedReceiver<Uuid>>>) {
    let mut receiver = receiver.lock().await;
    let mut ids = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut ids, BATCH).await > 0 {
        let result = async {
            let mut conn = state.pool.get().await?;
            log::mark_finished(&mut conn, &ids).await?;
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, bookings = ids.len(), "could not record finished bookings; recovery will");
        }
        ids.clear();
    }
}
