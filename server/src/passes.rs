//! Passes, as every airline stores them: the local copy answers reads even while the selling
//! airline is down. A pass only moves forward, `confirmed` → `disrupted` → `cancelled` (or
//! straight to `cancelled`), never back, so replicated updates can arrive in any order and in
//! any number. A disruption (a leg's flight cancelled by its owner) is stored on its own, since
//! it may arrive before the pass it concerns, and applied whenever both are here.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::future::{self, BoxFuture};
use futures::FutureExt;
use passcom_shared::api::{Disruption, Money, Pass, PassLeg, PassStatus};
use passcom_shared::internal::{ReplicatedDisruption, ReplicatedPass};
use passcom_shared::{AirlineCode, SegmentId};
use uuid::Uuid;

use crate::db::text_enum;
use crate::error::{ApiError, ApiResult};
use crate::schema::{pass_disruptions, passes};

text_enum!(
    /// A pass as stored (the `passes.status` CHECK lists the same words).
    StoredStatus {
        Confirmed => "confirmed",
        Disrupted => "disrupted",
        Cancelled => "cancelled",
    }
);

impl From<PassStatus> for StoredStatus {
    fn from(status: PassStatus) -> Self {
        match status {
            PassStatus::Confirmed => StoredStatus::Confirmed,
            PassStatus::Disrupted => StoredStatus::Disrupted,
            PassStatus::Cancelled => StoredStatus::Cancelled,
        }
    }
}

impl From<StoredStatus> for PassStatus {
    fn from(status: StoredStatus) -> Self {
        match status {
            StoredStatus::Confirmed => PassStatus::Confirmed,
            StoredStatus::Disrupted => PassStatus::Disrupted,
            StoredStatus::Cancelled => PassStatus::Cancelled,
        }
    }
}

/// How a status reads on the wire and in the database.
pub fn status_word(status: PassStatus) -> &'static str {
    StoredStatus::from(status).as_str()
}

/// Serializes the arrival of a pass with the arrival of its disruptions, for the rest of the
/// caller's transaction: each checks for the other, and two transactions that each wrote one
/// and checked before the other committed would both miss it. Locks are per pass, so
/// unrelated passes never wait for each other.
async fn lock_pass(conn: &mut AsyncPgConnection, pass_id: Uuid) -> QueryResult<()> {
    LockPass { pass_id }.execute(conn).await.map(drop)
}

/// The pass's lock, as a statement of its own type: diesel re-plans a `sql_query` on every call,
/// and this runs for every pass at every airline.
struct LockPass {
    pass_id: Uuid,
}

crate::db::prepared_once!(LockPass);

impl QueryFragment<Pg> for LockPass {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT pg_advisory_xact_lock(hashtextextended(");
        out.push_bind_param::<diesel::sql_types::Uuid, _>(&self.pass_id)?;
        out.push_sql("::text, 7214))");
        Ok(())
    }
}

/// `confirmed` → `disrupted` when `known`, or when a disruption of one of the pass's legs is
/// already here; a statement of its own type for the same reason as [`LockPass`].
struct DisruptIfKnown {
    pass_id: Uuid,
    known: bool,
}

crate::db::prepared_once!(DisruptIfKnown);

impl QueryFragment<Pg> for DisruptIfKnown {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("UPDATE passes SET status = '");
        out.push_sql(StoredStatus::Disrupted.as_str());
        out.push_sql("' WHERE pass_id = ");
        out.push_bind_param::<diesel::sql_types::Uuid, _>(&self.pass_id)?;
        out.push_sql(" AND status = '");
        out.push_sql(StoredStatus::Confirmed.as_str());
        out.push_sql("' AND (");
        out.push_bind_param::<diesel::sql_types::Bool, _>(&self.known)?;
        out.push_sql(" OR EXISTS (SELECT 1 FROM pass_disruptions d WHERE d.pass_id = ");
        out.push_bind_param::<diesel::sql_types::Uuid, _>(&self.pass_id)?;
        out.push_sql("))");
        Ok(())
    }
}

/// A pass not stored yet, stored `disrupted` at once when a disruption of one of its legs came
/// first; a statement of its own type for the same reason as [`LockPass`]. Returns the pass's id
/// when it was inserted, nothing when it was already here.
struct InsertPass {
    pass_id: Uuid,
    user_id: Uuid,
    status: StoredStatus,
    sold_by: String,
    created_at: DateTime<Utc>,
    total_cents: i64,
    currency: String,
    legs: serde_json::Value,
    passengers: serde_json::Value,
}

crate::db::prepared_once!(InsertPass);

impl diesel::query_builder::Query for InsertPass {
    type SqlType = diesel::sql_types::Uuid;
}

