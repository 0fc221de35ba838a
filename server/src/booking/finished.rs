//! Recording that every owner acknowledged a committed booking is bookkeeping for recovery,
//! not part of the answer: a lost record only makes recovery resend commits the owners already
//! have. So these records are batched, one UPDATE for many bookings, off the request path.

use std::sync::Mutex;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::schema::bookings;
use crate::startup::AppState;

pub struct Finished {
    sender: mpsc::UnboundedSender<Uuid>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Uuid>>>,
}

impl Default for Finished {
    fn default() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self { sender, receiver: Mutex::new(Some(receiver)) }
    }
}

impl Finished {
    /// Queues the record; the worker writes it within moments.
    pub fn record(&self, booking_id: Uuid) {
        // Only fails once the worker is gone, i.e. the server is stopping: recovery covers it.
        let _ = self.sender.send(booking_id);
    }
}

const BATCH: usize = 1000;

pub async fn run(state: actix_web::web::Data<AppState>) {
    let Some(mut receiver) = state.finished.receiver.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    else {
        return;
    };
    let mut ids = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut ids, BATCH).await > 0 {
        let result = async {
            let mut conn = state.pool.get().await?;
            let done =
                bookings::table.filter(bookings::booking_id.eq_any(&ids)).filter(bookings::state.eq("committed"));
            diesel::update(done)
                .set((bookings::finished.eq(true), bookings::updated_at.eq(Utc::now())))
                .execute(&mut conn)
                .await?;
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, bookings = ids.len(), "could not record finished bookings; recovery will");
        }
        ids.clear();
    }
}
