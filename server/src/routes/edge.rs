//! What every request passes before and around its handler: `HEAD` served as `GET`, query
//! strings refused where a route takes none, a deadline on reading the body, and a panic turned
//! into a 500 problem instead of a dropped connection.

use std::io;
use std::panic::AssertUnwindSafe;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use futures::{FutureExt, StreamExt};

use crate::app::AppState;
use crate::error::ApiError;

/// The routes that read a query string; every other refuses one, so that a misspelt parameter
/// is a 400 and not silently ignored.
const QUERY_ROUTES: [&str; 4] =
    ["/api/v1/segments", "/api/v1/routes", "/api/v1/airline/sales", "/internal/v1/segments"];

/// Runs before routing, so that every `GET` route answers `HEAD` too. The HTTP layer knows the
/// request was `HEAD` and sends the headers without the body.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

pub async fn refuse_unknown_query<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // An unmatched path takes its 404 as it is.
    let refuses_query = req.match_pattern().is_some_and(|pattern| !QUERY_ROUTES.contains(&pattern.as_str()));
    if req.query_string().is_empty() || !refuses_query {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let refusal = ApiError::invalid_query("this URL takes no query parameters").error_response();
    Ok(req.into_response(refusal).map_into_right_body())
}

/// A body must arrive within `PASSCOM_CLIENT_REQUEST_TIMEOUT_MS` of its request head: a client
/// trickling bytes cannot hold a connection (and a worker's attention) open for ever. The body
/// extractors answer the timeout with a 408.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let timeout = req.app_data::<web::Data<AppState>>().map(|s| s.settings.limits.client_request_timeout);
    if let Some(timeout) = timeout.filter(|t| !t.is_zero()) {
        let deadline = tokio::time::Instant::now() + timeout;
        let body = futures::stream::unfold(Some(req.take_payload()), move |payload| async move {
            let mut payload = payload?;
            match tokio::time::timeout_at(deadline, payload.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(payload))),
                Ok(None) => None,
                Err(_) => Some((Err(body_timed_out()), None)),
            }
        });
        req.set_payload(Payload::from(body.boxed_local()));
    }
    next.call(req).await
}

fn body_timed_out() -> PayloadError {
    PayloadError::Io(io::Error::new(io::ErrorKind::TimedOut, "the body was not sent in time"))
}

/// Whether a body read failed on [`body_deadline`].
pub fn is_body_timeout(e: &PayloadError) -> bool {
    matches!(e, PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut)
}

/// No input should reach a panic; if one does anyway, the client gets a 500 problem and the
/// connection lives on. The panic hook (`telemetry::init`) has logged it, in one line. The
/// request cannot be kept for the answer (routing needs it unshared), so the 500 leaves as an
/// error, which actix answers with the error's own problem body.
pub async fn catch_panics<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(res) => res,
        Err(_) => {
            if let Some(state) = state {
                state.metrics.handler_panic();
            }
            Err(ApiError::internal(anyhow::anyhow!("the handler failed unexpectedly")).into())
        }
    }
}
