//! `/api/v1/segments` and `/api/v1/routes`: the federation's catalog.

use actix_web::{web, HttpResponse};
use passcom_shared::api::RouteList;
use passcom_shared::city::city_key;
use passcom_shared::internal::SegmentFilter;
use passcom_shared::{AirlineCode, SegmentId};
use serde::Deserialize;

use passcom_shared::MAX_LEGS;

use crate::app::AppState;
use crate::cache::Cached;
use crate::catalog::federated as catalog;
use crate::catalog::route_search::{self, DEFAULT_MAX_LEGS};
use crate::error::{ApiError, ApiResult};
use crate::telemetry::RequestId;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/segments").get(list_segments))
        .service(web::resource("/api/v1/segments/{airline}/{segment_id}").get(segment))
        .service(web::resource("/api/v1/routes").get(routes));
}

const MAX_CITY_LEN: usize = 100;

fn city(name: &'static str, value: Option<String>) -> ApiResult<Option<String>> {
    match value {
        Some(v) if v.chars().count() > MAX_CITY_LEN => {
            Err(ApiError::invalid_query(format!("`{name}` is longer than {MAX_CITY_LEN} characters")))
        }
        Some(v) if v.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentQuery {
    origin: Option<String>,
    destination: Option<String>,
    airline: Option<AirlineCode>,
}

async fn list_segments(
    state: web::Data<AppState>,
    rid: RequestId,
    query: web::Query<SegmentQuery>,
) -> ApiResult<HttpResponse> {
    let SegmentQuery { origin, destination, airline } = query.into_inner();
    if let Some(airline) = &airline {
        if !state.federation.knows(airline) {
            return Err(ApiError::invalid_query(format!("there is no airline `{airline}` in this federation")));
        }
    }
    let filter =
        SegmentFilter { origin: city("origin", origin)?, destination: city("destination", destination)?, ids: None };
    let list = catalog::segments(&state, &rid.0, &filter, airline.as_ref()).await?;
    Ok(HttpResponse::Ok().json(list))
}

async fn segment(
    state: web::Data<AppState>,
    rid: RequestId,
    path: web::Path<(AirlineCode, SegmentId)>,
) -> ApiResult<HttpResponse> {
    let (airline, id) = path.into_inner();
    let detail = catalog::segment_detail(&state, &rid.0, &airline, &id).await?;
    Ok(HttpResponse::Ok().json(detail))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteQuery {
    origin: Option<String>,
    destination: Option<String>,
    max_legs: Option<usize>,
}

async fn routes(state: web::Data<AppState>, rid: RequestId, query: web::Query<RouteQuery>) -> ApiResult<HttpResponse> {
    let RouteQuery { origin, destination, max_legs } = query.into_inner();
    let missing = |name: &str| ApiError::invalid_query(format!("`{name}` is required"));
    let origin = city("origin", origin)?.ok_or_else(|| missing("origin"))?;
    let destination = city("destination", destination)?.ok_or_else(|| missing("destination"))?;
    let max_legs = max_legs.unwrap_or(DEFAULT_MAX_LEGS);
    if !(1..=MAX_LEGS).contains(&max_legs) {
        return Err(ApiError::invalid_query(format!("`max_legs` must be between 1 and {MAX_LEGS}")));
    }
    let key = format!("routes|{}|{}|{max_legs}", city_key(&origin), city_key(&destination));
    answer_cached(&state, key, || async {
        let all = catalog::segments(&state, &rid.0, &SegmentFilter::default(), None).await?;
        let routes = route_search::find_routes(&all.segments, &origin, &destination, max_legs);
        Ok(RouteList { routes, unavailable_airlines: all.unavailable_airlines })
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
            let routes = web::Query::<RouteQuery>::from_query(&raw);
            if !["origin", "destination", "airline"].contains(&key.as_str()) {
                prop_assert!(segments.is_err(), "{:?}", raw);
            }
            if !["origin", "destination", "max_legs"].contains(&key.as_str()) {
                prop_assert!(routes.is_err(), "{:?}", raw);
            }
            let _ = city("origin", Some(value));
        }
    }
}
