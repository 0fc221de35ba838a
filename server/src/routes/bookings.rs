//! `/api/v1/bookings` and `/api/v1/passes`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use passcom_shared::api::{BookingRequest, PassList};
use uuid::Uuid;

use crate::auth::Passenger;
use crate::booking::coordinator::{self, Outcome};
use crate::booking::idempotency::IdempotencyKey;
use crate::error::ApiResult;
use crate::passes;
use crate::startup::AppState;
use crate::telemetry::RequestId;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/bookings").post(book))
        .service(web::resource("/api/v1/passes").get(list_passes))
        .service(web::resource("/api/v1/passes/{pass_id}").get(get_pass).delete(cancel_pass));
}

async fn book(
    state: web::Data<AppState>,
    req: HttpRequest,
    rid: RequestId,
    passenger: Passenger,
    body: web::Json<BookingRequest>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let key = match req.headers().get("idempotency-key") {
        Some(raw) => {
            let raw = raw.to_str().unwrap_or("\u{0}");
            // The parsed body, re-serialized, so formatting differences are not "another body".
            let canonical = serde_json::to_vec(&body).unwrap_or_default();
            Some(IdempotencyKey::parse(raw, &canonical)?)
        }
        None => None,
    };
    match coordinator::book(&state, passenger.user_id, &rid.0, body, key).await? {
        Outcome::Created(pass) => Ok(created(&pass.pass_id).json(pass)),
        Outcome::Replayed { status, body } => {
            let status = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK);
            let mut res = if status == actix_web::http::StatusCode::CREATED {
                let pass_id = body
                    .get("pass_id")
                    .and_then(|v| v.as_str())
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .unwrap_or_default();
                created(&pass_id)
            } else {
                let mut res = HttpResponse::build(status);
                res.content_type(passcom_shared::problem::CONTENT_TYPE);
                res
            };
            Ok(res.insert_header(("idempotent-replayed", "true")).json(body))
        }
    }
}

fn created(pass_id: &Uuid) -> actix_web::HttpResponseBuilder {
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/v1/passes/{pass_id}")));
    res
}

async fn list_passes(state: web::Data<AppState>, passenger: Passenger) -> ApiResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    let passes = passes::for_user(&mut conn, passenger.user_id, None).await?;
    Ok(HttpResponse::Ok().json(PassList { passes }))
}

async fn get_pass(state: web::Data<AppState>, passenger: Passenger, path: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    let pass = passes::one(&mut conn, passenger.user_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(pass))
}

async fn cancel_pass(
    state: web::Data<AppState>,
    passenger: Passenger,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let pass = passes::cancel(&state, passenger.user_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(pass))
}
