//! Passes, as every airline stores them: the local copy answers reads even while the selling
//! airline is down. A pass only moves from `confirmed` to `cancelled`, so replicated updates
//! can arrive in any order and in any number.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passcom_shared::api::{Money, Pass, PassLeg, PassStatus};
use passcom_shared::internal::ReplicatedPass;
use passcom_shared::AirlineCode;
use uuid::Uuid;

use crate::db::text_enum;
use crate::error::{ApiError, ApiResult};
use crate::schema::passes;

text_enum!(
    /// A pass as stored (the `passes.status` CHECK lists the same words).
    StoredStatus {
        Confirmed => "confirmed",
        Cancelled => "cancelled",
    }
);

impl From<PassStatus> for StoredStatus {
    fn from(status: PassStatus) -> Self {
        match status {
            PassStatus::Confirmed => StoredStatus::Confirmed,
            PassStatus::Cancelled => StoredStatus::Cancelled,
        }
    }
}

impl From<StoredStatus> for PassStatus {
    fn from(status: StoredStatus) -> Self {
        match status {
            StoredStatus::Confirmed => PassStatus::Confirmed,
            StoredStatus::Cancelled => PassStatus::Cancelled,
        }
    }
}

/// Inserts the pass, or moves a stored one to `cancelled`; never back.
pub async fn upsert(conn: &mut AsyncPgConnection, replicated: &ReplicatedPass) -> QueryResult<()> {
    let pass = &replicated.pass;
    let status = StoredStatus::from(pass.status);
    let json = |value: serde_json::Result<serde_json::Value>| {
        value.map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
    };
    let legs = json(serde_json::to_value(&pass.legs))?;
    let passengers = json(serde_json::to_value(&pass.passengers))?;
    let insert = diesel::insert_into(passes::table)
        .values((
            passes::pass_id.eq(pass.pass_id),
            passes::user_id.eq(replicated.user_id),
            passes::status.eq(status),
            passes::sold_by.eq(pass.sold_by.as_str()),
            passes::created_at.eq(pass.created_at),
            passes::total_cents.eq(pass.total_price.cents),
            passes::currency.eq(&pass.total_price.currency),
            passes::legs.eq(&legs),
            passes::passengers.eq(&passengers),
        ))
        .on_conflict(passes::pass_id);
    insert.do_nothing().execute(conn).await?;
    if pass.status == PassStatus::Cancelled {
        // Only the stored pass of this seller and passenger moves, so that no message can
        // cancel a pass of another seller's by naming its id.
        let same = passes::table
            .find(pass.pass_id)
            .filter(passes::sold_by.eq(pass.sold_by.as_str()))
            .filter(passes::user_id.eq(replicated.user_id));
        diesel::update(same).set(passes::status.eq(status)).execute(conn).await?;
    }
    Ok(())
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
    Ok(rows
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
            })
        })
        .collect())
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
