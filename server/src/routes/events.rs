//! Server-Sent Events: `/api/v1/airline/events` (staff) and `/api/v1/passes/events` (a
//! passenger's own passes). Both read the events table, after the event the client last saw
//! (`Last-Event-ID`), or from now on; the events' round says when there is more.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use passcom_shared::airline::{AirlineEvent, PassEvent};
use passcom_shared::{Code, Problem};
use tokio::sync::watch;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Passenger, Staff};
use crate::error::{ApiError, ApiResult};
use crate::operations::events::{self, Position};

/// A comment this often keeps proxies from closing a quiet stream, and finds clients gone.
const HEARTBEAT: Duration = Duration::from_secs(15);

pub fn config(cfg: &mut web::ServiceConfig) {
    // Before `/api/v1/passes/{pass_id}`, which would take `events` for an id.
    cfg.service(web::resource("/api/v1/passes/events").get(pass_events))
        .service(web::resource("/api/v1/airline/events").get(airline_events));
}

#[utoipa::path(get, path = "/api/v1/airline/events", tag = "airline", security(("bearer" = [])),
    params(("Last-Event-ID" = Option<i64>, Header, description = "the `id` of the last event seen: every later one is sent first")),
    responses((status = 200, body = AirlineEvent, content_type = "text/event-stream",
            description = "`id: N`, `event: KIND`, `data: {event}` for every sale, cancellation, schedule change and `low_availability` of this airline, as committed"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_header`: Last-Event-ID is not a number"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`unauthorized`"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`forbidden`: not staff of this airline"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "`database_unavailable`")))]
pub(super) async fn airline_events(_: Staff, state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let after = start(&state, &req).await?;
    Ok(stream(state, Feed::Airline, after))
}

#[utoipa::path(get, path = "/api/v1/passes/events", tag = "bookings", security(("bearer" = [])),
    params(("Last-Event-ID" = Option<i64>, Header, description = "the `id` of the last event seen: every later one is sent first")),
    responses((status = 200, body = PassEvent, content_type = "text/event-stream",
            description = "`id: N`, `event: STATUS`, `data: {event}` each time one of the caller's passes is confirmed, disrupted or cancelled"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_header`"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`unauthorized`"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`forbidden`: a staff token"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "`database_unavailable`")))]
pub(super) async fn pass_events(
    passenger: Passenger,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let after = start(&state, &req).await?;
    Ok(stream(state, Feed::Passenger(passenger.user_id), after))
}

enum Feed {
    Airline,
    Passenger(Uuid),
}

/// The event to send events after: the client's `Last-Event-ID`, or the last finished one (from
/// now on).
async fn start(state: &AppState, req: &HttpRequest) -> ApiResult<i64> {
    if let Some(value) = req.headers().get("last-event-id") {
        let last = value.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()).filter(|n| *n >= 0);
        return last
            .ok_or_else(|| ApiError::new(Code::InvalidHeader, "`Last-Event-ID` must be an event id (a number)"));
    }
    let mut conn = state.pool.get().await?;
    Ok(events::top(&mut conn).await?.id())
}

fn frame(id: i64, event: &str, data: &impl serde::Serialize) -> String {
    // serde_json never writes a raw newline, so the data is one line.
    let data = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    format!("id: {id}\nevent: {event}\ndata: {data}\n\n")
}

/// The frames of the events after `after`, and the last id they cover.
async fn next_frames(state: &AppState, feed: &Feed, after: i64) -> anyhow::Result<(String, Option<i64>)> {
    let mut conn = state.pool.get().await?;
    let after = Position::from_id(after).unwrap_or(Position::START);
    Ok(match feed {
        Feed::Airline => {
            let list = events::airline_after(&mut conn, after).await?;
            let text = list.iter().map(|e| frame(e.id, events::kind_word(e.kind), e)).collect();
            (text, list.last().map(|e| e.id))
        }
        Feed::Passenger(user_id) => {
            let list = events::passenger_after(&mut conn, *user_id, after).await?;
            let text = list.iter().map(|e| frame(e.id, crate::passes::status_word(e.status), e)).collect();
            (text, list.last().map(|e| e.id))
        }
    })
}

struct Cursor {
    state: web::Data<AppState>,
    feed: Feed,
    after: i64,
    top: watch::Receiver<i64>,
}

impl Cursor {
    /// The next chunk of the stream: events, or a heartbeat after a quiet while; `None` ends
    /// the stream (the client reconnects with its `Last-Event-ID`).
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Self)> {
        loop {
            let top = *self.top.borrow_and_update();
            if top > self.after {
                match next_frames(&self.state, &self.feed, self.after).await {
                    Ok((text, Some(last))) => {
                        self.after = last;
                        return Some((Ok(Bytes::from(text)), self));
                    }
                    // Nothing of ours up to `top`: every event up to it is committed and was read.
                    Ok((_, None)) => self.after = top,
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream ended: events could not be read");
                        return None;
                    }
                }
                continue;
            }
            tokio::select! {
                changed = self.top.changed() => changed.ok()?,
                () = tokio::time::sleep(HEARTBEAT) => return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), self)),
            }
        }
    }
}

fn stream(state: web::Data<AppState>, feed: Feed, after: i64) -> HttpResponse {
    let top = state.events_top.subscribe();
    let cursor = Cursor { state, feed, after, top };
    // A client that loses the stream tries again after a second.
    let hello = futures::stream::once(async { Ok::<_, Infallible>(Bytes::from_static(b"retry: 1000\n\n")) });
    let events = futures::stream::unfold(cursor, Cursor::next);
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(futures::StreamExt::chain(hello, events))
}
