//! `/api/v1/bookings` and `/api/v1/passes`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use passcom_shared::api::{BookingRequest, Pass, PassList};
use passcom_shared::Problem;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::Passenger;
use crate::booking::idempotency::{IdempotencyKey, KeyHeader, Outcome};
use crate::booking::{cancel, coordinator};
use crate::error::{ApiError, ApiResult};
use crate::passes;
use crate::telemetry::RequestId;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/bookings").post(book))
        .service(web::resource("/api/v1/passes").get(list_passes))
        .service(web::resource("/api/v1/passes/{pass_id}").get(get_pass).delete(cancel_pass));
}

#[utoipa::path(post, path = "/api/v1/bookings", tag = "bookings", security(("bearer" = [])), request_body = BookingRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1-255 visible ASCII characters; a repeat replays the first answer")),
    responses((status = 201, body = Pass, description = "every leg booked; `Location` names the pass"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_body` · `invalid_itinerary` · `invalid_header`"), (status = 401, body = Problem, content_type = "application/problem+json", description = "`unauthorized`"), (status = 409, body = Problem, content_type = "application/problem+json", description = "`seat_taken` · `seat_locked` · `request_in_progress`"), (status = 413, body = Problem, content_type = "application/problem+json", description = "`payload_too_large`"), (status = 415, body = Problem, content_type = "application/problem+json", description = "`unsupported_media_type`"), (status = 422, body = Problem, content_type = "application/problem+json", description = "`idempotency_key_reused`"), (status = 503, body = Problem, content_type = "application/problem+json", description = "`airline_unavailable` · `lock_service_unavailable` · `database_unavailable` · `booking_timed_out`")))]
pub(super) async fn book(
    state: web::Data<AppState>,
    rid: RequestId,
    passenger: Passenger,
    body: web::Json<BookingRequest>,
    key: KeyHeader,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let key = match key.0 {
        Some(key) => Some(IdempotencyKey::new(key, &serde_json::to_vec(&body).map_err(ApiError::internal)?)),
        None => None,
    };
    Ok(match coordinator::book(&state, passenger.user_id, &rid.0, body, key).await? {
        Outcome::Created(pass) => created(&pass.pass_id).json(pass),
        Outcome::Replayed { status, body, booking_id } => {
            let mut res = match StatusCode::from_u16(status).unwrap_or(StatusCode::OK) {
                StatusCode::CREATED => created(&booking_id),
                status => {
                    let mut res = HttpResponse::build(status);
                    res.content_type(passcom_shared::problem::CONTENT_TYPE);
                    res
                }
            };
            res.insert_header(("idempotent-replayed", "true")).json(body)
        }
    })
}

fn created(pass_id: &Uuid) -> actix_web::HttpResponseBuilder {
    let mut res = HttpResponse::Created();
    res.insert_header((header::LOCATION, format!("/api/v1/passes/{pass_id}")));
    res
}

#[utoipa::path(get, path = "/api/v1/passes", tag = "bookings", security(("bearer" = [])),
    responses((status = 200, body = PassList), (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_query`"), (status = 401, body = Problem, content_type = "application/problem+json", description = "`unauthorized`"), (status = 503, body = Problem, content_type = "application/problem+json", description = "`database_unavailable`")))]
pub(super) async fn list_passes(state: web::Data<AppState>, passenger: Passenger) -> ApiResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    let passes = passes::for_user(&mut conn, passenger.user_id, None).await?;
    Ok(HttpResponse::Ok().json(PassList { passes }))
}

#[utoipa::path(get, path = "/api/v1/passes/{pass_id}", tag = "bookings", security(("bearer" = [])),
    params(("pass_id" = Uuid, Path)),
    responses((status = 200, body = Pass), (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_path`"), (status = 401, body = Problem, content_type = "application/problem+json", description = "`unauthorized`"), (status = 404, body = Problem, content_type = "application/problem+json", description = "`not_found`"), (status = 503, body = Problem, content_type = "application/problem+json", description = "`database_unavailable`")))]
pub(super) async fn get_pass(
    state: web::Data<AppState>,
    passenger: Passenger,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let mut conn = state.pool.get().await?;
    let pass = passes::one(&mut conn, passenger.user_id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(pass))
}

#[utoipa::path(delete, path = "/api/v1/passes/{pass_id}", tag = "bookings", security(("bearer" = [])),
    params(("pass_id" = Uuid, Path)),
    responses((status = 200, body = Pass, description = "the pass, cancelled (again: the same answer)"), (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_path`"), (status = 401, body = Problem, content_type = "application/problem+json", description = "`unauthorized`"), (status = 404, body = Problem, content_type = "application/problem+json", description = "`not_found`"), (status = 503, body = Problem, content_type = "application/problem+json", description = "`database_unavailable`")))]
pub(super) async fn cancel_pass(
    state: web::Data<AppState>,
    rid: RequestId,
    passenger: Passenger,
    path: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let pass = cancel::cancel(&state, &rid.0, &passenger, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(pass))
}
