//! A route search as a request runs it: every airline's segments of the window it needs, then
//! [`route_search::find_routes`] on a blocking thread with a deadline, stopped early when the
//! caller's future is dropped (actix drops a handler when its client leaves).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix_web::web;
use chrono::Duration;
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

/// How far past the first departure window segments are read at first: most routes arrive
/// within it, and reading a week of every airline's schedule for each search would cost far more
/// than the search itself.
const FIRST_REACH: Duration = Duration::hours(48);

/// Routes for `query`, the first leg departing in `[first_from, first_to)`. The segments up to
/// [`FIRST_REACH`] after the window are searched first; only when a route may still need later
/// legs (no route found yet, or the latest useful arrival lies beyond what was read) is the
/// search run again over everything `max_legs` legs can reach.
pub async fn routes(state: &web::Data<AppState>, request_id: &str, query: RouteQuery) -> ApiResult<RouteList> {
    if query.first_from >= query.first_to {
        let (routes, unavailable_airlines, stale_airlines) = (Vec::new(), Vec::new(), Vec::new());
        return Ok(RouteList { routes, complete: true, unavailable_airlines, stale_airlines });
    }
    let reach = route_search::horizon(query.first_to, query.max_legs);
    let cancelled = Arc::new(AtomicBool::new(false));
    let _cancel = CancelOnDrop(cancelled.clone());
    let deadline = Instant::now() + state.settings.search_deadline;
    let mut until = (query.first_to + FIRST_REACH).min(reach);
    loop {
        let federated::Window { days, unavailable: unavailable_airlines, stale: stale_airlines } =
            federated::window(state, request_id, query.first_from, until).await?;
        let (query, cancelled) = (query.clone(), cancelled.clone());
        let found = tokio::task::spawn_blocking(move || {
            let budget = Budget { deadline, cancelled: &cancelled };
            route_search::find_routes(
                days.iter().flat_map(|d| d.iter()).filter(|p| p.segment.departs_at < until),
                &query,
                &budget,
            )
        })
        .await
        .map_err(ApiError::internal)?;
        if until >= reach || found.arrive_by.is_some_and(|by| by <= until) {
            let (routes, complete) = (found.routes, found.complete);
            return Ok(RouteList { routes, complete, unavailable_airlines, stale_airlines });
        }
        until = reach;
    }
}
