//! The receiving side of replication: checks a peer's batch and applies it in one transaction,
//! in order. It sits above the domain modules it writes through (accounts, passes, seats), so
//! that the outbox, which only stores and forwards, imports none of them.

use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use passcom_shared::internal::{Replicated, ReplicationBatch, ReplicationReceipt};
use passcom_shared::{AirlineCode, MAX_LEGS};

use super::outbox::kind;
use crate::accounts::{self, Login};
use crate::app::AppState;
use crate::booking::participant;
use crate::error::{ApiError, ApiResult};
use crate::passes;

pub async fn receive(state: &AppState, from: &AirlineCode, batch: &ReplicationBatch) -> ApiResult<ReplicationReceipt> {
    for message in &batch.messages {
        match message {
            Replicated::Account(account) => drop(Login::parse(&account.login)?),
            Replicated::Pass(pass) if pass.pass.legs.is_empty() || pass.pass.legs.len() > MAX_LEGS => {
                return Err(ApiError::invalid_body(format!("a pass has 1 to {MAX_LEGS} legs")));
            }
            _ => {}
        }
    }
    let mut conn = state.pool.get().await?;
    let (applied, refused) = apply(&mut conn, from, batch).await?;
    Ok(ReplicationReceipt { applied, refused })
}

/// A message that cannot apply (an account whose login another user holds here, a disruption
/// sent by an airline that does not own the flight) is refused and logged alone, so that it
/// cannot block the writes behind it.
async fn apply(
    conn: &mut AsyncPgConnection,
    from: &AirlineCode,
    batch: &ReplicationBatch,
) -> diesel::QueryResult<(usize, usize)> {
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        async move {
            let (mut applied, mut refused) = (0, 0);
            for message in &batch.messages {
                let ok = match message {
                    Replicated::Account(account) => accounts::insert_account(conn, account).await?,
                    Replicated::Pass(pass) => passes::upsert(conn, pass).await.map(|()| true)?,
                    Replicated::Release { booking_id } => participant::release(conn, *booking_id).await.map(|_| true)?,
                    // Only the flight's owner may say that it was cancelled.
                    Replicated::Disruption(disruption) if &disruption.airline != from => false,
                    Replicated::Disruption(disruption) => passes::disrupt(conn, disruption).await.map(|_| true)?,
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
