//! The API's error contract: FastAPI-shaped `{"detail": …}` bodies, one `match` from error to status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pulseboard_store::StoreError;
use serde::Serialize;
use serde_json::{Value, json};

/// Seconds a client is asked to wait after a 503.
const RETRY_AFTER_SECS: &str = "5";

/// One entry of a 422 body, as FastAPI writes it: `{"loc": ["body", "event_name"], "msg": …, "type": …}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldIssue {
    /// Where: `["body", "events", 2, "event_name"]`.
    pub loc: Vec<Value>,
    /// What is wrong, for a person.
    pub msg: String,
    /// Machine-readable kind (`missing`, `string_too_short`, …).
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl FieldIssue {
    /// An issue at `loc`.
    pub fn new(loc: Vec<Value>, msg: impl Into<String>, kind: &'static str) -> Self {
        Self {
            loc,
            msg: msg.into(),
            kind,
        }
    }
}

/// Everything a handler can answer besides success.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// 422 with every problem found in the request.
    #[error("request validation failed")]
    Validation(Vec<FieldIssue>),
    /// 415: the body is not declared as JSON.
    #[error("unsupported content type")]
    UnsupportedMediaType,
    /// 413: the body is larger than the configured limit.
    #[error("request body too large")]
    BodyTooLarge,
    /// 401 with `WWW-Authenticate: Bearer`.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 403: authenticated but not allowed.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// 404.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// 409.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// 408 with `Connection: close`: the body did not arrive in time.
    #[error("request body timed out")]
    RequestTimeout,
    /// 429 with `Retry-After`: the caller must slow down.
    #[error("too many requests: {message}")]
    TooManyRequests {
        /// What was limited, for a person.
        message: &'static str,
        /// Whole seconds until a retry can pass (at least 1).
        retry_after_secs: u64,
    },
    /// 503 with `Retry-After`: a dependency is down or the backlog is full.
    #[error("unavailable: {0}")]
    Unavailable(&'static str),
    /// 500: a bug or an unexpected failure, already logged with its cause.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// A single 422 issue.
    pub fn invalid(loc: Vec<Value>, msg: impl Into<String>, kind: &'static str) -> Self {
        Self::Validation(vec![FieldIssue::new(loc, msg, kind)])
    }
}

/// Store failures are logged here, once, with their cause; the client sees only the status.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::DuplicateEmail => Self::Conflict("Email already registered"),
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %error, "store unavailable");
                Self::Unavailable("The event store is temporarily unavailable; retry later")
            }
            StoreError::ResourceExhausted(_) => {
                tracing::error!(error = %error, "store out of resources");
                Self::Unavailable(
                    "The event store is out of resources (e.g. disk space); retry later",
                )
            }
            StoreError::InvalidData(_) | StoreError::Database(_) => {
                tracing::error!(error = %error, "store error");
                Self::Internal
            }
        }
    }
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = match &self {
            Self::Validation(issues) => json!(issues),
            Self::UnsupportedMediaType => json!("Content-Type must be application/json"),
            Self::BodyTooLarge => json!("Request body exceeds the configured size limit"),
            Self::RequestTimeout => json!("The request body did not arrive in time"),
            Self::TooManyRequests { message, .. } => json!(message),
            Self::Unauthorized(message)
            | Self::Forbidden(message)
            | Self::NotFound(message)
            | Self::Conflict(message)
            | Self::Unavailable(message) => json!(message),
            Self::Internal => json!("Internal server error"),
        };
        let status = self.status();
        let mut response = (status, Json(json!({ "detail": detail }))).into_response();
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Unavailable(_) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
            }
            Self::RequestTimeout => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Self::TooManyRequests {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            _ => {}
        }
        response
    }
}
