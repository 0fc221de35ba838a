//! `Idempotency-Key` for bookings, with Stripe's semantics: a repeat of a key replays the stored
//! response, the same key with another body is a 422, and keys are kept for at least 24 hours.
//! The key row is written in the same transaction as the booking's intent, so a key can never
//! start two bookings; the first final answer stored for a key is never overwritten.
//!
//! A request that fails with a 5xx leaves no answer: its key is free for a retry at once. Its
//! booking, if still undecided, is aborted first (by the failing request, or by the retry once
//! the booking is past its deadline when the failure could not even reach the database), and
//! the retry tells the owners before starting afresh, so that the old booking's holds cannot
//! refuse the new one's.

use std::future::{ready, Ready};

use actix_web::{FromRequest, HttpRequest};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passcom_shared::api::Pass;
use passcom_shared::Code;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::log::{self, BookingState};
use crate::error::{ApiError, ApiResult};
use crate::passes;
use crate::schema::idempotency_keys;

/// The `Idempotency-Key` header, when the client sent one: 1–255 visible ASCII characters,
/// like Stripe's.
pub struct KeyHeader(pub Option<String>);

impl FromRequest for KeyHeader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let Some(raw) = req.headers().get("idempotency-key") else { return ready(Ok(KeyHeader(None))) };
        ready(KeyHeader::parse(raw.as_bytes()).map(|key| KeyHeader(Some(key))))
    }
}

impl KeyHeader {
    fn parse(raw: &[u8]) -> Result<String, ApiError> {
        let valid = (1..=255).contains(&raw.len()) && raw.iter().all(u8::is_ascii_graphic);
        match std::str::from_utf8(raw) {
            Ok(key) if valid => Ok(key.to_owned()),
            _ => Err(ApiError::new(Code::InvalidHeader, "`Idempotency-Key` must be 1-255 visible ASCII characters")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
}

impl IdempotencyKey {
    /// The key with a hash of the request it came with; `canonical_body` is the parsed body
    /// serialized again, so that formatting differences are not "another body".
    pub fn new(key: String, canonical_body: &[u8]) -> Self {
        Self { key, request_hash: format!("{:x}", Sha256::digest(canonical_body)) }
    }
}

/// What an earlier request with the same key left behind.
pub enum Earlier {
    /// Nothing: the key is new.
    New,
    /// Its final answer, to replay.
    Answered(Outcome),
    /// It failed without an answer, and its booking is aborted now: the key is free once the
    /// booking's owners have been told.
    Abandoned(Uuid),
}

/// What `POST /bookings` answers.
pub enum Outcome {
    Created(Pass),
    /// A stored answer to an earlier request with the same key.
    Replayed {
        status: u16,
        body: serde_json::Value,
        booking_id: Uuid,
    },
}

/// What an earlier request with this key left behind. A booking still `preparing` that began
/// before `settle` ago is past its deadline: its request is over, so it is aborted here.
pub async fn earlier(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    key: &IdempotencyKey,
    settle: chrono::Duration,
) -> ApiResult<Earlier> {
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
    let Some((hash, booking_id, status, body)) = row else { return Ok(Earlier::New) };
    if hash != key.request_hash {
        return Err(ApiError::new(
            Code::IdempotencyKeyReused,
            "this Idempotency-Key was used with a different request body",
        ));
    }
    if let (Some(status), Some(body)) = (status, body) {
        let status = u16::try_from(status).unwrap_or(500);
        return Ok(Earlier::Answered(Outcome::Replayed { status, body, booking_id }));
    }
    // The pass is written in the very transaction that commits the booking: its response was
    // never stored (the server died), and the pass is the answer.
    if let Some(pass) = passes::for_user(conn, user_id, Some(booking_id)).await?.pop() {
        return Ok(Earlier::Answered(Outcome::Created(pass)));
    }
    let abandoned = match log::state_of(conn, booking_id).await? {
        None => false,
        Some(BookingState::Aborted) => true,
        Some(BookingState::Preparing) if log::abandon(conn, booking_id, Utc::now() - settle).await? => true,
        Some(_) => return Err(in_progress()),
    };
    // It failed without a stored answer; the key is free for a fresh attempt.
    diesel::delete(idempotency_keys::table.find((user_id, &key.key))).execute(conn).await?;
    Ok(if abandoned { Earlier::Abandoned(booking_id) } else { Earlier::New })
}

/// Claims the key for this booking, inside the transaction that starts it.
pub async fn claim(
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

fn in_progress() -> ApiError {
    ApiError::new(
        Code::RequestInProgress,
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
}

/// Whether an answer is a passing state of the world rather than the request's final answer: a
/// retry should run again, not replay it.
fn transient(code: Code, status: u16) -> bool {
    status >= 500 || matches!(code, Code::SeatLocked | Code::RequestInProgress)
}

/// Stores the final answer of `booking_id`'s request, also when the key's row was rolled back
/// with a refused booking. A transient failure stores nothing and aborts the booking if it is
/// still undecided, which frees the key for a retry (see [`earlier`]).
/// Only the claim's own booking may store an answer, and only once: a concurrent duplicate
/// (which lost the claim) never overwrites the winner's.
pub async fn remember(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    key: &IdempotencyKey,
    booking_id: Uuid,
    answer: &Result<Pass, ApiError>,
) -> QueryResult<()> {
    let (status, body) = match answer {
        Ok(pass) => (201, serde_json::to_value(pass).unwrap_or_default()),
        Err(e) if transient(e.code(), e.problem().status) => {
            // This request is over: nobody else will decide its booking.
            log::abandon(conn, booking_id, Utc::now() + chrono::Duration::days(1)).await?;
            return Ok(());
        }
        Err(e) => (e.problem().status, serde_json::to_value(e.problem()).unwrap_or_default()),
    };
    // diesel cannot put a WHERE on ON CONFLICT DO UPDATE, which is what keeps the first answer.
    diesel::sql_query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, booking_id, response_status, response_body)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (user_id, key) DO UPDATE
            SET response_status = excluded.response_status, response_body = excluded.response_body
          WHERE idempotency_keys.booking_id = excluded.booking_id AND idempotency_keys.response_status IS NULL",
    )
    .bind::<diesel::sql_types::Uuid, _>(user_id)
    .bind::<diesel::sql_types::Text, _>(&key.key)
    .bind::<diesel::sql_types::Text, _>(&key.request_hash)
    .bind::<diesel::sql_types::Uuid, _>(booking_id)
    .bind::<diesel::sql_types::SmallInt, _>(i16::try_from(status).unwrap_or(500))
    .bind::<diesel::sql_types::Jsonb, _>(&body)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn keys_are_1_to_255_visible_ascii_characters(raw in prop::collection::vec(any::<u8>(), 0..260)) {
            let grammar = (1..=255).contains(&raw.len()) && raw.iter().all(|b| (b'!'..=b'~').contains(b));
            prop_assert_eq!(KeyHeader::parse(&raw).is_ok(), grammar);
        }

        #[test]
        fn every_key_of_the_grammar_is_kept_as_sent(key in "[!-~]{1,255}") {
            prop_assert_eq!(KeyHeader::parse(key.as_bytes()).ok(), Some(key));
        }
    }
}
