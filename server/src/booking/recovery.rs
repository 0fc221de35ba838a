//! Recovery, on every server and safe with several replicas of one airline:
//!
//! - as coordinator, it aborts bookings stuck in `preparing` past the timeout, and keeps sending
//!   the decision of every decided but unfinished booking until each owner acknowledges;
//! - as participant, it resolves holds past their deadline by asking the booking's coordinator:
//!   `committed` sells, `aborted` or unknown frees, and no answer keeps the hold. It never frees
//!   a seat on its own.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use passcom_shared::api::LegRequest;
use passcom_shared::client::FinishAction;
use passcom_shared::internal::Decision;
use passcom_shared::AirlineCode;
use uuid::Uuid;

use super::coordinator::finish_everywhere;
use super::participant;
use crate::schema::bookings;
use crate::startup::AppState;

/// A decided booking is left to its live request this long before recovery takes it over.
const GRACE: chrono::Duration = chrono::Duration::seconds(2);
const BATCH: i64 = 20;

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
    resolve_expired_holds(state).await?;
    Ok(())
}

/// The abort is made durable before any owner hears of it.
async fn abort_stale(state: &AppState) -> anyhow::Result<()> {
    let mut conn = state.pool.get().await?;
    let cutoff = Utc::now() - chrono::Duration::from_std(state.settings.prepare_timeout)?;
    let aborted =
        diesel::update(bookings::table.filter(bookings::state.eq("preparing")).filter(bookings::created_at.lt(cutoff)))
            .set((bookings::state.eq("aborted"), bookings::updated_at.eq(Utc::now())))
            .execute(&mut conn)
            .await?;
    if aborted > 0 {
        tracing::warn!(aborted, "aborted bookings stuck in preparing");
    }
    Ok(())
}

async fn drive_decided(state: &AppState) -> anyhow::Result<()> {
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, anyhow::Error, _>(|conn| {
        async move {
            let due: Vec<(Uuid, String, serde_json::Value)> = bookings::table
                .filter(bookings::finished.eq(false))
                .filter(bookings::state.ne("preparing"))
                .filter(bookings::updated_at.lt(Utc::now() - GRACE))
                .order(bookings::created_at)
                .limit(BATCH)
                .select((bookings::booking_id, bookings::state, bookings::legs))
                .for_update()
                .skip_locked()
                .load(conn)
                .await?;
            for (booking_id, decided, legs) in due {
                let legs: Vec<LegRequest> = serde_json::from_value(legs)?;
                let mut owners: Vec<AirlineCode> = legs.into_iter().map(|l| l.airline).collect();
                owners.sort();
                owners.dedup();
                let action = if decided == "committed" { FinishAction::Commit } else { FinishAction::Abort };
                let request_id = format!("recovery-{booking_id}");
                if finish_everywhere(state, &request_id, booking_id, &owners, action).await {
                    tracing::info!(%booking_id, action = action.as_str(), "recovery finished a booking");
                    diesel::update(bookings::table.find(booking_id))
                        .set((bookings::finished.eq(true), bookings::updated_at.eq(Utc::now())))
                        .execute(conn)
                        .await?;
                }
            }
            Ok(())
        }
        .scope_boxed()
    })
    .await
}

pub async fn decision(conn: &mut AsyncPgConnection, booking_id: Uuid) -> QueryResult<Decision> {
    let state: Option<String> =
        bookings::table.find(booking_id).select(bookings::state).first(conn).await.optional()?;
    Ok(match state.as_deref() {
        Some("committed") => Decision::Committed,
        Some("aborted") => Decision::Aborted,
        Some(_) => Decision::Preparing,
        None => Decision::Unknown,
    })
}

async fn resolve_expired_holds(state: &AppState) -> anyhow::Result<()> {
    let mut conn = state.pool.get().await?;
    for (booking_id, coordinator) in participant::expired_holds(&mut conn, 50).await? {
        let coordinator = coordinator.and_then(|c| AirlineCode::parse(&c).ok());
        let asked = match &coordinator {
            Some(c) if *c == state.settings.airline => {
                decision(&mut conn, booking_id).await.map_err(anyhow::Error::from)
            }
            Some(c) => match state.federation.peer(c) {
                Some(peer) => state
                    .federation
                    .call(peer, "decision", &format!("recovery-{booking_id}"), |ctx| {
                        peer.client.decision(ctx, booking_id)
                    })
                    .await
                    .map(|body| body.decision)
                    .map_err(anyhow::Error::from),
                None => Err(anyhow::anyhow!("coordinator {c} is not a peer")),
            },
            None => Err(anyhow::anyhow!("hold names no coordinator")),
        };
        match asked {
            Ok(Decision::Committed) => {
                participant::commit(&mut conn, booking_id, None).await?;
                tracing::info!(%booking_id, "expired hold sold: the coordinator committed");
            }
            Ok(Decision::Aborted | Decision::Unknown) => {
                participant::abort(&mut conn, booking_id, None).await?;
                tracing::info!(%booking_id, "expired hold freed: the coordinator aborted or never knew it");
            }
            Ok(Decision::Preparing) => {
                tracing::debug!(%booking_id, "expired hold kept: the coordinator is still deciding")
            }
            Err(e) => tracing::warn!(%booking_id, error = %e, "expired hold kept: no decision from the coordinator"),
        }
    }
    Ok(())
}
