//! `/api/v1/segments`, `/api/v1/routes` and `/api/v1/cities`: the federation's catalog.

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
use crate::catalog::route_search::{RouteQuery, SortBy, DEFAULT_MAX_LEGS};
use crate::catalog::search;
use crate::error::{ApiError, ApiResult};
use crate::telemetry::RequestId;

use super::refusals::QueryRefusals;

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
    responses((status = 200, body = SegmentList), QueryRefusals))]
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
    responses((status = 200, body = CityList), QueryRefusals))]
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

#[utoipa::path(get, path = "/api/v1/routes", tag = "catalog", params(RoutesQuery),
    responses((status = 200, body = RouteList), QueryRefusals))]
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
    let query =
        RouteQuery { origin, destination, first_from, first_to, passengers: passengers as i64, max_legs, limit, sort };
    answer_cached(&state, key, || search::routes(&state, &rid.0, query)).await
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

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any query string reads as a query or is refused; a key the route does not know is
        /// always refused.
        #[test]
        fn query_strings_never_panic_and_unknown_keys_are_refused(
            key in "[a-z_]{1,12}|\\PC{1,6}",
            value in "\\PC{0,20}|%[0-9A-Fa-f]{2}|%[^0-9]{0,2}",
        ) {
            let raw = format!("{key}={value}");
            let segments = web::Query::<SegmentQuery>::from_query(&raw);
            let routes = web::Query::<RoutesQuery>::from_query(&raw);
            let segment_keys = ["origin", "destination", "airline", "date", "from", "to", "limit", "cursor"];
            if !segment_keys.contains(&key.as_str()) {
                prop_assert!(segments.is_err(), "{:?}", raw);
            }
            let route_keys = ["origin", "destination", "date", "passengers", "max_legs", "limit", "sort"];
            if !route_keys.contains(&key.as_str()) {
                prop_assert!(routes.is_err(), "{:?}", raw);
            }
            let _ = city("origin", Some(value));
        }
    }
}
