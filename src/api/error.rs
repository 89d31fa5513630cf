//! The one error type of the HTTP API, and the one place that turns errors
//! into status codes and the cFos error body (a JSON string).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use actors::store::StoreError;
use actors::supervisor::ConfigError;
use actors::transport::DeviceError;

use super::auth::AuthError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad query string: {0}")]
    BadQuery(String),
    #[error("missing parameter: {0}")]
    MissingParam(&'static str),
    #[error("parameter {0} given more than once")]
    RepeatedParam(String),
    #[error("bad parameter {name}: {reason}")]
    BadParam { name: &'static str, reason: String },
    #[error("unknown command: {0}")]
    UnknownCommand(String),
    #[error("unknown device: {0}")]
    UnknownDevice(String),
    #[error("unknown user: {0}")]
    UnknownUser(String),
    /// The exact text of the cFos API for a width that does not match.
    #[error("bad modbus register size")]
    BadRegisterSize,
    #[error("register {addr} ({name}) is read-only")]
    ReadOnly { addr: u16, name: &'static str },
    #[error("device {dev_id}: {error}")]
    Device { dev_id: String, error: DeviceError },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    #[error("bad request body: {0}")]
    BadBody(String),
    #[error("request body larger than {0} KiB")]
    BodyTooLarge(usize),
    #[error("the request body did not arrive within {0} s")]
    BodyTimeout(u64),
    #[error("cmd={0} changes something: send it as POST with Content-Type: application/json")]
    NeedsPostJson(String),
    #[error("{0}")]
    Forbidden(String),
    /// A charge point's connection that cannot be taken.
    #[error("{0}")]
    Ocpp(String),
    /// A charge point that did not give its password.
    #[error("{0}")]
    OcppAuth(String),
    #[error("too many connections from this address")]
    TooManyConnections,
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(StoreError),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadQuery(_)
            | ApiError::MissingParam(_)
            | ApiError::RepeatedParam(_)
            | ApiError::BadParam { .. }
            | ApiError::UnknownCommand(_)
            | ApiError::BadRegisterSize
            | ApiError::ReadOnly { .. }
            | ApiError::BadBody(_)
            | ApiError::Ocpp(_) => StatusCode::BAD_REQUEST,
            ApiError::OcppAuth(_) => StatusCode::UNAUTHORIZED,
            ApiError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::NeedsPostJson(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyConnections => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Auth(AuthError::Required | AuthError::Wrong | AuthError::Session) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Auth(AuthError::Locked(_) | AuthError::Busy | AuthError::PinLocked(_)) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Config(ConfigError::Rejected(_)) => StatusCode::BAD_REQUEST,
            ApiError::Config(ConfigError::UnknownDevice(_)) => StatusCode::NOT_FOUND,
            ApiError::Config(ConfigError::Store(_)) | ApiError::Store(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::UnknownDevice(_) | ApiError::UnknownUser(_) | ApiError::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::Unavailable(_) | ApiError::Config(ConfigError::Unavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Device { error, .. } => match error {
                DeviceError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                DeviceError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
                DeviceError::Connect { .. }
                | DeviceError::Transport(_)
                | DeviceError::Exception(_)
                | DeviceError::Protocol(_)
                | DeviceError::Implausible(_)
                | DeviceError::Stale(_) => StatusCode::BAD_GATEWAY,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::OcppAuth(_) = self {
            // OCPP security profile 1: the charge point answers with basic auth.
            response.insert_header(("WWW-Authenticate", "Basic realm=\"ocpp\""));
        } else if self.status_code() == StatusCode::UNAUTHORIZED {
            // Clients send basic auth unasked; a browser is never invited to
            // ask for and keep a password (the admin page logs in with a
            // session instead), so there is nothing other sites could ride on.
            response.insert_header(("WWW-Authenticate", "Bearer realm=\"chargebrain\""));
        }
        if matches!(
            self,
            ApiError::BodyTimeout(_) | ApiError::TooManyConnections
        ) {
            response.force_close();
        }
        response.json(self.to_string())
    }
}

/// An actor that did not take or answer a message (it stopped).
impl From<actix::MailboxError> for ApiError {
    fn from(e: actix::MailboxError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

/// A blocking task (password hashing) that did not finish.
impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}
