//! The contract's error table in one place, and the error type every handler returns.

use std::fmt;

use ::http::StatusCode;
use serde::Serialize;

/// One variant per row of the contract's error table. `as_str` and `status` are the only places
/// a code's spelling and HTTP status are written down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    ValidationError,
    DuplicateEmail,
    PasswordMismatch,
    WeakPassword,
    InvalidEmail,
    UserNotFound,
    InvalidCredentials,
    InvalidToken,
    ExpiredToken,
    EmailNotVerified,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    RateLimited,
    AccountDisabled,
    ServiceUnavailable,
    InternalError,
}

impl ErrorCode {
    /// Every variant, for tests and documentation generators.
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::ValidationError,
        ErrorCode::DuplicateEmail,
        ErrorCode::PasswordMismatch,
        ErrorCode::WeakPassword,
        ErrorCode::InvalidEmail,
        ErrorCode::UserNotFound,
        ErrorCode::InvalidCredentials,
        ErrorCode::InvalidToken,
        ErrorCode::ExpiredToken,
        ErrorCode::EmailNotVerified,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RateLimited,
        ErrorCode::AccountDisabled,
        ErrorCode::ServiceUnavailable,
        ErrorCode::InternalError,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationError => "VALIDATION_ERROR",
            ErrorCode::DuplicateEmail => "DUPLICATE_EMAIL",
            ErrorCode::PasswordMismatch => "PASSWORD_MISMATCH",
            ErrorCode::WeakPassword => "WEAK_PASSWORD",
            ErrorCode::InvalidEmail => "INVALID_EMAIL",
            ErrorCode::UserNotFound => "USER_NOT_FOUND",
            ErrorCode::InvalidCredentials => "INVALID_CREDENTIALS",
            ErrorCode::InvalidToken => "INVALID_TOKEN",
            ErrorCode::ExpiredToken => "EXPIRED_TOKEN",
            ErrorCode::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::AccountDisabled => "ACCOUNT_DISABLED",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }

    pub const fn status(self) -> StatusCode {
        match self {
            ErrorCode::ValidationError
            | ErrorCode::DuplicateEmail
            | ErrorCode::PasswordMismatch
            | ErrorCode::WeakPassword
            | ErrorCode::InvalidEmail => StatusCode::BAD_REQUEST,
            ErrorCode::InvalidCredentials | ErrorCode::InvalidToken | ErrorCode::ExpiredToken => {
                StatusCode::UNAUTHORIZED
            }
            ErrorCode::EmailNotVerified | ErrorCode::Forbidden | ErrorCode::AccountDisabled => {
                StatusCode::FORBIDDEN
            }
            ErrorCode::UserNotFound | ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `error.details` of the envelope: which field is wrong, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Details {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub issue: String,
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure on its way to the client. `message` and `details` are for the client; `source`
/// is for the log only and is never serialised.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Details>,
    pub source: Option<BoxError>,
    /// Extra response headers the error demands (`Allow`, `Retry-After`, `WWW-Authenticate`).
    pub headers: Vec<(::http::HeaderName, ::http::HeaderValue)>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: None,
            source: None,
            headers: Vec::new(),
        }
    }

    /// A 400 VALIDATION_ERROR naming the field at fault.
    pub fn validation(field: impl Into<String>, issue: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::ValidationError, "The request is not valid.")
            .with_details(Some(field.into()), issue)
    }

    /// A 500 with a fixed message; the cause goes to the log only.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        ApiError::new(ErrorCode::InternalError, "An internal error occurred.").with_source(source)
    }

    /// A 503 with a fixed message; the cause goes to the log only.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "The service is temporarily unavailable; retry later.",
        )
        .with_source(source)
        .with_header(::http::header::RETRY_AFTER, "1")
    }

    pub fn with_details(mut self, field: Option<String>, issue: impl Into<String>) -> Self {
        self.details = Some(Details {
            field,
            issue: issue.into(),
        });
        self
    }

    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn with_header(self, name: ::http::HeaderName, value: &'static str) -> Self {
        self.with_header_value(name, ::http::HeaderValue::from_static(value))
    }

    pub fn with_header_value(
        mut self,
        name: ::http::HeaderName,
        value: ::http::HeaderValue,
    ) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Formats an error and its whole cause chain on one line, for logs.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        out.push_str(": ");
        out.push_str(&inner.to_string());
        cause = inner.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_the_contract_spelling_and_status() {
        let table: Vec<(&str, u16)> = ErrorCode::ALL
            .iter()
            .map(|c| (c.as_str(), c.status().as_u16()))
            .collect();
        assert_eq!(
            table,
            vec![
                ("VALIDATION_ERROR", 400),
                ("DUPLICATE_EMAIL", 400),
                ("PASSWORD_MISMATCH", 400),
                ("WEAK_PASSWORD", 400),
                ("INVALID_EMAIL", 400),
                ("USER_NOT_FOUND", 404),
                ("INVALID_CREDENTIALS", 401),
                ("INVALID_TOKEN", 401),
                ("EXPIRED_TOKEN", 401),
                ("EMAIL_NOT_VERIFIED", 403),
                ("FORBIDDEN", 403),
                ("NOT_FOUND", 404),
                ("METHOD_NOT_ALLOWED", 405),
                ("PAYLOAD_TOO_LARGE", 413),
                ("RATE_LIMITED", 429),
                ("ACCOUNT_DISABLED", 403),
                ("SERVICE_UNAVAILABLE", 503),
                ("INTERNAL_ERROR", 500),
            ]
        );
    }

    #[test]
    fn error_chain_joins_every_cause() {
        let inner = std::io::Error::other("connection refused");
        let outer = ApiError::unavailable(inner);
        assert_eq!(
            error_chain(&outer),
            "SERVICE_UNAVAILABLE: The service is temporarily unavailable; retry later.: connection refused"
        );
    }
}
