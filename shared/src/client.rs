//! The typed client for the internal API. It knows URLs and bodies, not policy: the caller
//! supplies the service token and request id, and decides about retries and circuit breaking.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::api::{Account, Pass, SegmentDetail};
use crate::internal::{
    CancelRequest, CityBatch, DecisionBody, HoldGranted, HoldRequest, LegacyLookup, LegacySegmentBatch, LoginClaim,
    ReplicationBatch, ReplicationReceipt, SeatsChanged, SegmentBatch, SegmentFilter,
};
use crate::{Problem, SegmentId};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// Connection refused, timeout, or a 5xx: the peer may be down; worth retrying later.
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The peer answered with a definite refusal (a 4xx problem body).
    #[error("peer refused: {} ({})", .0.detail, .0.code)]
    Refused(Box<Problem>),
}

impl PeerError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, PeerError::Unreachable(_))
    }
}

/// How long every server keeps an idle connection open.
pub const SERVER_KEEP_ALIVE: Duration = Duration::from_secs(75);

/// How long a caller keeps an idle connection to a peer for reuse. Shorter than the peer's
/// keep-alive, so that a request never goes out on a connection the peer is closing at that
/// moment (which fails it, a POST included, with nothing to tell it from a peer that is down).
const POOL_IDLE: Duration = Duration::from_secs(30);
const _: () = assert!(POOL_IDLE.as_secs() < SERVER_KEEP_ALIVE.as_secs());

/// Timeouts of every outbound call.
pub fn http_client(connect_timeout: Duration, request_timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .pool_idle_timeout(POOL_IDLE)
        .user_agent(concat!("passcom/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the TLS-less reqwest client always builds")
}

/// An error and every error beneath it: reqwest's own message often says only that sending
/// failed, not whether the connection was refused, reset or closed by the peer.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    std::iter::successors(Some(error), |e| e.source()).map(ToString::to_string).collect::<Vec<_>>().join(": ")
}

/// Per-call credentials: the short-lived service token and the request id to forward.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub token: String,
    pub request_id: String,
    /// Shorter than the client's own request timeout when the caller has a deadline to keep.
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct PeerClient {
    base_url: String,
    http: reqwest::Client,
}

impl PeerClient {
    pub fn new(http: reqwest::Client, base_url: &str) -> Self {
        Self { base_url: base_url.trim_end_matches('/').to_owned(), http }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        ctx: CallContext,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, PeerError> {
        let url = format!("{}{path}", self.base_url);
        let mut req =
            self.http.request(method, &url).bearer_auth(&ctx.token).header(REQUEST_ID_HEADER, &ctx.request_id);
        if let Some(body) = body {
            req = req.json(body);
        }
        if let Some(timeout) = ctx.timeout {
            req = req.timeout(timeout);
        }
        let resp = req.send().await.map_err(|e| PeerError::Unreachable(format!("{url}: {}", with_causes(&e))))?;
        let status = resp.status();
        if status.is_success() {
            return resp.json::<T>().await.map_err(|e| PeerError::Unreachable(format!("{url}: bad body: {e}")));
        }
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(PeerError::Unreachable(format!("{url}: answered {status}")));
        }
        match resp.json::<Problem>().await {
            Ok(problem) => Err(PeerError::Refused(Box::new(problem))),
            Err(e) => Err(PeerError::Unreachable(format!("{url}: {status} without a problem body: {e}"))),
        }
    }

    pub async fn segments(&self, ctx: CallContext, filter: &SegmentFilter) -> Result<SegmentBatch, PeerError> {
        let query = serde_urlencoded_pairs(filter);
        self.call::<(), _>(ctx, Method::GET, &format!("/internal/v1/segments{query}"), None).await
    }

    pub async fn cities(&self, ctx: CallContext) -> Result<CityBatch, PeerError> {
        self.call::<(), _>(ctx, Method::GET, "/internal/v1/cities", None).await
    }

