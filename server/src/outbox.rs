//! The outbox: writes other airlines must see are stored here in the same transaction as the
//! local change, one row per write naming the peers still to receive it, and a worker delivers
//! them until every peer has acknowledged.
//! Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several replicas of one airline can run
//! the worker side by side. Each round sends a peer everything due for it in one call, applied
//! there in one transaction; every write is an idempotent upsert, so a delivery repeated after
//! a crash does no harm.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::future::join_all;
pub use passcom_shared::internal::Replicated;
use passcom_shared::internal::ReplicationBatch;
use passcom_shared::AirlineCode;
use uuid::Uuid;

use crate::accounts;
use crate::booking::participant;
use crate::passes;
use crate::schema::outbox;
use crate::startup::AppState;

fn kind(message: &Replicated) -> &'static str {
    match message {
        Replicated::Account(_) => "account",
        Replicated::Pass(_) => "pass",
        Replicated::Release { .. } => "release",
    }
}

pub async fn enqueue(conn: &mut AsyncPgConnection, peers: &[AirlineCode], message: &Replicated) -> QueryResult<()> {
    if peers.is_empty() {
        return Ok(());
    }
    let payload = serde_json::to_value(message).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let peers: Vec<&str> = peers.iter().map(AirlineCode::as_str).collect();
    diesel::insert_into(outbox::table)
        .values((outbox::peers.eq(peers), outbox::kind.eq(kind(message)), outbox::payload.eq(&payload)))
        .execute(conn)
        .await
        .map(drop)
}

const BATCH: i64 = 200;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

fn backoff(attempts: i32) -> chrono::Duration {
    let millis = 100u64.saturating_mul(1u64 << attempts.clamp(0, 16));
    chrono::Duration::from_std(Duration::from_millis(millis).min(MAX_BACKOFF)).unwrap_or(chrono::Duration::seconds(5))
}

/// Delivers everything due until the server stops: woken at once after a local write, and
/// every `worker_interval` for retries.
pub async fn run(state: actix_web::web::Data<AppState>) {
    loop {
        match deliver_due(&state).await {
            Ok(n) if n as i64 == BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox delivery round failed"),
        }
        tokio::select! {
            _ = state.outbox_wake.notified() => {}
            _ = tokio::time::sleep(state.settings.worker_interval) => {}
        }
    }
}

/// `(id, peers still to receive it, payload, attempts)`
type Row = (i64, Vec<String>, serde_json::Value, i32);

/// One round: claims due rows, sends each peer its messages in one call (all peers in
/// parallel), then deletes the rows every peer has acknowledged and, for the others, keeps only
/// the peers still missing and backs off. Returns the rows claimed.
pub async fn deliver_due(state: &AppState) -> anyhow::Result<usize> {
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, anyhow::Error, _>(|conn| {
        async move {
            let due: Vec<Row> = outbox::table
                .filter(outbox::next_attempt_at.le(Utc::now()))
                .order(outbox::id)
                .limit(BATCH)
                .select((outbox::id, outbox::peers, outbox::payload, outbox::attempts))
                .for_update()
                .skip_locked()
                .load(conn)
                .await?;
            let mut by_peer: BTreeMap<&str, Vec<(i64, &serde_json::Value)>> = BTreeMap::new();
            for (id, peers, payload, _) in &due {
                for peer in peers {
                    by_peer.entry(peer.as_str()).or_default().push((*id, payload));
                }
            }
            let failed: BTreeMap<&str, String> = join_all(
                by_peer
                    .into_iter()
                    .map(|(peer, rows)| async move { (peer, deliver_to_peer(state, peer, &rows).await) }),
            )
            .await
            .into_iter()
            .filter_map(|(peer, failure)| Some((peer, failure?)))
            .collect();
            let mut done = Vec::new();
            for (id, peers, _, attempts) in &due {
                let missing: Vec<&str> = peers.iter().map(String::as_str).filter(|p| failed.contains_key(p)).collect();
                if missing.is_empty() {
                    done.push(*id);
                    continue;
                }
                let why: Vec<&str> = missing.iter().filter_map(|p| failed.get(p).map(String::as_str)).collect();
                diesel::update(outbox::table.find(id))
                    .set((
                        outbox::peers.eq(&missing),
                        outbox::attempts.eq(attempts + 1),
                        outbox::next_attempt_at.eq(Utc::now() + backoff(*attempts)),
                        outbox::last_error.eq(why.join("; ").chars().take(500).collect::<String>()),
                    ))
                    .execute(conn)
                    .await?;
            }
            diesel::delete(outbox::table.filter(outbox::id.eq_any(&done))).execute(conn).await?;
            Ok(due.len())
        }
        .scope_boxed()
    })
    .await
}

/// Sends one peer its messages; `None` when it acknowledged them all, else why not.
async fn deliver_to_peer(state: &AppState, peer_code: &str, rows: &[(i64, &serde_json::Value)]) -> Option<String> {
    let Some(peer) = AirlineCode::parse(peer_code).ok().and_then(|code| state.federation.peer(&code)) else {
        tracing::error!(peer = %peer_code, rows = rows.len(), "outbox rows for an airline that is not a peer; dropped");
        return None;
    };
    let mut messages = Vec::with_capacity(rows.len());
    for (id, payload) in rows {
        match serde_json::from_value::<Replicated>((*payload).clone()) {
            Ok(message) => messages.push(message),
            Err(e) => tracing::error!(id, error = %e, "outbox row with an unreadable payload; dropped"),
        }
    }
    let batch = ReplicationBatch { messages };
    let request_id = format!("outbox-{}", Uuid::new_v4());
    match state.federation.call(peer, "replicate", &request_id, |ctx| peer.client.replicate(ctx, &batch)).await {
        Ok(receipt) => {
            state.metrics.outbox_delivery(peer_code, "delivered", receipt.applied);
            if receipt.refused > 0 {
                state.metrics.outbox_delivery(peer_code, "refused", receipt.refused);
            }
            None
        }
        Err(e) => {
            // Refusals of the whole batch (auth, format) are kept too: losing a write is worse
            // than retrying one that a fixed peer will accept.
            state.metrics.outbox_delivery(peer_code, "retry", rows.len());
            Some(e.to_string())
        }
    }
}

/// The receiving side: applies a peer's batch in one transaction, in order. A message that
/// cannot apply (an account whose login another user holds here) is refused and logged alone,
/// so that it cannot block the writes behind it.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    from: &AirlineCode,
    batch: &ReplicationBatch,
) -> QueryResult<(usize, usize)> {
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        async move {
            let (mut applied, mut refused) = (0, 0);
            for message in &batch.messages {
                let ok = match message {
                    Replicated::Account(account) => accounts::insert_account(conn, account).await?,
                    Replicated::Pass(pass) => passes::upsert(conn, pass).await.map(|()| true)?,
                    Replicated::Release { booking_id } => participant::release(conn, *booking_id).await.map(|_| true)?,
                };
                if ok {
                    applied += 1;
                } else {
                    refused += 1;
                    tracing::error!(%from, kind = kind(message), "refused a replicated write that conflicts with local data");
                }
            }
            Ok((applied, refused))
        }
        .scope_boxed()
    })
    .await
}
