//! A route search as a request runs it: every airline's segments of the window it needs, then
//! [`route_search::find_routes`] on a blocking thread with a deadline, stopped early when the
//! caller's future is dropped (actix drops a handler when its client leaves).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use passcom_shared::api::RouteList;

use super::federated;
use super::route_search::{self, Budget, RouteQuery, SortBy};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};

/// What to search for: the first leg departs in `[first_from, first_to)`.
#[derive(Debug, Clone)]
pub struct RouteSearch {
    pub origin: String,
    pub destination: String,
    pub first_from: DateTime<Utc>,
    pub first_to: DateTime<Utc>,
    pub passengers: i64,
    pub max_legs: usize,
    pub limit: usize,
    pub sort: SortBy,
}

/// Sets the search's flag when dropped, so the search (on a blocking thread) stops at its next
/// check once nobody waits for it.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

pub async fn routes(state: &AppState, request_id: &str, search: RouteSearch) -> ApiResult<RouteList> {
    if search.first_from >= search.first_to {
        return Ok(RouteList { routes: Vec::new(), complete: true, unavailable_airlines: Vec::new() });
    }
    let horizon = route_search::horizon(search.first_to, search.max_legs);
    let (days, unavailable_airlines) = federated::window(state, request_id, search.first_from, horizon).await?;
    let cancelled = Arc::new(AtomicBool::new(false));
    let _cancel = CancelOnDrop(cancelled.clone());
    let deadline = Instant::now() + state.settings.search_deadline;
    let found = tokio::task::spawn_blocking(move || {
        let query = RouteQuery {
            origin: &search.origin,
            destination: &search.destination,
            first_from: search.first_from,
            first_to: search.first_to,
            passengers: search.passengers,
            max_legs: search.max_legs,
            limit: search.limit,
            sort: search.sort,
        };
        route_search::find_routes(
            days.iter().flat_map(|d| d.iter()),
            &query,
            &Budget { deadline, cancelled: &cancelled },
        )
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(RouteList { routes: found.routes, complete: found.complete, unavailable_airlines })
}
