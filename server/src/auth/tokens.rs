//! Passenger and service tokens: EdDSA JWTs whose `kid` and `iss` are the signing airline.
//! The two kinds differ by audience, so neither can stand in for the other.

use chrono::Utc;
use jsonwebtoken::{Algorithm, Header, Validation};
use passcom_shared::internal::{PASSENGER_AUDIENCE, SERVICE_AUDIENCE};
use passcom_shared::AirlineCode;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::claims::LEEWAY_SECS;
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

pub async fn verify_passenger(keys: &KeyRing, token: &str) -> Result<PassengerClaims, ApiError> {
    keys.seen_passengers.get_or_verify(token, || verify(keys, token, PASSENGER_AUDIENCE)).await
}

/// Returns the calling airline.
pub async fn verify_service(keys: &KeyRing, token: &str) -> Result<AirlineCode, ApiError> {
    let claims = keys.seen_services.get_or_verify(token, || verify(keys, token, SERVICE_AUDIENCE)).await?;
    AirlineCode::parse(&claims.iss).map_err(|_| ApiError::unauthorized("the service token names no airline"))
}

async fn verify<C: DeserializeOwned>(keys: &KeyRing, token: &str, audience: &str) -> Result<C, ApiError> {
    // `decode_header` rejects `alg: none` and anything that is not a JWT at all.
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| ApiError::unauthorized(format!("the bearer token is not a valid JWT: {e}")))?;
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
    validation.leeway = LEEWAY_SECS;
    jsonwebtoken::decode::<C>(token, &key, &validation).map(|data| data.claims).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        let why = match e.kind() {
            ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
            ErrorKind::InvalidAudience => "the token is not meant for this API".to_owned(),
            ErrorKind::InvalidSignature => "the token's signature is invalid".to_owned(),
            ErrorKind::InvalidIssuer => "the token's issuer does not match its key".to_owned(),
            other => format!("the token is invalid: {other:?}"),
        };
        ApiError::unauthorized(why)
    })
}
