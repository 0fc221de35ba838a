//! Passes disrupted by a cancelled flight, as the flight's owner decides them: each is marked
//! here and sent to every airline through the outbox, in the transaction that found it.
//!
//! Two moments find them. The cancellation itself disrupts every pass with a sold seat on the
//! flight. A booking that held a seat before the cancellation and was committed afterwards
//! cannot be refused (its coordinator decided on our yes vote), so the sale goes through and
//! [`after_sale`] disrupts its pass at once.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passcom_shared::internal::{Replicated, ReplicatedDisruption};
use passcom_shared::SegmentId;
use uuid::Uuid;

use crate::app::AppState;
use crate::catalog::local::SeatStatus;
use crate::passes;
use crate::replication::outbox::{self, To};

/// Disrupts the pass here and queues the disruption for every peer, in the caller's
/// transaction; a repeat changes nothing and sends nothing.
async fn record(state: &AppState, conn: &mut AsyncPgConnection, disruption: ReplicatedDisruption) -> QueryResult<bool> {
    let new = passes::disrupt(conn, &disruption).await?;
    if new {
        outbox::enqueue(state, conn, To::EveryPeer, &Replicated::Disruption(disruption)).await?;
    }
    Ok(new)
}

type QueryResult<T> = diesel::QueryResult<T>;

#[derive(QueryableByName)]
struct Booked {
    #[diesel(sql_type = SqlUuid)]
    booking_id: Uuid,
}

/// In the cancellation's transaction, after the segment row was updated (so no sale on it can
/// still be running): disrupts the pass of every sold seat. Returns how many passes.
pub async fn disrupt_flight(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    segment_id: &SegmentId,
    reason: &str,
    at: DateTime<Utc>,
) -> QueryResult<u64> {
    let booked: Vec<Booked> = diesel::sql_query(
        // In one order, so that two transactions locking several of these passes cannot deadlock.
        "SELECT DISTINCT booking_id FROM seats WHERE segment_id = $1 AND status = $2 AND booking_id IS NOT NULL
          ORDER BY booking_id",
    )
    .bind::<Text, _>(segment_id.as_str())
    .bind::<Text, _>(SeatStatus::Sold)
    .load(conn)
    .await?;
    let mut disrupted = 0;
    for Booked { booking_id } in booked {
        let disruption = ReplicatedDisruption {
            pass_id: booking_id,
            airline: state.settings.airline.clone(),
            segment_id: segment_id.clone(),
            reason: reason.to_owned(),
            at,
        };
        disrupted += u64::from(record(state, conn, disruption).await?);
    }
    Ok(disrupted)
}

/// After this owner sold a booking's held seats on a cancelled flight, or repeated a sale (the
/// first may have stopped before getting here): any seat on a cancelled flight disrupts the
/// booking's pass. No lock is needed: a cancellation marks the flight's seats before it looks
/// for sold ones, so it either waited for our sale and found it, or our sale waited for it and
/// saw the mark.
pub async fn after_sale(state: &AppState, conn: &mut AsyncPgConnection, booking_id: Uuid) -> QueryResult<()> {
    let flights: Vec<(String, Option<String>, Option<DateTime<Utc>>)> = FlightsOfSale { booking_id }.load(conn).await?;
    let cancelled: Vec<ReplicatedDisruption> = flights
        .into_iter()
        .filter_map(|(segment_id, reason, at)| {
            Some(ReplicatedDisruption {
                pass_id: booking_id,
                airline: state.settings.airline.clone(),
                segment_id: SegmentId::parse(&segment_id).ok()?,
                reason: reason?,
                at: at?,
            })
        })
        .collect();
    if cancelled.is_empty() {
        return Ok(());
    }
    tracing::warn!(%booking_id, flights = cancelled.len(), "a hold granted before its flight was cancelled was sold; its pass is disrupted");
    outbox::transaction(state, conn, |conn| {
        async move {
            for disruption in cancelled {
                record(state, conn, disruption).await?;
            }
            Ok(())
        }
        .scope_boxed()
    })
    .await
}

/// The flights of a booking's sold seats, as a statement of its own type: planning it afresh
/// each time (a sub-select over the two largest tables) cost more than running it.
struct FlightsOfSale {
    booking_id: Uuid,
}

crate::db::prepared_once!(FlightsOfSale);

impl diesel::query_builder::Query for FlightsOfSale {
    type SqlType = (Text, Nullable<Text>, Nullable<Timestamptz>);
}

impl QueryFragment<Pg> for FlightsOfSale {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "SELECT g.segment_id, g.cancel_reason, g.cancelled_at FROM segments g \
              WHERE g.segment_id IN (SELECT s.segment_id FROM seats s WHERE s.booking_id = ",
        );
        out.push_bind_param::<SqlUuid, _>(&self.booking_id)?;
        out.push_sql(" AND s.status = '");
        out.push_sql(SeatStatus::Sold.as_str());
        out.push_sql("')");
        Ok(())
    }
}
