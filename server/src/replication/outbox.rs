//! The outbox: writes other airlines must see are stored here in the same transaction as the
//! local change, one row per write naming the peers still to receive it, and a worker delivers
//! them until every peer has acknowledged.
//! Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several replicas of one airline can run
//! the worker side by side. Each round sends a peer everything due for it in one call, applied
//! there in one transaction; every write is an idempotent upsert, so a delivery repeated after
//! a crash does no harm.

use std::collections::BTreeMap;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::scoped_futures::{ScopedBoxFuture, ScopedFutureExt};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::future::{self, join_all, BoxFuture};
use futures::FutureExt;
use passcom_shared::internal::{Replicated, ReplicationBatch, MAX_REPLICATION_BODY};
use passcom_shared::AirlineCode;
use uuid::Uuid;

use crate::app::AppState;
use crate::schema::outbox;

pub fn kind(message: &Replicated) -> &'static str {
    match message {
        Replicated::Account(_) => "account",
        Replicated::Pass(_) => "pass",
        Replicated::Release { .. } => "release",
        Replicated::Disruption(_) => "disruption",
    }
}

/// Who receives a message.
pub enum To<'a> {
    EveryPeer,
    /// These airlines, except this one.
    Only(&'a [AirlineCode]),
}

/// Queues `message` in the caller's transaction. Run that transaction through [`transaction`],
/// which wakes the worker once it commits; otherwise the message leaves within one
/// `worker_interval`.
///
/// The returned future owns its INSERT and borrows nothing, and PostgreSQL receives it when the
/// future is first polled: a caller may poll it together with its next statements on the same
/// connection (one round trip for all, run in the order polled).
pub fn enqueue(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    to: To<'_>,
    message: &Replicated,
) -> BoxFuture<'static, QueryResult<()>> {
    let federation = &state.federation;
    let peers: Vec<String> = match to {
        To::EveryPeer => federation.peers().iter().map(|p| p.airline.to_string()).collect(),
        To::Only(airlines) => airlines.iter().filter(|a| *a != federation.own()).map(ToString::to_string).collect(),
    };
    if peers.is_empty() {
        return future::ready(Ok(())).boxed();
    }
    let payload = match serde_json::to_value(message) {
        Ok(payload) => payload,
        Err(e) => return future::ready(Err(diesel::result::Error::SerializationError(Box::new(e)))).boxed(),
    };
    diesel::insert_into(outbox::table)
        .values((outbox::peers.eq(peers), outbox::kind.eq(kind(message)), outbox::payload.eq(payload)))
        .execute(conn)
        .map(|inserted| inserted.map(drop))
        .boxed()
}

/// `conn.transaction(f)`, then a wake-up for the worker once it committed: a row queued in a
/// transaction is invisible to the worker until the commit, so waking it earlier would find
/// nothing.
pub async fn transaction<'a, R, E, F>(state: &AppState, conn: &mut AsyncPgConnection, f: F) -> Result<R, E>
where
    F: for<'r> FnOnce(&'r mut AsyncPgConnection) -> ScopedBoxFuture<'a, 'r, Result<R, E>> + Send + 'a,
    E: From<diesel::result::Error> + Send + 'a,
    R: Send + 'a,
{
    let result = conn.transaction(f).await;
    if result.is_ok() {
        state.outbox_wake.notify_one();
    }
    result
}

const BATCH: i64 = 200;
/// Any fixed number shared by the replicas of one airline: one delivery round at a time.
const DELIVERY_LOCK: i64 = 0x5041_5353_4f55_5442;
/// Each call to a peer carries at most this much, well under what the peer accepts.
const CALL_BYTES: usize = MAX_REPLICATION_BODY / 2;

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

/// `(id, peers still to receive it, payload)`
type Row = (i64, Vec<String>, serde_json::Value);

/// One round, one replica at a time: reads due rows, sends each peer its messages (all peers in
/// parallel), then deletes the rows every peer has acknowledged and, for the others, keeps only
/// the peers still missing and backs off. Returns the rows read.
pub async fn deliver_due(state: &AppState) -> anyhow::Result<usize> {
    let mut conn = state.pool.get().await?;
    conn.transaction::<_, anyhow::Error, _>(|conn| {
        async move {
            if !crate::db::try_round_lock(conn, DELIVERY_LOCK).await? {
                return Ok(0);
            }
            let due: Vec<Row> = outbox::table
                .filter(outbox::next_attempt_at.le(Utc::now()))
                .order(outbox::id)
                .limit(BATCH)
                .select((outbox::id, outbox::peers, outbox::payload))
                .load(conn)
                .await?;
            let mut by_peer: BTreeMap<&str, Vec<(i64, &serde_json::Value)>> = BTreeMap::new();
            for (id, peers, payload) in &due {
                for peer in peers {
                    by_peer.entry(peer.as_str()).or_default().push((*id, payload));
                }
            }
            let undelivered = join_all(
                by_peer
                    .into_iter()
                    .map(|(peer, rows)| async move { (peer, deliver_to_peer(state, peer, &rows).await) }),
            )
            .await;
            // Rows that some peer still lacks, grouped by what they lack and why, so that each
            // group is written back in one statement.
            let mut missing: BTreeMap<i64, (Vec<&str>, Vec<String>)> = BTreeMap::new();
            for (peer, failures) in &undelivered {
                for (id, why) in failures {
                    let (peers, whys) = missing.entry(*id).or_default();
                    peers.push(peer);
                    whys.push(why.clone());
                }
            }
            let mut retries: BTreeMap<(Vec<&str>, String), Vec<i64>> = BTreeMap::new();
            for (id, (peers, whys)) in missing.iter() {
                let why: String = whys.join("; ").chars().take(500).collect();
                retries.entry((peers.clone(), why)).or_default().push(*id);
            }
            for ((peers, why), ids) in &retries {
                diesel::update(outbox::table.filter(outbox::id.eq_any(ids)))
                    .set((
                        outbox::peers.eq(peers),
                        outbox::attempts.eq(outbox::attempts + 1),
                        outbox::next_attempt_at.eq(retry_at()),
                        outbox::last_error.eq(why),
                    ))
                    .execute(conn)
                    .await?;
            }
            let done: Vec<i64> = due.iter().map(|(id, _, _)| *id).filter(|id| !missing.contains_key(id)).collect();
            diesel::delete(outbox::table.filter(outbox::id.eq_any(&done))).execute(conn).await?;
            Ok(due.len())
        }
        .scope_boxed()
    })
    .await
}

