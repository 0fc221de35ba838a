//! The outbox: writes other airlines must see are stored here in the same transaction as the
//! local change, one row per receiving peer, and a worker delivers them until acknowledged.
//! Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several replicas of one airline can run
//! the worker side by side; every receiving endpoint is an idempotent upsert, so a delivery
//! repeated after a crash does no harm.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::future::join_all;
use passcom_shared::client::{FinishAction, PeerError};
use passcom_shared::internal::{ReplicatedAccount, ReplicatedPass};
use passcom_shared::AirlineCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::schema::outbox;
use crate::startup::AppState;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum Message {
    Account(ReplicatedAccount),
    Pass(ReplicatedPass),
    /// To a leg's owner: free the seats of a cancelled pass.
    Release {
        booking_id: Uuid,
    },
}

impl Message {
    fn kind(&self) -> &'static str {
        match self {
            Message::Account(_) => "account",
            Message::Pass(_) => "pass",
            Message::Release { .. } => "release",
        }
    }
}

pub async fn enqueue(conn: &mut AsyncPgConnection, peers: &[AirlineCode], message: &Message) -> QueryResult<()> {
    if peers.is_empty() {
        return Ok(());
    }
    let payload = serde_json::to_value(message).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    let rows: Vec<_> = peers
        .iter()
        .map(|peer| (outbox::peer.eq(peer.as_str()), outbox::kind.eq(message.kind()), outbox::payload.eq(&payload)))
        .collect();
    diesel::insert_into(outbox::table).values(rows).execute(conn).await.map(drop)
}

const BATCH: i64 = 100;
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

#[derive(Debug)]
enum Delivery {
    Done,
    Retry(String),
}

/// One round: claims due rows, delivers them per peer in parallel (in order within a peer),
/// and records each outcome. Returns how many rows it claimed.
pub async fn deliver_due(state: &AppState) -> anyhow::Result<usize> {
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, anyhow::Error, _>(|conn| {
        async move {
            let due: Vec<(i64, String, serde_json::Value, i32)> = outbox::table
                .filter(outbox::next_attempt_at.le(Utc::now()))
                .order(outbox::id)
                .limit(BATCH)
                .select((outbox::id, outbox::peer, outbox::payload, outbox::attempts))
                .for_update()
                .skip_locked()
                .load(conn)
                .await?;
            let claimed = due.len();
            let mut by_peer: BTreeMap<String, Vec<(i64, serde_json::Value, i32)>> = BTreeMap::new();
            for (id, peer, payload, attempts) in due {
                by_peer.entry(peer).or_default().push((id, payload, attempts));
            }
            let outcomes = join_all(by_peer.into_iter().map(|(peer, rows)| deliver_to_peer(state, peer, rows))).await;
            for (id, attempts, outcome) in outcomes.into_iter().flatten() {
                match outcome {
                    Delivery::Done => {
                        diesel::delete(outbox::table.find(id)).execute(conn).await?;
                    }
                    Delivery::Retry(why) => {
                        diesel::update(outbox::table.find(id))
                            .set((
                                outbox::attempts.eq(attempts + 1),
                                outbox::next_attempt_at.eq(Utc::now() + backoff(attempts)),
                                outbox::last_error.eq(why.chars().take(500).collect::<String>()),
                            ))
                            .execute(conn)
                            .await?;
                    }
                }
            }
            Ok(claimed)
        }
        .scope_boxed()
    })
    .await
}

async fn deliver_to_peer(
    state: &AppState,
    peer_code: String,
    rows: Vec<(i64, serde_json::Value, i32)>,
) -> Vec<(i64, i32, Delivery)> {
    let mut results = Vec::with_capacity(rows.len());
    let peer = AirlineCode::parse(&peer_code).ok().and_then(|code| state.federation.peer(&code));
    let request_id = format!("outbox-{}", Uuid::new_v4());
    let mut peer_down = false;
    for (id, payload, attempts) in rows {
        let outcome = match (peer, serde_json::from_value::<Message>(payload)) {
            // Once one delivery to a peer fails as unreachable, the rest of the round waits: it
            // keeps order and spares a down peer a burst of calls.
            _ if peer_down => Delivery::Retry("peer unreachable earlier in this round".into()),
            (None, _) => {
                tracing::error!(peer = %peer_code, id, "outbox row for an airline that is not a peer; dropped");
                Delivery::Done
            }
            (_, Err(e)) => {
                tracing::error!(id, error = %e, "outbox row with an unreadable payload; dropped");
                Delivery::Done
            }
            (Some(peer), Ok(message)) => {
                let kind = message.kind();
                let sent = match message {
                    Message::Account(account) => {
                        state
                            .federation
                            .call(peer, "put_account", &request_id, |ctx| peer.client.put_account(ctx, &account))
                            .await
                    }
                    Message::Pass(pass) => {
                        state
                            .federation
                            .call(peer, "put_pass", &request_id, |ctx| peer.client.put_pass(ctx, &pass))
                            .await
                    }
                    Message::Release { booking_id } => state
                        .federation
                        .call(peer, "release", &request_id, |ctx| {
                            peer.client.finish(ctx, booking_id, FinishAction::Release)
                        })
                        .await
                        .map(drop),
                };
                match sent {
                    Ok(()) => {
                        state.metrics.outbox_delivery(&peer_code, "delivered");
                        Delivery::Done
                    }
                    Err(PeerError::Refused(problem)) => {
                        // A definite refusal will not change on retry; keep the evidence.
                        tracing::error!(peer = %peer_code, id, kind, code = %problem.code, detail = %problem.detail, "peer refused a replicated write; dropped");
                        state.metrics.outbox_delivery(&peer_code, "refused");
                        Delivery::Done
                    }
                    Err(e) => {
                        peer_down = true;
                        state.metrics.outbox_delivery(&peer_code, "retry");
                        Delivery::Retry(e.to_string())
                    }
                }
            }
        };
        results.push((id, attempts, outcome));
    }
    results
}