impl QueryFragment<Pg> for InsertPass {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Json, Jsonb, Text, Timestamptz, Uuid as SqlUuid};
        out.push_sql(
            "INSERT INTO passes (pass_id, user_id, status, sold_by, created_at, total_cents, currency, legs, \
             passengers) VALUES (",
        );
        out.push_bind_param::<SqlUuid, _>(&self.pass_id)?;
        out.push_sql(", ");
        out.push_bind_param::<SqlUuid, _>(&self.user_id)?;
        out.push_sql(", CASE WHEN ");
        out.push_bind_param::<Text, _>(&self.status)?;
        out.push_sql(" = '");
        out.push_sql(StoredStatus::Confirmed.as_str());
        out.push_sql("' AND EXISTS (SELECT 1 FROM pass_disruptions d WHERE d.pass_id = ");
        out.push_bind_param::<SqlUuid, _>(&self.pass_id)?;
        out.push_sql(") THEN '");
        out.push_sql(StoredStatus::Disrupted.as_str());
        out.push_sql("' ELSE ");
        out.push_bind_param::<Text, _>(&self.status)?;
        out.push_sql(" END, ");
        out.push_bind_param::<Text, _>(&self.sold_by)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamptz, _>(&self.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.total_cents)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.currency)?;
        out.push_sql(", ");
        out.push_bind_param::<Json, _>(&self.legs)?;
        out.push_sql(", ");
        out.push_bind_param::<Jsonb, _>(&self.passengers)?;
        out.push_sql(") ON CONFLICT (pass_id) DO NOTHING RETURNING pass_id");
        Ok(())
    }
}

/// Inserts the pass, or moves a stored one forward to the replicated status; never back. Runs
/// in the caller's transaction. A new pass (the usual case) takes its lock and one INSERT.
pub async fn upsert(conn: &mut AsyncPgConnection, replicated: &ReplicatedPass) -> QueryResult<()> {
    let inserted = send_insert(conn, replicated).await?;
    move_forward(conn, replicated, inserted).await
}

/// The first step of [`upsert`]: the pass's lock and its INSERT, sent in one round trip when the
/// future is first polled (PostgreSQL runs them in order, and the INSERT, a statement of its
/// own, takes its snapshot once the lock is ours). Owned and borrowing nothing, so that several
/// passes go together. True when the pass was new; otherwise [`move_forward`] finishes it.
pub fn send_insert(conn: &mut AsyncPgConnection, replicated: &ReplicatedPass) -> BoxFuture<'static, QueryResult<bool>> {
    let pass = &replicated.pass;
    fn json(value: &impl serde::Serialize) -> QueryResult<serde_json::Value> {
        serde_json::to_value(value).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
    }
    let (legs, passengers) = match (json(&pass.legs), json(&pass.passengers)) {
        (Ok(legs), Ok(passengers)) => (legs, passengers),
        (Err(e), _) | (_, Err(e)) => return future::ready(Err(e)).boxed(),
    };
    let insert = InsertPass {
        pass_id: pass.pass_id,
        user_id: replicated.user_id,
        status: StoredStatus::from(pass.status),
        sold_by: pass.sold_by.to_string(),
        created_at: pass.created_at,
        total_cents: pass.total_price.cents,
        currency: pass.total_price.currency.clone(),
        legs,
        passengers,
    };
    let lock = LockPass { pass_id: pass.pass_id }.execute(conn);
    // Boxed: the compiler cannot prove the collecting future `Send` for every lifetime otherwise.
    let insert = insert.load::<Uuid>(conn).boxed();
    async move {
        let (_, inserted) = futures::try_join!(lock, insert)?;
        Ok(!inserted.is_empty())
    }
    .boxed()
}

/// The rest of [`upsert`] for a pass that was already here (`inserted` false): a cancellation
/// or a disruption moves it forward.
pub async fn move_forward(
    conn: &mut AsyncPgConnection,
    replicated: &ReplicatedPass,
    inserted: bool,
) -> QueryResult<()> {
    let pass = &replicated.pass;
    if inserted {
        return Ok(());
    }
    if pass.status == PassStatus::Cancelled {
        // Only the stored pass of this seller and passenger moves, so that no message can
        // cancel a pass of another seller's by naming its id.
        let same = passes::table
            .find(pass.pass_id)
            .filter(passes::sold_by.eq(pass.sold_by.as_str()))
            .filter(passes::user_id.eq(replicated.user_id));
        diesel::update(same).set(passes::status.eq(StoredStatus::Cancelled)).execute(conn).await?;
    }
    disrupt_if_known(conn, pass.pass_id, pass.status == PassStatus::Disrupted).await
}

/// Moves a confirmed pass to `disrupted` when `known`, or when one of its legs' disruptions has
/// already arrived.
async fn disrupt_if_known(conn: &mut AsyncPgConnection, pass_id: Uuid, known: bool) -> QueryResult<()> {
    DisruptIfKnown { pass_id, known }.execute(conn).await.map(drop)
}

