//! Every failure leaves the server as `application/problem+json` with a stable `code`. Expected
//! failures carry a detail written for the client; unexpected ones keep their cause for the log
//! and show the client only a generic message.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use passcom_shared::{AirlineCode, Problem};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    airline: Option<AirlineCode>,
    leg: Option<usize>,
    cause: Option<anyhow::Error>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause:#})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self { status, code, detail: detail.into(), airline: None, leg: None, cause: None }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn invalid_body(detail: impl Into<String>) -> Self {
        Self::bad_request("invalid_body", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn airline_unavailable(airline: &AirlineCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "airline_unavailable", detail).with_airline(airline.clone())
    }

    /// Something that should not happen: the client sees a generic 500, the log sees why.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server failed; the request can be retried")
        }
    }

    /// A dependency (database, Redis) that is down: 503, worth retrying.
    pub fn dependency_unavailable(code: &'static str, what: &str, cause: impl Into<anyhow::Error>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, format!("{what} is unavailable; try again shortly"))
        }
    }

    pub fn with_airline(mut self, airline: AirlineCode) -> Self {
        self.airline = Some(airline);
        self
    }

    pub fn with_leg(mut self, leg: usize) -> Self {
        self.leg = Some(leg);
        self
    }

    pub fn code(&self) -> &'static str {
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
        let code = known_code(&problem.code);
        let mut err = Self::new(status, code, problem.detail.clone());
        err.airline = problem.airline.as_deref().and_then(|a| AirlineCode::parse(a).ok());
        err.leg = problem.leg;
        err
    }
}

/// Codes are `&'static str` so that nothing but the names below reach a client.
fn known_code(code: &str) -> &'static str {
    const CODES: &[&str] = &[
        "seat_taken",
        "seat_locked",
        "airline_unavailable",
        "lock_service_unavailable",
        "invalid_itinerary",
        "login_taken",
        "bad_credentials",
        "unauthorized",
        "forbidden",
        "not_found",
        "invalid_body",
        "invalid_query",
        "invalid_path",
    ];
    CODES.iter().copied().find(|c| *c == code).unwrap_or("peer_error")
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
        HttpResponse::build(self.status).content_type(passcom_shared::problem::CONTENT_TYPE).json(self.problem())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => ApiError::not_found("no such resource"),
            diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::ClosedConnection, _) => {
                ApiError::dependency_unavailable("database_unavailable", "the database", e)
            }
            e => ApiError::internal(e),
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for ApiError {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        ApiError::dependency_unavailable("database_unavailable", "the database", e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
