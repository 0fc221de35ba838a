//! `/api/v1/airline/…`: what an airline's staff do with its own flights, at its own server.
//! Every handler takes `Staff` first, so a passenger, a stranger's token or another airline's
//! staff is refused before the body is even read.

use actix_web::{web, HttpResponse};
use chrono::{Duration, NaiveDate, Utc};
use passcom_shared::airline::{
    CancelledFlight, FlightCancellation, PriceChange, PublishRequest, Published, SalesReport,
};
use passcom_shared::api::Segment;
use passcom_shared::{Problem, SegmentId};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::Staff;
use crate::error::{ApiError, ApiResult};
use crate::operations::{sales, schedule};

/// A batch of [`schedule::MAX_BATCH`] segments fits with room to spare.
const PUBLISH_LIMIT: usize = 512 * 1024;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/airline/segments").app_data(super::json_config(PUBLISH_LIMIT)).post(publish))
        .service(web::resource("/api/v1/airline/segments/{segment_id}").patch(change_price))
        .service(web::resource("/api/v1/airline/segments/{segment_id}/cancellation").post(cancel))
        .service(web::resource("/api/v1/airline/sales").get(sales));
}

#[utoipa::path(post, path = "/api/v1/airline/segments", tag = "airline", security(("bearer" = [])), request_body = PublishRequest,
    responses((status = 201, body = Published, description = "every segment published, with its seat map"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_body`: a field of `segments[i]` is not sane (times, cities, seats, price, id)"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`unauthorized`"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`forbidden`: not staff of this airline"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`segment_exists`: nothing was published"),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "`payload_too_large`"),
        (status = 415, body = Problem, content_type = "application/problem+json", description = "`unsupported_media_type`"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "`database_unavailable`")))]
pub(super) async fn publish(
    staff: Staff,
    state: web::Data<AppState>,
    body: web::Json<PublishRequest>,
) -> ApiResult<HttpResponse> {
    let flights = schedule::parse_batch(body.into_inner(), Utc::now())?;
    let segments = schedule::publish(&state, flights).await?;
    tracing::info!(staff = %staff.login, segments = segments.len(), "segments published");
    Ok(HttpResponse::Created().json(Published { segments }))
}

#[utoipa::path(patch, path = "/api/v1/airline/segments/{segment_id}", tag = "airline", security(("bearer" = [])),
    params(("segment_id" = String, Path)), request_body = PriceChange,
    responses((status = 200, body = Segment, description = "the segment at its new price; passes already sold keep theirs"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_body` (a price of another currency) · `invalid_path`"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`unauthorized`"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`forbidden`"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "`not_found`: no upcoming segment of this airline"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`flight_cancelled`"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "`database_unavailable`")))]
pub(super) async fn change_price(
    staff: Staff,
    state: web::Data<AppState>,
    path: web::Path<SegmentId>,
    body: web::Json<PriceChange>,
) -> ApiResult<HttpResponse> {
    let segment = schedule::change_price(&state, &path.into_inner(), body.into_inner().price).await?;
    tracing::info!(staff = %staff.login, segment = %segment.segment_id, "price changed");
    Ok(HttpResponse::Ok().json(segment))
}

#[utoipa::path(post, path = "/api/v1/airline/segments/{segment_id}/cancellation", tag = "airline", security(("bearer" = [])),
    params(("segment_id" = String, Path)), request_body = FlightCancellation,
    responses((status = 200, body = CancelledFlight, description = "cancelled (again: the first cancellation); its passes are disrupted everywhere"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_body` · `invalid_path`"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`unauthorized`"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`forbidden`"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "`not_found`: no upcoming segment of this airline"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "`database_unavailable`")))]
pub(super) async fn cancel(
    staff: Staff,
    state: web::Data<AppState>,
    path: web::Path<SegmentId>,
    body: web::Json<FlightCancellation>,
) -> ApiResult<HttpResponse> {
    let reason = schedule::parse_reason(&body.into_inner().reason)?;
    let cancelled = schedule::cancel(&state, &path.into_inner(), reason).await?;
    tracing::info!(staff = %staff.login, segment = %cancelled.segment_id, "flight cancelled");
    Ok(HttpResponse::Ok().json(cancelled))
}

/// Departure days (UTC), both included; default today and the six days after.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct SalesQuery {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

#[utoipa::path(get, path = "/api/v1/airline/sales", tag = "airline", security(("bearer" = [])), params(SalesQuery),
    responses((status = 200, body = SalesReport),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_query`: `to` before `from`, more than 366 days"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`unauthorized`"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`forbidden`"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "`database_unavailable`")))]
pub(super) async fn sales(
    _: Staff,
    state: web::Data<AppState>,
    query: web::Query<SalesQuery>,
) -> ApiResult<HttpResponse> {
    let SalesQuery { from, to } = query.into_inner();
    let from = from.unwrap_or_else(|| Utc::now().date_naive());
    let to = to.unwrap_or(from + Duration::days(6));
    let days = (to - from).num_days() + 1;
    if !(1..=sales::MAX_DAYS).contains(&days) {
        return Err(ApiError::invalid_query(format!("`from`..`to` covers 1 to {} days", sales::MAX_DAYS)));
    }
    let mut conn = state.pool.get().await?;
    Ok(HttpResponse::Ok().json(sales::report(&mut conn, from, to).await?))
}
