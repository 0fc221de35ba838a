//! `Idempotency-Key` for bookings, with Stripe's semantics: a repeat of a key replays the stored
//! response, the same key with another body is a 422, and keys are kept for at least 24 hours.
//! The key row is written in the same transaction as the booking's intent, so a key can never
//! start two bookings.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::schema::{bookings, idempotency_keys, passes};

#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
}

impl IdempotencyKey {
    /// 1–255 visible ASCII characters, like Stripe's.
    pub fn parse(raw: &str, canonical_body: &[u8]) -> ApiResult<Self> {
        let valid = (1..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(ApiError::bad_request(
                "invalid_header",
                "`Idempotency-Key` must be 1-255 visible ASCII characters",
            ));
        }
        let request_hash = format!("{:x}", Sha256::digest(canonical_body));
        Ok(Self { key: raw.to_owned(), request_hash })
    }
}

/// What an earlier request with the same key left behind.
pub enum Earlier {
    /// A finished request: replay this response.
    Response { status: u16, body: serde_json::Value },
    /// Its booking committed but the response was never stored (the server died): the pass is
    /// the answer.
    Committed { booking_id: Uuid },
    /// Still running elsewhere.
    InProgress,
}

pub async fn lookup(conn: &mut AsyncPgConnection, user_id: Uuid, key: &IdempotencyKey) -> ApiResult<Option<Earlier>> {
    let row: Option<(String, Uuid, Option<i16>, Option<serde_json::Value>)> = idempotency_keys::table
        .find((user_id, &key.key))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::booking_id,
            idempotency_keys::response_status,
            idempotency_keys::response_body,
        ))
        .first(conn)
        .await
        .optional()?;
    let Some((hash, booking_id, status, body)) = row else { return Ok(None) };
    if hash != key.request_hash {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
        ));
    }
    if let (Some(status), Some(body)) = (status, body) {
        return Ok(Some(Earlier::Response { status: u16::try_from(status).unwrap_or(500), body }));
    }
    // The pass is written in the very transaction that commits the booking.
    let committed: bool = diesel::select(diesel::dsl::exists(passes::table.find(booking_id))).get_result(conn).await?;
    if committed {
        return Ok(Some(Earlier::Committed { booking_id }));
    }
    let state: Option<String> =
        bookings::table.find(booking_id).select(bookings::state).first(conn).await.optional()?;
    Ok(Some(match state.as_deref() {
        Some("aborted") | None => {
            // It failed without a stored answer (a crash); the key is free for a fresh attempt.
            diesel::delete(idempotency_keys::table.find((user_id, &key.key))).execute(conn).await?;
            return Ok(None);
        }
        _ => Earlier::InProgress,
    }))
}

pub async fn insert(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    key: &IdempotencyKey,
    booking_id: Uuid,
) -> ApiResult<()> {
    let inserted = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::user_id.eq(user_id),
            idempotency_keys::key.eq(&key.key),
            idempotency_keys::request_hash.eq(&key.request_hash),
            idempotency_keys::booking_id.eq(booking_id),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted == 0 {
        return Err(in_progress());
    }
    Ok(())
}

pub fn in_progress() -> ApiError {
    ApiError::conflict(
        "request_in_progress",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
}

/// Stores the final answer, also when the key's row was rolled back with a refused booking.
/// A passing failure (a 5xx, a seat locked for a moment) frees this booking's claim on the key
/// instead, so that a retry runs again rather than replaying an outage.
pub async fn finish(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    key: &IdempotencyKey,
    booking_id: Uuid,
    status: u16,
    body: &serde_json::Value,
) -> QueryResult<()> {
    let transient = status >= 500 || body["code"] == "seat_locked";
    if transient {
        let ours = idempotency_keys::table
            .find((user_id, &key.key))
            .filter(idempotency_keys::booking_id.eq(booking_id))
            .filter(idempotency_keys::response_status.is_null());
        diesel::delete(ours).execute(conn).await?;
        return Ok(());
    }
    let status = i16::try_from(status).unwrap_or(500);
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::user_id.eq(user_id),
            idempotency_keys::key.eq(&key.key),
            idempotency_keys::request_hash.eq(&key.request_hash),
            idempotency_keys::booking_id.eq(booking_id),
            idempotency_keys::response_status.eq(status),
            idempotency_keys::response_body.eq(body),
        ))
        .on_conflict((idempotency_keys::user_id, idempotency_keys::key))
        .do_update()
        .set((idempotency_keys::response_status.eq(status), idempotency_keys::response_body.eq(body)))
        .execute(conn)
        .await?;
    Ok(())
}