/// Stores a disruption of one leg (here first or replicated from the leg's owner) and applies it
/// to the pass if it is here. Returns false when it was already known. Runs in the caller's
/// transaction.
pub async fn disrupt(conn: &mut AsyncPgConnection, disruption: &ReplicatedDisruption) -> QueryResult<bool> {
    lock_pass(conn, disruption.pass_id).await?;
    let inserted = diesel::insert_into(pass_disruptions::table)
        .values((
            pass_disruptions::pass_id.eq(disruption.pass_id),
            pass_disruptions::airline.eq(disruption.airline.as_str()),
            pass_disruptions::segment_id.eq(disruption.segment_id.as_str()),
            pass_disruptions::reason.eq(&disruption.reason),
            pass_disruptions::at.eq(disruption.at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    disrupt_if_known(conn, disruption.pass_id, true).await?;
    Ok(inserted == 1)
}

/// The disruptions of the listed passes, in the order they happened.
async fn disruptions_of(
    conn: &mut AsyncPgConnection,
    pass_ids: &[Uuid],
) -> QueryResult<Vec<(Uuid, String, String, String, DateTime<Utc>)>> {
    pass_disruptions::table
        .filter(pass_disruptions::pass_id.eq_any(pass_ids))
        .select((
            pass_disruptions::pass_id,
            pass_disruptions::airline,
            pass_disruptions::segment_id,
            pass_disruptions::reason,
            pass_disruptions::at,
        ))
        .order((pass_disruptions::at, pass_disruptions::segment_id))
        .load(conn)
        .await
}

type PassRow = (Uuid, StoredStatus, String, DateTime<Utc>, i64, String, serde_json::Value, serde_json::Value);

/// The user's passes, newest first; `only` narrows to one pass. One query, whatever the count.
pub async fn for_user(conn: &mut AsyncPgConnection, user_id: Uuid, only: Option<Uuid>) -> QueryResult<Vec<Pass>> {
    let mut query = passes::table
        .filter(passes::user_id.eq(user_id))
        .select((
            passes::pass_id,
            passes::status,
            passes::sold_by,
            passes::created_at,
            passes::total_cents,
            passes::currency,
            passes::legs,
            passes::passengers,
        ))
        .order((passes::created_at.desc(), passes::pass_id))
        .into_boxed();
    if let Some(pass_id) = only {
        query = query.filter(passes::pass_id.eq(pass_id));
    }
    let rows: Vec<PassRow> = query.load(conn).await?;
    let ids: Vec<Uuid> = rows.iter().map(|row| row.0).collect();
    let disruptions = disruptions_of(conn, &ids).await?;
    let mut passes: Vec<Pass> = rows
        .into_iter()
        .filter_map(|(pass_id, status, sold_by, created_at, total_cents, currency, legs, passengers)| {
            let legs: Vec<PassLeg> = serde_json::from_value(legs)
                .inspect_err(|e| tracing::error!(%pass_id, error = %e, "stored pass legs do not parse; pass skipped"))
                .ok()?;
            Some(Pass {
                pass_id,
                status: status.into(),
                created_at,
                sold_by: AirlineCode::parse(&sold_by).ok()?,
                passengers: serde_json::from_value(passengers).unwrap_or_default(),
                legs,
                total_price: Money { cents: total_cents, currency },
                disruptions: Vec::new(),
            })
        })
        .collect();
    for (pass_id, airline, segment_id, reason, at) in disruptions {
        let Some(pass) = passes.iter_mut().find(|p| p.pass_id == pass_id) else { continue };
        let leg = pass.legs.iter().position(|l| l.airline.as_str() == airline && l.segment_id.as_str() == segment_id);
        let (Some(leg), Ok(airline), Ok(segment_id)) =
            (leg, AirlineCode::parse(&airline), SegmentId::parse(&segment_id))
        else {
            continue;
        };
        pass.disruptions.push(Disruption { leg, airline, segment_id, reason, at });
    }
    Ok(passes)
}

pub async fn one(conn: &mut AsyncPgConnection, user_id: Uuid, pass_id: Uuid) -> ApiResult<Pass> {
    for_user(conn, user_id, Some(pass_id))
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("you have no pass with this id"))
}

/// Locks the user's pass for a change in the caller's transaction; its status, or `None`.
pub async fn lock_status(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    pass_id: Uuid,
) -> QueryResult<Option<PassStatus>> {
    let status: Option<StoredStatus> = passes::table
        .filter(passes::pass_id.eq(pass_id))
        .filter(passes::user_id.eq(user_id))
        .select(passes::status)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    Ok(status.map(PassStatus::from))
}

pub async fn mark_cancelled(conn: &mut AsyncPgConnection, pass_id: Uuid) -> QueryResult<()> {
    diesel::update(passes::table.find(pass_id))
        .set(passes::status.eq(StoredStatus::Cancelled))
        .execute(conn)
        .await
        .map(drop)
}
