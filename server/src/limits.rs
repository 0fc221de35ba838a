//! What one client may do: login attempts per login and per client address, bookings per
//! account, seats per passenger per flight.
//!
//! The first two are counters in Redis, which every server of every airline already shares:
//! a limit holds across the federation and across replicas of one airline, and a counter
//! expires by itself at the end of its window. When Redis is down the counters are skipped
//! (logins and reads keep working, as the README promises; bookings fail on the seat locks
//! anyway). The seat cap is counted in the database, under a per-passenger lock, in the very
//! transaction that sells the seats.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use passcom_shared::api::PassLeg;
use passcom_shared::Code;
use redis::Script;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::locks::LockError;

/// Adds `ARGV[2]` to the counter (starting its window of `ARGV[1]` ms when new); returns the
/// count and the window's time left in ms.
const COUNT: &str = r"
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {n, left}
";

/// Counts one more event under `key`; `Ok(None)` while within `max` per `window`, else how long
/// until the window ends. A limit of 0 is off; a Redis failure lets the event through.
async fn count(state: &AppState, key: &str, by: i64, max: u64, window: Duration) -> Option<Duration> {
    if max == 0 {
        return None;
    }
    let counted: Result<(i64, i64), LockError> = async {
        let mut conn = state.locks.conn().await?;
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let script = Script::new(COUNT);
        state
            .locks
            .checked(script.key(state.locks.namespaced(key)).arg(window_ms).arg(by).invoke_async(&mut conn))
            .await
    }
    .await;
    match counted {
        Ok((n, left)) if n > i64::try_from(max).unwrap_or(i64::MAX) => {
            Some(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "limit counters unavailable; the request is let through");
            None
        }
    }
}

/// A login attempt, counted before the password is checked so that a flood costs no argon2
/// work once over the limit. [`LoginAttempt::succeeded`] gives the counts back: only failures
/// use up a login's or an address's allowance.
pub struct LoginAttempt {
    keys: [String; 2],
}

impl LoginAttempt {
    pub async fn start(state: &AppState, login: &str, address: Option<IpAddr>) -> ApiResult<Self> {
        let limits = &state.settings.limits;
        let address = address.map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        // Hashed, so that no login a client types becomes part of a key as it was typed.
        let login_key = format!("limit:login:{:x}", <sha2::Sha256 as sha2::Digest>::digest(login.as_bytes()));
        let attempt = Self { keys: [format!("limit:address:{address}"), login_key] };
        let window = limits.login_window;
        if let Some(wait) = count(state, &attempt.keys[0], 1, limits.logins_per_address, window).await {
            return Err(too_many_logins(wait));
        }
        if let Some(wait) = count(state, &attempt.keys[1], 1, limits.logins_per_login, window).await {
            // Refused without any work: it does not use up the address's allowance.
            count(state, &attempt.keys[0], -1, limits.logins_per_address, window).await;
            return Err(too_many_logins(wait));
        }
        Ok(attempt)
    }

    pub async fn succeeded(self, state: &AppState) {
        let limits = &state.settings.limits;
        for key in &self.keys {
            count(state, key, -1, limits.logins_per_login.max(limits.logins_per_address), limits.login_window).await;
        }
    }
}

fn too_many_logins(wait: Duration) -> ApiError {
    ApiError::too_many("too many login attempts; try again later", wait)
}

/// One more booking by `user_id` in this minute, or a 429.
pub async fn booking_started(state: &AppState, user_id: Uuid) -> ApiResult<()> {
    let max = state.settings.limits.bookings_per_minute;
    match count(state, &format!("limit:bookings:{user_id}"), 1, max, Duration::from_secs(60)).await {
        Some(wait) => Err(ApiError::too_many(format!("at most {max} bookings a minute per account"), wait)),
        None => Ok(()),
    }
}

#[derive(diesel::QueryableByName)]
struct Held {
    #[diesel(sql_type = Text)]
    airline: String,
    #[diesel(sql_type = Text)]
    segment_id: String,
    #[diesel(sql_type = BigInt)]
    seats: i64,
}

/// Refuses `legs` when they would give `user_id` more than `cap` confirmed seats on one flight.
/// Runs inside the selling transaction and holds a lock per passenger until it ends, so that
/// two bookings of one passenger at this airline are counted one after the other. Bookings at
/// two airlines at once see each other's passes only once replicated.
pub async fn within_seat_cap(conn: &mut AsyncPgConnection, user_id: Uuid, legs: &[PassLeg], cap: u64) -> ApiResult<()> {
    if cap == 0 {
        return Ok(());
    }
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 727011))")
        .bind::<SqlUuid, _>(user_id)
        .execute(conn)
        .await?;
    let held: Vec<Held> = diesel::sql_query(
        // A party's leg holds one seat per passenger; passes from before parties, one.
        "SELECT l->>'airline' AS airline, l->>'segment_id' AS segment_id,
                sum(greatest(coalesce(json_array_length(l->'seats'), 0), 1))::bigint AS seats
           FROM passes p, json_array_elements(p.legs) l
          WHERE p.user_id = $1 AND p.status = 'confirmed'
          GROUP BY 1, 2",
    )
    .bind::<SqlUuid, _>(user_id)
    .load(conn)
    .await?;
    let mut seats: HashMap<(&str, &str), u64> =
        held.iter().map(|h| ((h.airline.as_str(), h.segment_id.as_str()), h.seats.unsigned_abs())).collect();
    for (index, leg) in legs.iter().enumerate() {
        let on_flight = seats.entry((leg.airline.as_str(), leg.segment_id.as_str())).or_default();
        *on_flight += leg.seats.len().max(1) as u64;
        if *on_flight > cap {
            let detail = format!("leg {index}: at most {cap} seats per passenger on one flight");
            return Err(ApiError::new(Code::SeatLimitReached, detail)
                .with_leg(index)
                .with_airline(leg.airline.clone()));
        }
    }
    Ok(())
}
