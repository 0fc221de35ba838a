//! A client for the public API of one PassCom server.
//!
//! Every call returns the decoded body or a [`CallError`] that keeps apart "the server answered
//! no" (with the problem's stable `code`) from "no answer at all", because the tools count the
//! two differently: a 409 is the system working, a refused connection is a server being down.

use std::fmt;
use std::time::Duration;

use passcom_shared::api::{
    Account, BookingRequest, Credentials, FederationStatus, Pass, PassList, RouteList, SegmentDetail, SegmentList,
    Session,
};
use passcom_shared::client::with_causes;
use passcom_shared::{AirlineCode, Problem, SeatCode, SegmentId};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::stats::Outcome;

#[derive(Debug, Clone)]
pub enum CallError {
    /// No HTTP answer: connection refused or reset.
    Transport(String),
    /// No HTTP answer in time.
    Timeout(String),
    /// An HTTP answer other than the expected one. `code` is the problem's, or a placeholder
    /// when the body is not a problem.
    Status { status: u16, code: String, detail: String },
}

impl CallError {
    pub fn is_transport(&self) -> bool {
        matches!(self, CallError::Transport(_) | CallError::Timeout(_))
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Status { status, .. } => Some(*status),
            CallError::Transport(_) | CallError::Timeout(_) => None,
        }
    }

    pub fn outcome(&self) -> Outcome {
        match self {
            CallError::Transport(_) => Outcome::Transport,
            CallError::Timeout(_) => Outcome::Timeout,
            CallError::Status { status, code, .. } => Outcome::Refused { status: *status, code: code.clone() },
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Transport(why) => write!(f, "no answer: {why}"),
            CallError::Timeout(why) => write!(f, "no answer in time: {why}"),
            CallError::Status { status, code, detail } => write!(f, "{status} {code}: {detail}"),
        }
    }
}

impl std::error::Error for CallError {}

pub type CallResult<T> = Result<T, CallError>;

/// The outcome of a call, for a [`crate::stats::Tally`].
pub fn outcome<T>(result: &CallResult<T>) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(e) => e.outcome(),
    }
}

