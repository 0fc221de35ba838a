//! Recovery, on every server and safe with several replicas of one airline:
//!
//! - as coordinator, it aborts bookings still `preparing` past `prepare_timeout` (by default the
//!   booking deadline plus `config::PREPARE_MARGIN`: a live request has decided by then, so what
//!   is left was abandoned by a coordinator that died), and keeps sending the decision of every
//!   decided but unfinished booking until each owner acknowledges;
//! - as participant, it resolves holds by asking the booking's coordinator: `committed` sells,
//!   `aborted` or unknown frees, and no answer keeps the hold. It never frees a seat on its own.
//!   It asks about a hold once it is `PASSCOM_HOLD_CHECK_SECS` old, long after its booking
//!   should have been decided, rather than at the end of its TTL: a hold that reached us after
//!   its booking was aborted (and its abort had come and gone) is freed within seconds.
//!
//! With two replicas on one database, each step stays right when both run it: the abort of a
//! stale booking is one conditional UPDATE (`preparing` only, and the commit point requires
//! `preparing`, so a booking another replica is still running is never both aborted and
//! committed; the timeout is past any live booking's deadline anyway); decided bookings are
//! claimed with `SKIP LOCKED`, and a replica that dies releases its claim with its transaction;
//! the answer about an old hold is applied by UPDATEs on seats still `held` for that booking,
//! so asking twice only costs a question.

use chrono::Utc;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::AsyncConnection;
use passcom_shared::client::FinishAction;
use passcom_shared::internal::Decision;
use passcom_shared::AirlineCode;

use super::log::{self, BookingState};
use super::{owners, participant};
use crate::app::AppState;

/// A decided booking is left to its live request this long before recovery takes it over.
const GRACE: chrono::Duration = chrono::Duration::seconds(2);
const BATCH: i64 = 20;
/// Any fixed number shared by the replicas of one airline: one round of finishing at a time.
const RECOVERY_LOCK: i64 = 0x5041_5353_5245_4356;

pub async fn run(state: actix_web::web::Data<AppState>) {
    loop {
        if let Err(e) = round(&state).await {
            tracing::warn!(error = %e, "recovery round failed");
        }
        tokio::time::sleep(state.settings.worker_interval).await;
    }
}

pub async fn round(state: &AppState) -> anyhow::Result<()> {
    abort_stale(state).await?;
    drive_decided(state).await?;
    resolve_old_holds(state).await?;
    Ok(())
}

/// The abort is made durable before any owner hears of it.
async fn abort_stale(state: &AppState) -> anyhow::Result<()> {
    let mut conn = state.pool.get().await?;
    let cutoff = Utc::now() - chrono::Duration::from_std(state.settings.prepare_timeout)?;
    let aborted = log::abort_stale(&mut conn, cutoff).await?;
    if aborted > 0 {
        tracing::warn!(aborted, "aborted bookings stuck in preparing");
    }
    Ok(())
}

async fn drive_decided(state: &AppState) -> anyhow::Result<()> {
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, anyhow::Error, _>(|conn| {
        async move {
            if !crate::db::try_round_lock(conn, RECOVERY_LOCK).await? {
                return Ok(());
            }
            let mut finished = Vec::new();
            for booking in log::unfinished(conn, Utc::now() - GRACE, BATCH).await? {
                let action =
                    if booking.state == BookingState::Committed { FinishAction::Commit } else { FinishAction::Abort };
                let (booking_id, request_id) = (booking.booking_id, format!("recovery-{}", booking.booking_id));
                if owners::finish_everywhere(state, &request_id, booking_id, &booking.owners, action).await {
                    tracing::info!(%booking_id, action = action.as_str(), "recovery finished a booking");
                    finished.push(booking_id);
                }
            }
            // Written after the owners' calls: the transaction gets an id only now.
            if !finished.is_empty() {
                log::mark_finished(conn, &finished).await?;
            }
            Ok(())
        }
        .scope_boxed()
    })
    .await
}

async fn resolve_old_holds(state: &AppState) -> anyhow::Result<()> {
    let mut conn = state.pool.get().await?;
    // A hold taken `hold_check_after` ago expires `hold_ttl - hold_check_after` from now; with a
    // TTL shorter than that, holds are questioned once they expire.
    let settled = state.settings.hold_ttl.saturating_sub(state.settings.hold_check_after);
    let due_before = Utc::now() + chrono::Duration::from_std(settled)?;
    for (booking_id, coordinator) in participant::holds_to_question(&mut conn, due_before, 50).await? {
        let asked = match coordinator.and_then(|c| AirlineCode::parse(&c).ok()) {
            Some(coordinator) => owners::decision_of(state, &coordinator, booking_id).await,
            None => Err(anyhow::anyhow!("hold names no coordinator")),
        };
        match asked {
            Ok(Decision::Committed) => {
                owners::finish_here(state, &mut conn, booking_id, FinishAction::Commit, None).await?;
                tracing::info!(%booking_id, "old hold sold: the coordinator committed");
            }
            Ok(Decision::Aborted | Decision::Unknown) => {
                participant::abort(&mut conn, booking_id, None).await?;
                tracing::info!(%booking_id, "old hold freed: the coordinator aborted or never knew it");
            }
            Ok(Decision::Preparing) => {
                tracing::debug!(%booking_id, "old hold kept: the coordinator is still deciding")
            }
            Err(e) => tracing::warn!(%booking_id, error = %e, "old hold kept: no decision from the coordinator"),
        }
    }
    Ok(())
}
