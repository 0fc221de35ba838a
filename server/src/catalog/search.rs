//! A route search as a request runs it: every airline's segments of the window it needs, then
//! [`route_search::find_routes`] on a blocking thread with a deadline, stopped early when the
//! caller's future is dropped (actix drops a handler when its client leaves).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use passcom_shared::api::RouteList;

use super::federated;
use super::route_search::{self, Budget, RouteQuery};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};

/// Sets the search's flag when dropped, so the search (on a blocking thread) stops at its next
/// check once nobody waits for it.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Routes for `query`, the first leg departing in `[first_from, first_to)`.
pub async fn routes(state: &AppState, request_id: &str, query: RouteQuery) -> ApiResult<RouteList> {
    if query.first_from >= query.first_to {
        return Ok(RouteList { routes: Vec::new(), complete: true, unavailable_airlines: Vec::new() });
    }
    let horizon = route_search::horizon(query.first_to, query.max_legs);
    let (days, unavailable_airlines) = federated::window(state, request_id, query.first_from, horizon).await?;
    let cancelled = Arc::new(AtomicBool::new(false));
    let _cancel = CancelOnDrop(cancelled.clone());
    let deadline = Instant::now() + state.settings.search_deadline;
    let found = tokio::task::spawn_blocking(move || {
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