    pub async fn segment(&self, ctx: CallContext, id: &SegmentId) -> Result<SegmentDetail, PeerError> {
        self.call::<(), _>(ctx, Method::GET, &format!("/internal/v1/segments/{id}"), None).await
    }

    pub async fn legacy_segments(
        &self,
        ctx: CallContext,
        lookup: &LegacyLookup,
    ) -> Result<LegacySegmentBatch, PeerError> {
        self.call(ctx, Method::POST, "/internal/v1/legacy/segments", Some(lookup)).await
    }

    pub async fn claim_login(&self, ctx: CallContext, claim: &LoginClaim) -> Result<LoginClaim, PeerError> {
        self.call(ctx, Method::POST, "/internal/v1/login-claims", Some(claim)).await
    }

    pub async fn release_login(&self, ctx: CallContext, claim: &LoginClaim) -> Result<LoginClaim, PeerError> {
        self.call(ctx, Method::DELETE, "/internal/v1/login-claims", Some(claim)).await
    }

    pub async fn replicate(&self, ctx: CallContext, batch: &ReplicationBatch) -> Result<ReplicationReceipt, PeerError> {
        self.call(ctx, Method::POST, "/internal/v1/replication", Some(batch)).await
    }

    pub async fn hold(&self, ctx: CallContext, req: &HoldRequest) -> Result<HoldGranted, PeerError> {
        self.call(ctx, Method::POST, "/internal/v1/holds", Some(req)).await
    }

    /// `action` is `commit`, `abort` or `release`; each is idempotent at the participant.
    pub async fn finish(
        &self,
        ctx: CallContext,
        booking_id: Uuid,
        action: FinishAction,
    ) -> Result<SeatsChanged, PeerError> {
        self.call::<(), _>(ctx, Method::POST, &format!("/internal/v1/holds/{booking_id}/{}", action.as_str()), None)
            .await
    }

    pub async fn decision(&self, ctx: CallContext, booking_id: Uuid) -> Result<DecisionBody, PeerError> {
        self.call::<(), _>(ctx, Method::GET, &format!("/internal/v1/bookings/{booking_id}/decision"), None).await
    }

    /// The account `user_id`, if this airline has it.
    pub async fn account(&self, ctx: CallContext, user_id: Uuid) -> Result<Account, PeerError> {
        self.call::<(), _>(ctx, Method::GET, &format!("/internal/v1/accounts/{user_id}"), None).await
    }

    /// Asks the airline that sold the pass to cancel it; answers the cancelled pass.
    pub async fn cancel_pass(&self, ctx: CallContext, pass_id: Uuid, req: &CancelRequest) -> Result<Pass, PeerError> {
        self.call(ctx, Method::POST, &format!("/internal/v1/passes/{pass_id}/cancellation"), Some(req)).await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishAction {
    /// Turn the booking's holds into sales.
    Commit,
    /// Free the booking's holds (never its sold seats).
    Abort,
    /// Free the booking's sold seats: the pass was cancelled.
    Release,
}

impl FinishAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishAction::Commit => "commit",
            FinishAction::Abort => "abort",
            FinishAction::Release => "release",
        }
    }
}

fn serde_urlencoded_pairs(filter: &SegmentFilter) -> String {
    let ids = filter.ids.as_ref().map(ToString::to_string);
    let from = filter.from.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    let to = filter.to.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    let after = filter.after.as_ref().map(ToString::to_string);
    let limit = filter.limit.map(|n| n.to_string());
    let fields = [
        ("origin", &filter.origin),
        ("destination", &filter.destination),
        ("ids", &ids),
        ("from", &from),
        ("to", &to),
        ("after", &after),
        ("limit", &limit),
    ];
    let pairs: Vec<String> =
        fields.into_iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", percent_encode(v)))).collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

fn percent_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_failed_call_says_why_it_failed() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let error = reqwest::get(format!("http://127.0.0.1:{closed}/")).await.unwrap_err();
        let message = super::with_causes(&error);
        assert!(message.starts_with(&error.to_string()), "{message}");
        assert!(message.to_lowercase().contains("refused"), "{message}");
    }
}
