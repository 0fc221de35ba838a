//! HTTP routes. Handlers are thin: parse, call the module that does the work, shape the answer.
//! Every extractor failure and every bare error status becomes a problem body here.

mod accounts;
mod airline;
mod bookings;
mod catalog;
pub mod edge;
mod events;
mod internal;
mod legacy;
mod openapi;
mod ops;
mod refusals;
mod webapp;

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{web, HttpRequest, HttpResponse};
use passcom_shared::problem::CONTENT_TYPE;
use passcom_shared::Code;

use crate::error::ApiError;

/// The largest JSON body a public endpoint accepts.
pub const JSON_LIMIT: usize = 64 * 1024;

/// JSON bodies up to `limit` bytes, with every failure answered as a problem.
fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(json_error)
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config(JSON_LIMIT))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .configure(ops::config)
        .configure(accounts::config)
        .configure(catalog::config)
        .configure(events::config)
        .configure(bookings::config)
        .configure(airline::config)
        .configure(internal::config)
        .configure(legacy::config)
        .configure(openapi::config)
        .configure(webapp::config);
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    json_failure(&err).into()
}

/// What a body that could not be read as JSON is refused with.
fn json_failure(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { limit, .. } | JsonPayloadError::Overflow { limit } => {
            ApiError::new(Code::PayloadTooLarge, format!("the body is larger than the {limit} bytes allowed"))
        }
        JsonPayloadError::ContentType => {
            ApiError::new(Code::UnsupportedMediaType, "the body must be JSON with `Content-Type: application/json`")
        }
        JsonPayloadError::Payload(e) if edge::is_body_timeout(e) => {
            ApiError::new(Code::RequestTimeout, "the body was not sent in time")
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::invalid_body(format!("the body does not fit: {}", without_values(&e.to_string())))
        }
        JsonPayloadError::Deserialize(e) => ApiError::invalid_body(format!("the body is not valid JSON: {e}")),
        _ => ApiError::invalid_body("the body could not be read"),
    }
}

/// serde's message without the value it quotes: `invalid type: integer `12345678`, expected a
/// string` would echo a numeric password back (and into the log).
fn without_values(message: &str) -> String {
    let quotes_a_value = ["invalid type", "invalid value", "invalid length"].iter().any(|p| message.starts_with(p));
    match message.split_once(", expected ") {
        Some((what, expected)) if quotes_a_value => {
            format!("{}: expected {expected}", what.split(':').next().unwrap_or(what))
        }
        _ => message.to_owned(),
    }
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let detail = match &err {
        QueryPayloadError::Deserialize(e) => without_values(&e.to_string()),
        _ => "it cannot be read".to_owned(),
    };
    ApiError::invalid_query(format!("the query string does not fit: {detail}")).into()
}

fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    let detail = match &err {
        PathError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    ApiError::new(Code::InvalidPath, format!("the URL does not fit: {detail}")).into()
}

/// Gives a problem body to every error answer that has no body at all.
pub fn ensure_problem<B: MessageBody>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Only bodiless answers (actix's own 404s and 405s) need one; anything with a body already
    // says what it means (a problem, or the readiness report).
    let has_body = !matches!(res.response().body().size(), BodySize::None | BodySize::Sized(0));
    if has_body {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let problem = ApiError::for_status(status).problem();
    let (req, res) = res.into_parts();
    let mut new = HttpResponse::build(status).json(problem);
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    new.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    let res: ServiceResponse<EitherBody<B, BoxBody>> = ServiceResponse::new(req, new).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(res))
}

/// For everything no route matched.
pub async fn not_found() -> HttpResponse {
    let problem = ApiError::for_status(StatusCode::NOT_FOUND).problem();
    HttpResponse::NotFound().content_type(CONTENT_TYPE).json(problem)
}
