//! Extractors: a handler that takes a `Passenger`, `Staff` or `ServiceCaller` only runs for a
//! caller with a valid token of that kind. A valid session token of the wrong role (or staff of
//! another airline) is 403 `forbidden`, not 401: the caller is known, just not allowed.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use passcom_shared::client::PeerError;
use passcom_shared::AirlineCode;
use uuid::Uuid;

use super::claims::Role;
use super::tokens::{self, PassengerClaims};
use crate::accounts;
use crate::app::AppState;
use crate::error::ApiError;
use crate::federation::Owner;
use crate::telemetry::RequestId;

/// A passenger, from a token issued by any airline of the federation. Not `Debug`: it carries
/// the token, which must never reach a log.
#[derive(Clone)]
pub struct Passenger {
    pub user_id: Uuid,
    pub login: String,
    pub issuer: String,
    /// The bearer token itself: forwarded as the passenger's proof when a cancellation goes to
    /// the airline that sold the pass.
    pub token: String,
}

/// Anyone with a session token of the federation, passenger or staff: for what both may see
/// (their own account).
#[derive(Debug, Clone)]
pub struct SessionHolder {
    pub user_id: Uuid,
    pub login: String,
}

/// A member of this airline's staff, from a staff token this airline issued.
#[derive(Debug, Clone)]
pub struct Staff {
    pub user_id: Uuid,
    pub login: String,
}

/// Another airline's server, from a service token it signed.
#[derive(Debug, Clone)]
pub struct ServiceCaller {
    pub airline: AirlineCode,
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("this endpoint needs an `Authorization: Bearer` token"))?;
    let value = header.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is not ASCII"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(token.trim().to_owned())
        }
        _ => Err(ApiError::unauthorized("the Authorization header must be `Bearer <token>`")),
    }
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))
}

type Verified<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// The bearer token of `req`, checked by `verify` against the key ring.
fn verified<T, Fut>(
    req: &HttpRequest,
    verify: impl FnOnce(web::Data<AppState>, String, RequestId) -> Fut + 'static,
) -> Verified<T>
where
    Fut: Future<Output = Result<T, ApiError>> + 'static,
{
    let parts = bearer(req).and_then(|token| Ok((token, state(req)?)));
    // Forwarded on any call a check makes to a peer (an account not replicated here yet).
    let request_id = req.extensions().get::<RequestId>().cloned().unwrap_or_else(RequestId::generate);
    Box::pin(async move {
        let (token, state) = parts?;
        verify(state, token, request_id).await
    })
}

impl FromRequest for Passenger {
    type Error = ApiError;
    type Future = Verified<Self>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        verified(req, |state, token, request_id| async move {
            let passenger = passenger(&state, &request_id.0, &token).await?;
            tracing::Span::current().record("user_id", tracing::field::display(passenger.user_id));
            Ok(passenger)
        })
    }
}

impl FromRequest for SessionHolder {
    type Error = ApiError;
    type Future = Verified<Self>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        verified(req, |state, token, request_id| async move {
            let claims = session(&state, &request_id.0, &token).await?;
            Ok(SessionHolder { user_id: claims.sub, login: claims.login })
        })
    }
}

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = Verified<Self>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        verified(req, |state, token, request_id| async move {
            let claims = session(&state, &request_id.0, &token).await?;
            let own = state.settings.airline.as_str();
            // Both the issuer and the named airline: a peer can sign a token claiming to be our
            // staff, but not with our key.
            let ours = claims.iss == own && claims.airline.as_deref() == Some(own);
            if claims.role != Role::Staff || !ours {
                return Err(ApiError::forbidden(format!("only staff of airline {own} may use this route")));
            }
            tracing::Span::current().record("user_id", tracing::field::display(claims.sub));
            Ok(Staff { user_id: claims.sub, login: claims.login })
        })
    }
}

/// The claims of a session token: signed by an airline of the federation, and naming an account.
async fn session(state: &AppState, request_id: &str, token: &str) -> Result<PassengerClaims, ApiError> {
    let max_ttl = state.settings.token_ttl;
    tokens::verify_passenger(&state.keys, token, max_ttl, |claims| async move {
        account_exists(state, request_id, &claims).await.map(|()| claims)
    })
    .await
}

/// The passenger a token names; a staff token is refused here.
pub async fn passenger(state: &AppState, request_id: &str, token: &str) -> Result<Passenger, ApiError> {
    let claims = session(state, request_id, token).await?;
    if claims.role != Role::Passenger {
        // A staff account is local to its airline: passes bought with it would belong to a user
        // no other airline knows.
        return Err(ApiError::forbidden("staff accounts cannot act as passengers"));
    }
    Ok(Passenger { user_id: claims.sub, login: claims.login, issuer: claims.iss, token: token.to_owned() })
}

/// A token's `sub` must be an account. One registered a moment ago at another airline may not
/// have arrived here yet: the airline that issued the token (where the passenger logged in, so
/// where the account is) is asked before the token is refused.
async fn account_exists(state: &AppState, request_id: &str, claims: &PassengerClaims) -> Result<(), ApiError> {
    let unknown = || ApiError::unauthorized("the token names no account of this federation");
    if accounts::account(&mut *state.pool.get().await?, claims.sub).await?.is_some() {
        return Ok(());
    }
    let issuer = AirlineCode::parse(&claims.iss).map_err(|_| unknown())?;
    match state.federation.owner(&issuer) {
        Some(Owner::Peer(peer)) => match peer.account(request_id, claims.sub).await {
            Ok(account) if account.user_id == claims.sub => Ok(()),
            Ok(_) | Err(PeerError::Refused(_)) => Err(unknown()),
            Err(PeerError::Unreachable(_)) => Err(ApiError::airline_unavailable(
                &issuer,
                format!("airline {issuer}, which issued the token, cannot confirm its account right now"),
            )),
        },
        Some(Owner::Here) | None => Err(unknown()),
    }
}

impl FromRequest for ServiceCaller {
    type Error = ApiError;
    type Future = Verified<Self>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        verified(req, |state, token, _| async move {
            let airline = tokens::verify_service(&state.keys, &token).await?;
            Ok(ServiceCaller { airline })
        })
    }
}
