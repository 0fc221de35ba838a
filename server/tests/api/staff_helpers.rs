//! Helpers of the airline-operations tests: staff accounts, segments to publish, and a reader
//! of Server-Sent Events streams.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use passcom_server::accounts::Login;
use passcom_server::auth::password::Passwords;
use passcom_server::operations::staff;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::*;

/// Creates a staff member of `airline` in its database (as `passcom-server staff add` does) and
/// logs them in at `base`; returns the token.
pub async fn staff_token(client: &Client, db: &TestDb, airline: &str, base: &str) -> String {
    let login = format!("ops-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let hash = Passwords::new(1).hash(PASSWORD.into()).await.unwrap();
    let mut conn = db.conn().await;
    staff::add(&mut conn, airline, &Login::parse(&login).unwrap(), &hash).await.unwrap();
    client.login(base, &login).await.access_token
}

/// The JSON of a segment to publish: `minutes` long, `rows` rows of seats A-F.
pub fn new_segment(flight: &str, from: &str, to: &str, departs_at: DateTime<Utc>, price: &str, rows: u32) -> Value {
    json!({
        "flight_no": flight, "origin": from, "destination": to,
        "departs_at": departs_at, "arrives_at": departs_at + chrono::Duration::minutes(90),
        "price": {"amount": price, "currency": "BRL"},
        "seats": {"rows": rows, "letters": "ABCDEF"},
    })
}

pub async fn publish(client: &Client, base: &str, token: &str, segments: &[Value]) -> Answer {
    client.post(&format!("{base}/api/v1/airline/segments"), Some(token), &json!({ "segments": segments })).await
}

/// Publishes one segment; returns its id.
pub async fn publish_one(client: &Client, base: &str, token: &str, segment: Value) -> String {
    let answer = publish(client, base, token, &[segment]).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["segments"][0]["segment_id"].as_str().unwrap().to_owned()
}

pub async fn cancel_flight(client: &Client, base: &str, token: &str, segment: &str, reason: &str) -> Answer {
    let url = format!("{base}/api/v1/airline/segments/{segment}/cancellation");
    client.post(&url, Some(token), &json!({ "reason": reason })).await
}

/// One event of a stream.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub event: String,
    pub data: Value,
}

/// A Server-Sent Events stream, read as it comes.
pub struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    pub async fn open(url: &str, token: &str, last_event_id: Option<i64>) -> Self {
        let mut request = reqwest::Client::new().get(url).bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        Sse { response, buffer: String::new() }
    }

    /// The next event within `timeout`, or `None`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&frame) {
                    return Some(event);
                }
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// Every event until the stream has been quiet for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(event) = self.next(quiet).await {
            events.push(event);
        }
        events
    }
}

fn parse(frame: &str) -> Option<Event> {
    let (mut id, mut event, mut data) = (None, None, None);
    for line in frame.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("event: ") {
            event = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = serde_json::from_str(v).ok();
        }
    }
    Some(Event { id: id?, event: event?, data: data? })
}

/// Every airline event of the server at `base` so far (replayed from the start).
pub async fn airline_events(base: &str, token: &str) -> Vec<Event> {
    Sse::open(&format!("{base}/api/v1/airline/events"), token, Some(0)).await.drain(Duration::from_millis(500)).await
}

/// The status of a pass at the server `base`, as its owner sees it.
pub async fn pass_status(client: &Client, base: &str, token: &str, pass_id: &str) -> Value {
    client.get(&format!("{base}/api/v1/passes/{pass_id}"), Some(token)).await.body
}