/// When a row that has failed `attempts` times is due again: 100 ms, doubling, at most 5 s.
fn retry_at() -> diesel::expression::SqlLiteral<diesel::sql_types::Timestamptz> {
    diesel::dsl::sql(
        "now() + least(interval '5 seconds', interval '100 milliseconds' * power(2, least(outbox.attempts, 16)))",
    )
}

/// Sends one peer its messages, in calls that stay under the size a peer accepts; returns the
/// rows it has not acknowledged, each with why.
async fn deliver_to_peer(state: &AppState, peer_code: &str, rows: &[(i64, &serde_json::Value)]) -> Vec<(i64, String)> {
    let Some(peer) = AirlineCode::parse(peer_code).ok().and_then(|code| state.federation.peer(&code)) else {
        tracing::error!(peer = %peer_code, rows = rows.len(), "outbox rows for an airline that is not a peer; dropped");
        return Vec::new();
    };
    let mut undelivered = Vec::new();
    for (ids, messages) in split_into_calls(rows, CALL_BYTES) {
        let count = messages.len();
        let batch = ReplicationBatch { messages };
        let request_id = format!("outbox-{}", Uuid::new_v4());
        match peer.replicate(&request_id, &batch).await {
            Ok(receipt) => {
                state.metrics.outbox_delivery(peer_code, "delivered", receipt.applied);
                if receipt.refused > 0 {
                    state.metrics.outbox_delivery(peer_code, "refused", receipt.refused);
                }
            }
            Err(e) => {
                // Refusals of the whole batch (auth, format) are kept too: losing a write is
                // worse than retrying one that a fixed peer will accept.
                state.metrics.outbox_delivery(peer_code, "retry", count);
                let why = e.to_string();
                undelivered.extend(ids.into_iter().map(|id| (id, why.clone())));
            }
        }
    }
    undelivered
}

/// Cuts a peer's rows into calls of at most `max_bytes` of payload each (a larger row goes
/// alone), skipping rows that no longer parse.
fn split_into_calls(rows: &[(i64, &serde_json::Value)], max_bytes: usize) -> Vec<(Vec<i64>, Vec<Replicated>)> {
    let mut calls: Vec<(Vec<i64>, Vec<Replicated>)> = Vec::new();
    let mut bytes = 0;
    for (id, payload) in rows {
        let message = match serde_json::from_value::<Replicated>((*payload).clone()) {
            Ok(message) => message,
            Err(e) => {
                tracing::error!(id, error = %e, "outbox row with an unreadable payload; dropped");
                continue;
            }
        };
        let size = payload.to_string().len();
        if calls.is_empty() || bytes + size > max_bytes {
            calls.push((Vec::new(), Vec::new()));
            bytes = 0;
        }
        bytes += size;
        let (ids, messages) = calls.last_mut().expect("a call was just pushed");
        ids.push(*id);
        messages.push(message);
    }
    calls
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn calls_stay_under_the_size_limit_and_keep_the_order() {
        let release = |n: u128| json!({"kind": "release", "payload": {"booking_id": Uuid::from_u128(n)}});
        let payloads: Vec<serde_json::Value> = (0..10).map(release).chain([json!({"kind": "nonsense"})]).collect();
        let rows: Vec<(i64, &serde_json::Value)> = payloads.iter().enumerate().map(|(i, p)| (i as i64, p)).collect();
        let one = payloads[0].to_string().len();

        let calls = split_into_calls(&rows, 3 * one);
        let ids: Vec<Vec<i64>> = calls.iter().map(|(ids, _)| ids.clone()).collect();
        assert_eq!(ids, [vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]], "the unreadable row is dropped");
        assert!(calls.iter().all(|(ids, messages)| ids.len() == messages.len()));

        let oversized = split_into_calls(&rows[..2], one / 2);
        assert_eq!(oversized.iter().map(|(ids, _)| ids.len()).collect::<Vec<_>>(), [1, 1], "a large row goes alone");
    }
}
