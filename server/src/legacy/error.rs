//! Refusals of the original API: JSON `{"message": …}` in Portuguese, as the original pages show
//! it, plus our stable `error` code and English `detail` for whoever reads more closely. Every
//! failure of our own code ([`ApiError`]) maps onto one, with the same status, so the adapter
//! never invents an outcome.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use passcom_shared::Code;
use serde::Serialize;

use crate::error::ApiError;

#[derive(Debug)]
pub struct LegacyError {
    status: StatusCode,
    message: String,
    code: Code,
    detail: String,
    /// Our own error, kept for the log (boxed: it is large, and refusals are common).
    cause: Option<Box<ApiError>>,
}

#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    error: &'a str,
    detail: &'a str,
}

impl LegacyError {
    /// A refusal of the adapter's own: a legacy id that names nothing, say.
    pub fn new(code: Code, message: impl Into<String>, detail: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
        Self { status, message: message.into(), code, detail: detail.into(), cause: None }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(Code::NotFound, message.clone(), message)
    }

    pub fn bad_request(message: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(Code::InvalidBody, message, detail)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// What the original pages show for each of our codes.
fn message(code: Code) -> &'static str {
    match code {
        Code::SeatLocked => "Outro cliente está reservando este assento, tente novamente",
        Code::SeatTaken | Code::FlightCancelled => "Assento não está disponível",
        Code::SegmentExists => "Trecho já existe",
        Code::InvalidItinerary => "Os trechos escolhidos não formam uma rota válida",
        Code::LoginTaken => "Usuário já existe",
        Code::BadCredentials => "Credenciais inválidas",
        Code::Unauthorized => "Token ausente ou inválido",
        Code::Forbidden => "Acesso negado",
        Code::NotFound => "Não encontrado",
        Code::InvalidBody | Code::InvalidQuery | Code::InvalidPath | Code::InvalidHeader | Code::BadRequest => {
            "Requisição inválida"
        }
        Code::PayloadTooLarge => "Requisição grande demais",
        Code::UnsupportedMediaType => "A requisição deve ser JSON",
        Code::MethodNotAllowed => "Método não permitido",
        Code::AirlineUnavailable => "Uma das companhias está indisponível, tente novamente",
        Code::LockServiceUnavailable | Code::DatabaseUnavailable | Code::BookingTimedOut => {
            "Serviço indisponível, tente novamente"
        }
        Code::RequestInProgress | Code::IdempotencyKeyReused => "Requisição repetida",
        Code::TooManyRequests => "Muitas tentativas, tente novamente mais tarde",
        Code::SeatLimitReached => "Limite de assentos por voo atingido",
        Code::RequestTimeout => "A requisição demorou demais",
        Code::HeadersTooLarge => "Requisição grande demais",
        Code::Internal | Code::PeerError => "Erro interno do servidor",
    }
}

impl From<ApiError> for LegacyError {
    fn from(e: ApiError) -> Self {
        let problem = e.problem();
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            status,
            message: message(e.code()).to_owned(),
            code: e.code(),
            detail: problem.detail,
            cause: Some(Box::new(e)),
        }
    }
}

impl std::fmt::Display for LegacyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.cause {
            Some(cause) => write!(f, "{cause}"),
            None => write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail),
        }
    }
}

impl ResponseError for LegacyError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.status.is_server_error() {
            tracing::error!(error = %self, "legacy request failed");
        } else {
            tracing::info!(error = %self, "legacy request refused");
        }
        HttpResponse::build(self.status).json(Body {
            message: &self.message,
            error: self.code.as_str(),
            detail: &self.detail,
        })
    }
}

pub type LegacyResult<T> = Result<T, LegacyError>;
