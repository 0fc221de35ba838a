//! The receiving side of replication: checks a peer's batch and applies it in one transaction,
//! in order. It sits above the domain modules it writes through (accounts, passes, seats), so
//! that the outbox, which only stores and forwards, imports none of them.
//!
//! A valid service token proves which airline sent a batch, not that it may write what it
//! carries: an account arrives only from its home airline, a pass (or its cancellation) only
//! from its seller, and a release frees only the seats its sender sold. Anything else refuses
//! the whole batch with a 403.
//!
//! A pass is also the commit of its booking (`booking::coordinator`): its seller coordinated
//! the booking, so at an airline that owns one of its legs, the pass sells the seats held for
//! that booking and that seller, in the transaction that stores the pass.

use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::AsyncPgConnection;
use passcom_shared::client::FinishAction;
use passcom_shared::internal::{Replicated, ReplicatedPass, ReplicationBatch, ReplicationReceipt};
use passcom_shared::{AirlineCode, MAX_LEGS};

use super::outbox::{self, kind};
use crate::accounts::{self, Login};
use crate::app::AppState;
use crate::booking::{owners, participant, pass_id};
use crate::error::{ApiError, ApiResult};
use crate::passes;

pub async fn receive(state: &AppState, from: &AirlineCode, batch: &ReplicationBatch) -> ApiResult<ReplicationReceipt> {
    for message in &batch.messages {
        check(from, message)?;
    }
    let mut conn = state.pool.get().await?;
    let (applied, refused) = apply(state, &mut conn, from, batch).await?;
    Ok(ReplicationReceipt { applied, refused })
}

/// The shape of a message, and whether `from` may send it at all.
fn check(from: &AirlineCode, message: &Replicated) -> ApiResult<()> {
    match message {
        Replicated::Account(account) => {
            Login::parse(&account.login)?;
            if account.home_airline != *from {
                return Err(ApiError::forbidden(
                    "an account is replicated only by the airline where it was registered",
                ));
            }
        }
        Replicated::Pass(pass) => {
            if pass.pass.legs.is_empty() || pass.pass.legs.len() > MAX_LEGS {
                return Err(ApiError::invalid_body(format!("a pass has 1 to {MAX_LEGS} legs")));
            }
            if pass.pass.sold_by != *from {
                return Err(ApiError::forbidden("a pass and its cancellation come only from the airline that sold it"));
            }
            if !pass_id::may_be_sold_by(pass.pass.pass_id, from) {
                return Err(ApiError::forbidden("this pass's id was made by another airline"));
            }
        }
        // Which seats a release may free is known only from the seats themselves, and whether
        // a disruption's sender owns the flight only from its segments.
        Replicated::Release { .. } | Replicated::Disruption(_) => {}
    }
    Ok(())
}

/// A message that cannot apply (an account whose login another user holds here, a disruption
/// sent by an airline that does not own the flight) is refused and logged alone, so that it
/// cannot block the writes behind it.
async fn apply(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    from: &AirlineCode,
    batch: &ReplicationBatch,
) -> ApiResult<(usize, usize)> {
    outbox::transaction(state, conn, |conn| {
        async move {
            let (mut applied, mut refused) = (0, 0);
            // Passes in a row are stored together; any other message alone (a run of one).
            for run in batch.messages.chunk_by(|a, b| is_pass(a) && is_pass(b)) {
                let message = &run[0];
                let ok = match message {
                    Replicated::Account(account) => accounts::insert_account(conn, account).await?,
                    Replicated::Pass(_) => store_passes(state, conn, from, run).await.map(|()| true)?,
                    Replicated::Release { booking_id } => {
                        let freed = participant::release(conn, *booking_id, Some(from)).await?;
                        if freed == 0 && participant::coordinated_by_another(conn, *booking_id, from).await? {
                            return Err(ApiError::forbidden("only the airline that sold a pass releases its seats"));
                        }
                        true
                    }
                    // Only the flight's owner may say that it was cancelled.
                    Replicated::Disruption(disruption) if &disruption.airline != from => false,
                    Replicated::Disruption(disruption) => passes::disrupt(conn, disruption).await.map(|_| true)?,
                };
                if ok {
                    applied += run.len();
                } else {
                    refused += run.len();
                    tracing::error!(%from, kind = kind(message), "refused a replicated write that conflicts with local data");
                }
            }
            Ok((applied, refused))
        }
        .scope_boxed()
    })
    .await
}

fn is_pass(message: &Replicated) -> bool {
    matches!(message, Replicated::Pass(_))
}

/// Stores passes from their seller, their INSERTs sent in one round trip, and, where we own one
/// of a pass's legs, sells what we hold for it. A repeat sells nothing, and a pass that arrives
/// after its seats were freed (it was cancelled) finds no hold to sell.
async fn store_passes(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    seller: &AirlineCode,
    run: &[Replicated],
) -> ApiResult<()> {
    let run: Vec<&ReplicatedPass> = run
        .iter()
        .filter_map(|message| match message {
            Replicated::Pass(pass) => Some(pass),
            _ => None,
        })
        .collect();
    let sent: Vec<_> = run.iter().map(|pass| passes::send_insert(conn, pass)).collect();
    let inserted = futures::future::try_join_all(sent).await?;
    let own = &state.settings.airline;
    for (pass, inserted) in run.into_iter().zip(inserted) {
        passes::move_forward(conn, pass, inserted).await?;
        if pass.pass.legs.iter().any(|leg| leg.airline == *own) {
            owners::finish_here(state, conn, pass.pass.pass_id, FinishAction::Commit, Some(seller)).await?;
        }
    }
    Ok(())
}