/// How long a search may take before it counts as failed: a passenger has left by then, and a
/// server that cannot answer at all (a search that never ends) still yields a measurement.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP client (and so one connection pool) for all servers: cheap to clone.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        // Short enough that a killed server shows up as an error quickly, long enough for a
        // two-phase commit across three airlines on a loaded two-core machine.
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("passcom-tools/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

#[derive(Debug, Clone)]
pub struct ApiClient {
    url: String,
    /// The airline this server is, when it said so at start-up: reports name servers by it, and
    /// checks read a seat map at its owner.
    airline: Option<AirlineCode>,
    http: reqwest::Client,
}

impl ApiClient {
    pub fn new(http: reqwest::Client, url: &str) -> Self {
        Self { url: url.trim_end_matches('/').to_owned(), airline: None, http }
    }

    /// Clients for `urls`, each asked which airline it is; a server that does not answer is kept
    /// (it may come back) but stays unnamed.
    pub async fn connect_all(http: &reqwest::Client, urls: &[String]) -> Vec<ApiClient> {
        let clients = urls.iter().map(|url| async move {
            let mut client = ApiClient::new(http.clone(), url);
            client.airline = client.federation().await.ok().map(|status| status.airline);
            client
        });
        futures::future::join_all(clients).await
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn airline(&self) -> Option<&AirlineCode> {
        self.airline.as_ref()
    }

    /// `a (http://127.0.0.1:8001)`, or the URL alone for a server that did not say who it is.
    pub fn label(&self) -> String {
        match &self.airline {
            Some(airline) => format!("{airline} ({})", self.url),
            None => self.url.clone(),
        }
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.url));
        match token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    async fn send<T: DeserializeOwned>(req: RequestBuilder, expect: StatusCode) -> CallResult<T> {
        let body = Self::send_raw(req, expect).await?;
        decode(&body, expect)
    }

    /// The body of an `expect` answer, undecoded.
    async fn send_raw(req: RequestBuilder, expect: StatusCode) -> CallResult<bytes::Bytes> {
        let resp = req.send().await.map_err(|e| no_answer(&e))?;
        let status = resp.status();
        // Read the whole body first: a connection dropped mid-body is still "no answer".
        let body = resp.bytes().await.map_err(|e| no_answer(&e))?;
        if status == expect {
            return Ok(body);
        }
        Err(match serde_json::from_slice::<Problem>(&body) {
            Ok(problem) => {
                CallError::Status { status: status.as_u16(), code: problem.code.to_string(), detail: problem.detail }
            }
            Err(_) => CallError::Status {
                status: status.as_u16(),
                code: if status.is_success() { "unexpected_status" } else { "no_problem_body" }.to_owned(),
                detail: String::from_utf8_lossy(&body).chars().take(200).collect(),
            },
        })
    }

    /// A booking whose 201 body is read but not decoded (see [`ApiClient::get_undecoded`]). The
    /// body is any JSON, so that the benchmark can send shapes this crate's types do not know.
    pub async fn book_undecoded<B: Serialize + ?Sized>(&self, token: &str, request: &B) -> CallResult<usize> {
        let req = self.request(Method::POST, "/api/v1/bookings", Some(token)).json(request);
        Self::send_raw(req, StatusCode::CREATED).await.map(|b| b.len())
    }

    /// A search GET, given [`QUERY_TIMEOUT`] to answer.
    fn query(&self, path: &str, query: &[(&str, &str)]) -> RequestBuilder {
        self.request(Method::GET, path, None).query(query).timeout(QUERY_TIMEOUT)
    }

    /// A GET whose 200 body is read but not decoded: a load generator that parsed every search
    /// answer would spend the cores the servers need. Returns the body's size.
    pub async fn get_undecoded(&self, path: &str, query: &[(&str, &str)]) -> CallResult<usize> {
        Self::send_raw(self.query(path, query), StatusCode::OK).await.map(|b| b.len())
    }

    /// A GET decoded as `T` (which may read just the fields it needs), with the body's size.
    pub async fn get_decoded<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> CallResult<(T, usize)> {
        let body = Self::send_raw(self.query(path, query), StatusCode::OK).await?;
        Ok((decode(&body, StatusCode::OK)?, body.len()))
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&B>,
        expect: StatusCode,
    ) -> CallResult<T> {
        let mut req = self.request(method, path, token);
        if let Some(body) = body {
            req = req.json(body);
        }
        Self::send(req, expect).await
    }

    pub async fn federation(&self) -> CallResult<FederationStatus> {
        self.call::<(), _>(Method::GET, "/api/v1/federation", None, None, StatusCode::OK).await
    }

    pub async fn create_account(&self, credentials: &Credentials) -> CallResult<Account> {
        self.call(Method::POST, "/api/v1/accounts", None, Some(credentials), StatusCode::CREATED).await
    }

    pub async fn log_in(&self, credentials: &Credentials) -> CallResult<Session> {
        self.call(Method::POST, "/api/v1/sessions", None, Some(credentials), StatusCode::OK).await
    }

    /// All upcoming segments of the federation, optionally narrowed.
    pub async fn segments(
        &self,
        origin: Option<&str>,
        destination: Option<&str>,
        airline: Option<&AirlineCode>,
    ) -> CallResult<SegmentList> {
        let query: Vec<(&str, &str)> =
            [("origin", origin), ("destination", destination), ("airline", airline.map(AirlineCode::as_str))]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
        Self::send(self.request(Method::GET, "/api/v1/segments", None).query(&query), StatusCode::OK).await
    }

    /// One segment with its seat map.
    pub async fn segment(&self, airline: &AirlineCode, id: &SegmentId) -> CallResult<SegmentDetail> {
        self.call::<(), _>(Method::GET, &format!("/api/v1/segments/{airline}/{id}"), None, None, StatusCode::OK).await
    }

    pub async fn routes(&self, origin: &str, destination: &str, max_legs: usize) -> CallResult<RouteList> {
        let max_legs = max_legs.to_string();
        let query = [("origin", origin), ("destination", destination), ("max_legs", &max_legs)];
        Self::send(self.request(Method::GET, "/api/v1/routes", None).query(&query), StatusCode::OK).await
    }

    pub async fn book(&self, token: &str, request: &BookingRequest, idempotency_key: Option<&str>) -> CallResult<Pass> {
        let mut req = self.request(Method::POST, "/api/v1/bookings", Some(token)).json(request);
        if let Some(key) = idempotency_key {
            req = req.header("idempotency-key", key);
        }
        Self::send(req, StatusCode::CREATED).await
    }

    /// The passes of the token's user, as this server knows them.
    pub async fn passes(&self, token: &str) -> CallResult<PassList> {
        self.call::<(), _>(Method::GET, "/api/v1/passes", Some(token), None, StatusCode::OK).await
    }

    pub async fn cancel(&self, token: &str, pass_id: Uuid) -> CallResult<Pass> {
        self.call::<(), _>(Method::DELETE, &format!("/api/v1/passes/{pass_id}"), Some(token), None, StatusCode::OK)
            .await
    }
}

/// The first `n` free seats of a segment, in seat-map order (front rows first).
pub fn free_seats(detail: &SegmentDetail, n: usize) -> Vec<SeatCode> {
    detail.seats.iter().filter(|s| s.available).take(n).map(|s| s.seat.clone()).collect()
}

fn no_answer(e: &reqwest::Error) -> CallError {
    if e.is_timeout() {
        CallError::Timeout(with_causes(e))
    } else {
        CallError::Transport(with_causes(e))
    }
}

/// An answer that came with the expected status but not the expected body.
fn decode<T: DeserializeOwned>(body: &[u8], status: StatusCode) -> CallResult<T> {
    serde_json::from_slice(body).map_err(|e| CallError::Status {
        status: status.as_u16(),
        code: "unreadable_body".to_owned(),
        detail: e.to_string(),
    })
}
