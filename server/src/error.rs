//! Every failure leaves the server as `application/problem+json` with a stable `code`. Expected
//! failures carry a detail written for the client; unexpected ones keep their cause for the log
//! and show the client only a generic message.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use passcom_shared::client::PeerError;
use passcom_shared::{AirlineCode, Code, Problem};

pub struct ApiError {
    status: StatusCode,
    code: Code,
    detail: String,
    airline: Option<AirlineCode>,
    leg: Option<usize>,
    /// Seconds, for `Retry-After`.
    retry_after: Option<u64>,
    cause: Option<anyhow::Error>,
}

/// One line, escaped: a detail may quote the client's input, and the request's span logs this
/// (as `Display` and as `Debug`), so no input can start a log line of its own or send a
/// terminal escape. `Debug` is the same line: a derived one would print the cause's backtrace
/// (anyhow captures one whenever `RUST_BACKTRACE` is set), hundreds of lines per failure.
impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail.escape_debug())?;
        if let Some(cause) = &self.cause {
            write!(f, " ({})", format!("{cause:#}").escape_debug())?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// A failure with its code's own status.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::with_status(status, code, detail)
    }

    fn with_status(status: StatusCode, code: Code, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), airline: None, leg: None, retry_after: None, cause: None }
    }

    pub fn invalid_body(detail: impl Into<String>) -> Self {
        Self::new(Code::InvalidBody, detail)
    }

    pub fn invalid_query(detail: impl Into<String>) -> Self {
        Self::new(Code::InvalidQuery, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(Code::NotFound, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(Code::Unauthorized, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(Code::Forbidden, detail)
    }

    pub fn airline_unavailable(airline: &AirlineCode, detail: impl Into<String>) -> Self {
        Self::new(Code::AirlineUnavailable, detail).with_airline(airline.clone())
    }

    /// Something that should not happen: the client sees a generic 500, the log sees why.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self { cause: Some(cause.into()), ..Self::new(Code::Internal, "the server failed; the request can be retried") }
    }

    /// A dependency (database, Redis) that is down: 503, worth retrying.
    pub fn dependency_unavailable(code: Code, what: &str, cause: impl Into<anyhow::Error>) -> Self {
        Self { cause: Some(cause.into()), ..Self::new(code, format!("{what} is unavailable; try again shortly")) }
    }

    /// A bodiless answer of actix's own (a 404, a 405), given a problem body.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, detail) = match status {
            StatusCode::NOT_FOUND => (Code::NotFound, "there is nothing at this URL"),
            StatusCode::METHOD_NOT_ALLOWED => (Code::MethodNotAllowed, "this URL does not accept that method"),
            StatusCode::PAYLOAD_TOO_LARGE => (Code::PayloadTooLarge, "the body is too large"),
            StatusCode::REQUEST_TIMEOUT => (Code::RequestTimeout, "the request was not sent in time"),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                (Code::HeadersTooLarge, "the request's headers are too large")
            }
            s if s.is_client_error() => (Code::BadRequest, "the request was refused"),
            _ => (Code::Internal, "the server failed; the request can be retried"),
        };
        Self::with_status(status, code, detail)
    }

    /// A peer that refused (relayed as it was stated) or could not be reached (503) while
    /// booking: either way, nothing was booked.
    pub fn peer_failure(airline: &AirlineCode, e: PeerError) -> Self {
        match e {
            PeerError::Refused(problem) => Self::from_problem(&problem).with_airline(airline.clone()),
            PeerError::Unreachable(why) => {
                tracing::warn!(%airline, error = %why, "airline unavailable for a booking");
                Self::airline_unavailable(airline, format!("airline {airline} cannot be reached; nothing was booked"))
            }
        }
    }

    /// A limit reached: 429, and when to try again.
    pub fn too_many(detail: impl Into<String>, retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self { retry_after: Some(secs.max(1)), ..Self::new(Code::TooManyRequests, detail) }
    }

    pub fn with_airline(mut self, airline: AirlineCode) -> Self {
        self.airline = Some(airline);
        self
    }

    pub fn with_leg(mut self, leg: usize) -> Self {
        self.leg = Some(leg);
        self
    }

    pub fn code(&self) -> Code {
        self.code
    }

    pub fn problem(&self) -> Problem {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let mut problem = Problem::new(self.status.as_u16(), self.code, title, self.detail.clone());
        problem.airline = self.airline.as_ref().map(|a| a.to_string());
        problem.leg = self.leg;
        problem
    }

    /// A peer's refusal, relayed to our own client as it was stated.
    pub fn from_problem(problem: &Problem) -> Self {
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut err = Self::with_status(status, problem.code, problem.detail.clone());
        err.airline = problem.airline.as_deref().and_then(|a| AirlineCode::parse(a).ok());
        err.leg = problem.leg;
        err
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        } else {
            tracing::info!(error = %self, "request refused");
        }
        let mut res = HttpResponse::build(self.status);
        res.content_type(passcom_shared::problem::CONTENT_TYPE);
        if let Some(secs) = self.retry_after {
            res.insert_header((actix_web::http::header::RETRY_AFTER, secs));
        }
        res.json(self.problem())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => ApiError::not_found("no such resource"),
            e if database_down(&e) => ApiError::dependency_unavailable(Code::DatabaseUnavailable, "the database", e),
            e => ApiError::internal(e),
        }
    }
}

/// PostgreSQL messages that say the server, not the statement, failed: a restart or shutdown
/// ("terminating connection due to administrator command"), a server still starting, no free
/// connection slot, or the statement timeout that `db` sets so that a stuck database turns into
/// a 503. diesel passes on the message but not the SQLSTATE, so the message is all there is.
const SERVER_SIDE_FAILURES: [&str; 7] = [
    "terminating connection",
    "the database system is",
    "server closed the connection",
    "too many clients",
    "remaining connection slots",
    "canceling statement due to statement timeout",
    "connection to server",
];

/// Whether a query failed because the database or the connection to it is gone: a retry after
/// a pause may succeed, so the client gets 503 `database_unavailable`, never a 500.
pub fn database_down(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        // A closed socket, an I/O error, a connection task that ended: there was no answer at all.
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => true,
        Error::DatabaseError(_, info) => {
            let message = info.message().to_ascii_lowercase();
            SERVER_SIDE_FAILURES.iter().any(|m| message.contains(m))
        }
        // The connection died inside a transaction, which could then be neither committed nor
        // rolled back.
        Error::BrokenTransactionManager => true,
        Error::RollbackErrorOnCommit { commit_error, .. } => database_down(commit_error),
        _ => false,
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for ApiError {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        ApiError::dependency_unavailable(Code::DatabaseUnavailable, "the database", e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
