//! `/api/v1/segments`, `/api/v1/routes` and `/api/v1/cities`: the federation's catalog.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use passcom_shared::api::{CityList, RouteList, SegmentDetail, SegmentList, MAX_PARTY};
use passcom_shared::city::city_key;
use passcom_shared::internal::SegmentFilter;
use passcom_shared::Problem;
use passcom_shared::{AirlineCode, SegmentId, MAX_LEGS};
use serde::Deserialize;

use crate::app::AppState;
use crate::cache::Cached;
use crate::catalog::federated::{self, start_of, Cursor};
use crate::catalog::route_search::{self, Budget, RouteQuery, SortBy, DEFAULT_MAX_LEGS};
use crate::error::{ApiError, ApiResult};
use crate::telemetry::RequestId;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/segments").get(list_segments))
        .service(web::resource("/api/v1/segments/{airline}/{segment_id}").get(segment))
        .service(web::resource("/api/v1/routes").get(routes))
        .service(web::resource("/api/v1/cities").get(cities));
}

const MAX_CITY_LEN: usize = 100;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 500;
const DEFAULT_ROUTES: usize = 50;
const MAX_ROUTES: usize = 200;

fn city(name: &'static str, value: Option<String>) -> ApiResult<Option<String>> {
    match value {
        Some(v) if v.chars().count() > MAX_CITY_LEN => {
            Err(ApiError::invalid_query(format!("`{name}` is longer than {MAX_CITY_LEN} characters")))
        }
        Some(v) if v.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn in_range(name: &str, value: Option<usize>, default: usize, max: usize) -> ApiResult<usize> {
    match value.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid_query(format!("`{name}` must be between 1 and {max}"))),
    }
}

