//! CORS for the original API only: the original pages are served from their own origin
//! (`http://localhost:5050` by default) and call the airlines from the browser. Our own web app
//! is served by each airline itself and needs none, so the public API stays same-origin.
//!
//! A listed origin gets `Access-Control-Allow-Origin` on every answer and its preflight
//! (`OPTIONS` with `Access-Control-Request-Method`) is answered here with 204. Any other origin
//! gets no CORS headers at all, which is how a browser is told no.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use crate::app::AppState;

const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "Authorization, Content-Type";
/// Browsers may reuse a preflight answer for ten minutes.
const MAX_AGE: &str = "600";

/// The request's origin, when it is one of the configured ones.
fn allowed_origin(req: &ServiceRequest) -> Option<HeaderValue> {
    let origin = req.headers().get(header::ORIGIN)?;
    let state = req.app_data::<web::Data<AppState>>()?;
    let text = origin.to_str().ok()?;
    state.settings.cors_origins.iter().any(|o| o == text).then(|| origin.clone())
}

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let origin = allowed_origin(&req);
    let preflight =
        req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut res = if preflight {
        let mut answer = HttpResponse::NoContent();
        if origin.is_some() {
            answer
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE));
        }
        req.into_response(answer.finish())
    } else {
        next.call(req).await?.map_into_boxed_body()
    };
    let headers = res.headers_mut();
    // The answer depends on the origin: caches must not serve one origin's answer to another.
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    Ok(res)
}
