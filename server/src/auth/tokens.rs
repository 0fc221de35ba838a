//! Passenger and service tokens: EdDSA JWTs whose `kid` and `iss` are the signing airline.
//! The two kinds differ by audience, so neither can stand in for the other.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, Header, Validation};
use passcom_shared::internal::{PASSENGER_AUDIENCE, SERVICE_AUDIENCE};
use passcom_shared::AirlineCode;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::claims::{Expiring, LEEWAY_SECS};
pub use super::claims::{PassengerClaims, Role, ServiceClaims};
use super::keys::{KeyError, KeyRing, SigningKey};
use crate::error::ApiError;

/// Service tokens live long enough for one call and its retries.
const SERVICE_TOKEN_TTL_SECS: i64 = 60;

fn header(key: &SigningKey) -> Header {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid().to_string());
    header
}

pub fn issue_passenger(key: &SigningKey, user_id: Uuid, login: &str, ttl_secs: i64) -> Result<String, ApiError> {
    issue_session(key, user_id, login, Role::Passenger, ttl_secs)
}

/// A session token; a staff token also names the airline it acts for (the issuer's).
pub fn issue_session(
    key: &SigningKey,
    user_id: Uuid,
    login: &str,
    role: Role,
    ttl_secs: i64,
) -> Result<String, ApiError> {
    let now = Utc::now().timestamp();
    let claims = PassengerClaims {
        sub: user_id,
        login: login.to_owned(),
        iss: key.kid().to_string(),
        aud: PASSENGER_AUDIENCE.into(),
        iat: now,
        exp: now + ttl_secs,
        role,
        airline: (role == Role::Staff).then(|| key.kid().to_string()),
    };
    jsonwebtoken::encode(&header(key), &claims, key.encoding()).map_err(ApiError::internal)
}

pub fn issue_service(key: &SigningKey) -> Result<String, ApiError> {
    let now = Utc::now().timestamp();
    let claims = ServiceClaims {
        sub: format!("airline:{}", key.kid()),
        iss: key.kid().to_string(),
        aud: SERVICE_AUDIENCE.into(),
        iat: now,
        exp: now + SERVICE_TOKEN_TTL_SECS,
    };
    jsonwebtoken::encode(&header(key), &claims, key.encoding()).map_err(ApiError::internal)
}

/// The claims of a passenger token, once `known` (which checks that `sub` names an account)
/// accepts them; both checks are remembered with the token. A token may live at most
/// `max_ttl` (this airline's own token lifetime) from now.
pub async fn verify_passenger<Fut>(
    keys: &KeyRing,
    token: &str,
    max_ttl: Duration,
    known: impl FnOnce(PassengerClaims) -> Fut,
) -> Result<PassengerClaims, ApiError>
where
    Fut: Future<Output = Result<PassengerClaims, ApiError>>,
{
    keys.seen_passengers
        .get_or_verify(token, || async { known(verify(keys, token, PASSENGER_AUDIENCE, max_ttl).await?).await })
        .await
}

/// Returns the calling airline.
pub async fn verify_service(keys: &KeyRing, token: &str) -> Result<AirlineCode, ApiError> {
    let max_ttl = Duration::from_secs(SERVICE_TOKEN_TTL_SECS.unsigned_abs());
    let check = || verify(keys, token, SERVICE_AUDIENCE, max_ttl);
    let claims: ServiceClaims = keys.seen_services.get_or_verify(token, check).await?;
    AirlineCode::parse(&claims.iss).map_err(|_| ApiError::unauthorized("the service token names no airline"))
}

/// Details name what is wrong with a token in our words: a library's own message would show
/// its internals (and parts of the token) to the client.
async fn verify<C: DeserializeOwned + Expiring>(
    keys: &KeyRing,
    token: &str,
    audience: &str,
    max_ttl: Duration,
) -> Result<C, ApiError> {
    // `decode_header` rejects `alg: none` and anything that is not a JWT at all.
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| ApiError::unauthorized("the bearer token is not a well-formed JWT"))?;
    if header.alg != Algorithm::EdDSA {
        return Err(ApiError::unauthorized(format!("tokens are signed with EdDSA, not {:?}", header.alg)));
    }
    let kid = header.kid.ok_or_else(|| ApiError::unauthorized("the token has no `kid`"))?;
    let key = keys.decoding_key(&kid).await.map_err(|e| {
        let why = e.to_string();
        match e {
            KeyError::UnknownKid(_) => ApiError::unauthorized(why),
            KeyError::Unavailable(airline) => ApiError::airline_unavailable(&airline, why),
        }
    })?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[&kid]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS;
    let claims = jsonwebtoken::decode::<C>(token, &key, &validation).map(|data| data.claims).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        ApiError::unauthorized(match e.kind() {
            ErrorKind::ExpiredSignature => "the token has expired",
            ErrorKind::ImmatureSignature => "the token is not valid yet (`nbf` is in the future)",
            ErrorKind::InvalidAudience => "the token is not meant for this API",
            ErrorKind::InvalidSignature => "the token's signature is invalid",
            ErrorKind::InvalidIssuer => "the token's issuer does not match its key",
            ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim (`exp`, `aud`, `iss`, `sub`)",
            _ => "the token's claims are not well-formed",
        })
    })?;
    let latest = Utc::now().timestamp().saturating_add(max_ttl.as_secs().saturating_add(LEEWAY_SECS) as i64);
    if claims.exp() > latest {
        return Err(ApiError::unauthorized("the token claims to be valid for longer than any token is issued for"));
    }
    Ok(claims)
}

#[cfg(test)]
mod properties {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn ring() -> KeyRing {
        let path = std::env::temp_dir().join(format!("passcom-prop-{}.pem", Uuid::new_v4().simple()));
        let own = SigningKey::load_or_generate(&path, AirlineCode::parse("a").unwrap()).unwrap();
        let _ = std::fs::remove_file(path);
        KeyRing::new(own, HashMap::new(), reqwest::Client::new())
    }

    proptest! {
        /// Whatever a bearer token holds (random text, or three dot-separated base64-ish
        /// parts), checking it ends in a refusal that names no library internals.
        #[test]
        fn any_token_string_is_refused_plainly(token in "\\PC{0,40}|[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,40}") {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let keys = ring();
            let refused = rt.block_on(verify_service(&keys, &token)).unwrap_err();
            let detail = refused.problem().detail;
            prop_assert!(!detail.contains("Error(") && !detail.contains("Base64"), "{}", detail);
        }
    }
}