/// Without `date`, `from` or `to`: every upcoming departure, a page at a time.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct SegmentQuery {
    origin: Option<String>,
    destination: Option<String>,
    /// Only this airline's segments.
    airline: Option<AirlineCode>,
    /// Departing on this day (UTC).
    date: Option<NaiveDate>,
    /// Departing at or after this instant.
    from: Option<DateTime<Utc>>,
    /// Departing before this instant.
    to: Option<DateTime<Utc>>,
    /// Segments per page: 1-500, default 100.
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn encode_cursor(cursor: &Cursor) -> String {
    let raw = format!("{},{},{}", cursor.departs_at.timestamp_micros(), cursor.airline, cursor.segment_id);
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(raw: &str) -> ApiResult<Cursor> {
    let bad = || ApiError::invalid_query("`cursor` is not one this server gave out");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.splitn(3, ',');
    let (Some(micros), Some(airline), Some(id)) = (parts.next(), parts.next(), parts.next()) else { return Err(bad()) };
    Ok(Cursor {
        departs_at: micros.parse().ok().and_then(DateTime::from_timestamp_micros).ok_or_else(bad)?,
        airline: AirlineCode::parse(airline).map_err(|_| bad())?,
        segment_id: SegmentId::parse(id).map_err(|_| bad())?,
    })
}

#[utoipa::path(get, path = "/api/v1/segments", tag = "catalog", params(SegmentQuery),
    responses((status = 200, body = SegmentList), (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_query`"), (status = 503, body = Problem, content_type = "application/problem+json", description = "`database_unavailable`")))]
pub(super) async fn list_segments(
    state: web::Data<AppState>,
    rid: RequestId,
    query: web::Query<SegmentQuery>,
) -> ApiResult<HttpResponse> {
    let SegmentQuery { origin, destination, airline, date, from, to, limit, cursor } = query.into_inner();
    if let Some(airline) = &airline {
        if !state.federation.knows(airline) {
            return Err(ApiError::invalid_query(format!("there is no airline `{airline}` in this federation")));
        }
    }
    let (from, to) = match (date, from, to) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(ApiError::invalid_query("give either `date` or `from`/`to`, not both"))
        }
        (Some(day), None, None) => (Some(start_of(day)), Some(start_of(day + Duration::days(1)))),
        (None, from, to) => (from, to),
    };
    let limit = in_range("limit", limit, DEFAULT_PAGE, MAX_PAGE)?;
    let after = cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = SegmentFilter {
        origin: city("origin", origin)?,
        destination: city("destination", destination)?,
        from,
        to,
        ..SegmentFilter::default()
    };
    let (mut list, next) = federated::page(&state, &rid.0, &filter, airline.as_ref(), after.as_ref(), limit).await?;
    list.next_cursor = next.as_ref().map(encode_cursor);
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(get, path = "/api/v1/segments/{airline}/{segment_id}", tag = "catalog",
    params(("airline" = AirlineCode, Path), ("segment_id" = SegmentId, Path)),
    responses((status = 200, body = SegmentDetail), (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_path`"), (status = 404, body = Problem, content_type = "application/problem+json", description = "`not_found`"), (status = 503, body = Problem, content_type = "application/problem+json", description = "`airline_unavailable` · `database_unavailable`")))]
pub(super) async fn segment(
    state: web::Data<AppState>,
    rid: RequestId,
    path: web::Path<(AirlineCode, SegmentId)>,
) -> ApiResult<HttpResponse> {
    let (airline, id) = path.into_inner();
    let detail = federated::segment_detail(&state, &rid.0, &airline, &id).await?;
    Ok(HttpResponse::Ok().json(detail))
}

#[utoipa::path(get, path = "/api/v1/cities", tag = "catalog",
    responses((status = 200, body = CityList), (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_query`"), (status = 503, body = Problem, content_type = "application/problem+json", description = "`database_unavailable`")))]
pub(super) async fn cities(
    state: web::Data<AppState>,
    rid: RequestId,
    _: web::Query<NoQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(federated::cities(&state, &rid.0).await?))
}

/// A route without parameters still refuses unknown ones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoQuery {}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct RoutesQuery {
    /// Required; case and accents do not matter.
    origin: Option<String>,
    /// Required.
    destination: Option<String>,
    /// The first leg departs this day (UTC); without it, within the next 24 hours.
    date: Option<NaiveDate>,
    /// 1-9, default 1: only legs with this many seats free.
    passengers: Option<usize>,
    /// 1-6, default 4.
    max_legs: Option<usize>,
    /// Routes returned: 1-200, default 50.
    limit: Option<usize>,
    /// Default `arrival`.
    sort: Option<SortBy>,
}

/// Sets the search's flag when dropped: when the client leaves, actix drops the handler, and
/// the search (on a blocking thread) stops at its next check.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[utoipa::path(get, path = "/api/v1/routes", tag = "catalog", params(RoutesQuery),
    responses((status = 200, body = RouteList), (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_query`"), (status = 503, body = Problem, content_type = "application/problem+json", description = "`database_unavailable`")))]
pub(super) async fn routes(
    state: web::Data<AppState>,
    rid: RequestId,
    query: web::Query<RoutesQuery>,
) -> ApiResult<HttpResponse> {
    let RoutesQuery { origin, destination, date, passengers, max_legs, limit, sort } = query.into_inner();
    let missing = |name: &str| ApiError::invalid_query(format!("`{name}` is required"));
    let origin = city("origin", origin)?.ok_or_else(|| missing("origin"))?;
    let destination = city("destination", destination)?.ok_or_else(|| missing("destination"))?;
    let max_legs = in_range("max_legs", max_legs, DEFAULT_MAX_LEGS, MAX_LEGS)?;
    let passengers = in_range("passengers", passengers, 1, MAX_PARTY)?;
    let limit = in_range("limit", limit, DEFAULT_ROUTES, MAX_ROUTES)?;
    let sort = sort.unwrap_or(SortBy::Arrival);
    let now = Utc::now();
    let (first_from, first_to) = match date {
        Some(day) => (start_of(day).max(now), start_of(day + Duration::days(1))),
        None => (now, now + Duration::days(1)),
    };
    let key = format!(
        "routes|{}|{}|{date:?}|{passengers}|{max_legs}|{limit}|{sort:?}",
        city_key(&origin),
        city_key(&destination)
    );
    answer_cached(&state, key, || async {
        if first_from >= first_to {
            let (routes, unavailable_airlines, stale_airlines) = (Vec::new(), Vec::new(), Vec::new());
            return Ok(RouteList { routes, complete: true, unavailable_airlines, stale_airlines });
        }
        let horizon = route_search::horizon(first_to, max_legs);
        let federated::Window { days, unavailable: unavailable_airlines, stale: stale_airlines } =
            federated::window(&state, &rid.0, first_from, horizon).await?;
        let cancelled = Arc::new(AtomicBool::new(false));
        let _cancel = CancelOnDrop(cancelled.clone());
        let deadline = Instant::now() + state.settings.search_deadline;
        let found = tokio::task::spawn_blocking(move || {
            let query = RouteQuery {
                origin: &origin,
                destination: &destination,
                first_from,
                first_to,
                passengers: passengers as i64,
                max_legs,
                limit,
                sort,
            };
            route_search::find_routes(
                days.iter().flat_map(|d| d.iter()),
                &query,
                &Budget { deadline, cancelled: &cancelled },
            )
        })
        .await
        .map_err(ApiError::internal)?;
        Ok(RouteList { routes: found.routes, complete: found.complete, unavailable_airlines, stale_airlines })
    })
    .await
}

/// Search answers are built from catalogs that are themselves up to `catalog_ttl` old, so the
/// finished JSON is reused for as long: a popular search costs one computation a second, made
/// by one request while the others get the previous answer.
async fn answer_cached<T, Fut>(state: &AppState, key: String, compute: impl FnOnce() -> Fut) -> ApiResult<HttpResponse>
where
    T: serde::Serialize,
    Fut: std::future::Future<Output = ApiResult<T>>,
{
    let stale = match state.answers.get(&key) {
        Cached::Serve(body) => return Ok(json_body(body)),
        Cached::Refresh(body) => Some(body),
        Cached::Missing => None,
    };
    let body = match compute().await {
        Ok(answer) => web::Bytes::from(serde_json::to_vec(&answer).map_err(ApiError::internal)?),
        // The stale answer beats an error while it lasts.
        Err(e) => return stale.map(json_body).ok_or(e),
    };
    state.answers.insert(key, body.clone());
    Ok(json_body(body))
}

fn json_body(body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(body)
}
