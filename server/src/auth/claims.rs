//! The claims of both token kinds, and the memory of tokens already verified (so that the
//! Ed25519 check runs once per token, not once per call).

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;

/// Clock skew tolerated between airlines.
pub(super) const LEEWAY_SECS: u64 = 5;

/// What the holder of a session token is. Staff are users of one airline (rows of its
/// `users` table that are never replicated), so `sub` names an existing account either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Passenger,
    Staff,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Passenger => "passenger",
            Role::Staff => "staff",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        [Role::Passenger, Role::Staff].into_iter().find(|r| r.as_str() == word)
    }
}

/// The claims of a session token (passengers' and staff's: one audience, one login route).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PassengerClaims {
    pub sub: Uuid,
    pub login: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// Tokens issued before staff existed carry no role: they are passengers'.
    #[serde(default)]
    pub role: Role,
    /// The airline a staff token acts for; passengers' tokens name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub airline: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceClaims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// Claims that say until when their token is good.
pub trait Expiring: Clone {
    /// Seconds since the epoch.
    fn exp(&self) -> i64;
}

impl Expiring for PassengerClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

impl Expiring for ServiceClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// Tokens whose signature has been checked, with their claims. A peer reuses its service
/// token for many calls and a passenger their token for a session, so most requests skip the
/// Ed25519 check (a few percent of all CPU in the booking benchmark). Only the exact token
/// string hits, an entry ends when its token expires, and at most after `SEEN_MAX_AGE`, so a
/// key withdrawn from a peer's JWKS stops working within that time.
pub struct SeenTokens<C> {
    entries: std::sync::Mutex<HashMap<String, (C, Instant)>>,
}

const SEEN_MAX_AGE: Duration = Duration::from_secs(60);
const SEEN_MAX_ENTRIES: usize = 4096;

impl<C: Expiring> Default for SeenTokens<C> {
    fn default() -> Self {
        Self { entries: std::sync::Mutex::new(HashMap::new()) }
    }
}

impl<C: Expiring> SeenTokens<C> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (C, Instant)>> {
        // Plain data, consistent after any panic elsewhere.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, token: &str) -> Option<C> {
        let mut entries = self.lock();
        match entries.get(token) {
            Some((claims, until)) if Instant::now() < *until => Some(claims.clone()),
            Some(_) => {
                entries.remove(token);
                None
            }
            None => None,
        }
    }

    fn remember(&self, token: &str, claims: &C) {
        let left = claims.exp().saturating_add(LEEWAY_SECS as i64).saturating_sub(Utc::now().timestamp());
        let Ok(left) = u64::try_from(left) else { return };
        let until = Instant::now() + Duration::from_secs(left).min(SEEN_MAX_AGE);
        let mut entries = self.lock();
        if entries.len() >= SEEN_MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, (_, until)| now < *until);
            if entries.len() >= SEEN_MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(token.to_owned(), (claims.clone(), until));
    }

    /// The claims of `token`: remembered, or from `verify`, remembered when it succeeds.
    pub async fn get_or_verify<Fut>(&self, token: &str, verify: impl FnOnce() -> Fut) -> Result<C, ApiError>
    where
        Fut: Future<Output = Result<C, ApiError>>,
    {
        if let Some(claims) = self.get(token) {
            return Ok(claims);
        }
        let claims = verify().await?;
        self.remember(token, &claims);
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use passcom_shared::internal::SERVICE_AUDIENCE;

    fn claims(exp: i64) -> ServiceClaims {
        ServiceClaims { sub: "airline:b".into(), iss: "b".into(), aud: SERVICE_AUDIENCE.into(), iat: 0, exp }
    }

    async fn refused() -> Result<ServiceClaims, ApiError> {
        Err(ApiError::unauthorized("checked again"))
    }

    #[tokio::test]
    async fn a_verified_token_is_remembered_until_it_expires() {
        let seen = SeenTokens::default();
        let now = Utc::now().timestamp();
        let good = seen.get_or_verify("t1", || async { Ok(claims(now + 60)) }).await.unwrap();
        assert_eq!(good.iss, "b");
        assert!(seen.get_or_verify("t1", refused).await.is_ok(), "the same token is not checked twice");
        assert!(seen.get_or_verify("t1x", refused).await.is_err(), "another string is checked");

        // Already past its expiry and the leeway: checked every time, never remembered.
        let stale = now - LEEWAY_SECS as i64 - 1;
        assert!(seen.get_or_verify("t2", || async { Ok(claims(stale)) }).await.is_ok());
        assert!(seen.get_or_verify("t2", refused).await.is_err());
        // A failed check leaves nothing behind.
        assert!(seen.get_or_verify("t3", refused).await.is_err());
        assert!(seen.get_or_verify("t3", refused).await.is_err());
    }

    #[tokio::test]
    async fn the_memory_is_bounded() {
        let seen = SeenTokens::default();
        let exp = Utc::now().timestamp() + 60;
        for i in 0..SEEN_MAX_ENTRIES + 10 {
            seen.get_or_verify(&format!("t{i}"), || async { Ok(claims(exp)) }).await.unwrap();
        }
        assert!(seen.lock().len() <= SEEN_MAX_ENTRIES);
    }
}
