//! Use-case outcomes in the contract's terms, and their one mapping to the envelope.

use common::error::{ApiError, ErrorCode};
use common::jwt::TokenError;

use crate::auth::password::{HashError, PasswordRule};
use crate::db::DbError;
use crate::rate_limit::Limited;

impl From<Limited> for IssuerError {
    fn from(limited: Limited) -> Self {
        IssuerError::RateLimited {
            retry_after_secs: limited.retry_after_secs,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("invalid email: {0}")]
    InvalidEmail(&'static str),
    #[error("password confirmation differs")]
    PasswordMismatch,
    #[error("weak password: {0}")]
    WeakPassword(PasswordRule),
    #[error("email already registered")]
    DuplicateEmail,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("email not verified")]
    EmailNotVerified,
    #[error("token refused: {0}")]
    Token(#[from] TokenError),
    #[error("verification token refused: {0}")]
    VerificationToken(VerificationTokenIssue),
    #[error("user not found")]
    UserNotFound,
    #[error("password reset token refused: {0}")]
    ResetToken(ResetTokenIssue),
    #[error("account disabled")]
    AccountDisabled,
    /// A session the caller cannot name: unknown, not theirs, not live, or a malformed id.
    #[error("session not found")]
    SessionNotFound,
    /// Too many attempts, from this address or for this account; retry after this many seconds.
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    #[error("password hashing: {0}")]
    Hash(#[from] HashError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<tokio_postgres::Error> for IssuerError {
    /// Classified once, by [`DbError`], so a statement's `?` reads plainly.
    fn from(err: tokio_postgres::Error) -> Self {
        IssuerError::Db(err.into())
    }
}

impl From<IssuerError> for ApiError {
    fn from(err: IssuerError) -> Self {
        match err {
            IssuerError::InvalidEmail(issue) => {
                ApiError::new(ErrorCode::InvalidEmail, "The email address is not valid.")
                    .with_details(Some("email".into()), issue)
            }
            IssuerError::PasswordMismatch => ApiError::new(
                ErrorCode::PasswordMismatch,
                "The password confirmation does not match the password.",
            )
            .with_details(
                Some("password_confirmation".into()),
                "does not match password",
            ),
            IssuerError::WeakPassword(rule) => ApiError::new(
                ErrorCode::WeakPassword,
                "The password does not meet the password policy.",
            )
            .with_details(Some("password".into()), rule.to_string()),
            IssuerError::DuplicateEmail => ApiError::new(
                ErrorCode::DuplicateEmail,
                "An account with this email already exists.",
            )
            .with_details(Some("email".into()), "is already registered"),
            IssuerError::InvalidCredentials => ApiError::new(
                ErrorCode::InvalidCredentials,
                "The email or password is incorrect.",
            ),
            IssuerError::EmailNotVerified => ApiError::new(
                ErrorCode::EmailNotVerified,
                "The email address has not been verified.",
            ),
            IssuerError::Token(err) => err.into(),
            IssuerError::VerificationToken(issue) => issue.into(),
            IssuerError::UserNotFound => {
                ApiError::new(ErrorCode::UserNotFound, "The user no longer exists.")
            }
            IssuerError::ResetToken(issue) => issue.into(),
            IssuerError::AccountDisabled => ApiError::new(
                ErrorCode::AccountDisabled,
                "The account has been disabled by an operator.",
            ),
            IssuerError::SessionNotFound => ApiError::new(ErrorCode::NotFound, "No such session."),
            IssuerError::RateLimited { retry_after_secs } => {
                ApiError::new(ErrorCode::RateLimited, "Too many attempts; retry later.")
                    .with_header_value(
                        ::http::header::RETRY_AFTER,
                        ::http::HeaderValue::from(retry_after_secs.max(1)),
                    )
            }
            IssuerError::Hash(HashError::Busy) => ApiError::unavailable(HashError::Busy),
            IssuerError::Hash(err @ HashError::Failed(_)) => ApiError::internal(err),
            IssuerError::Db(err @ DbError::Unavailable(_)) => ApiError::unavailable(err),
            IssuerError::Db(err @ (DbError::UniqueViolation { .. } | DbError::Query(_))) => {
                ApiError::internal(err)
            }
            IssuerError::Internal(err) => ApiError::internal(err.into_boxed_dyn_error()),
        }
    }
}

/// Why an email-verification token was refused. The codes are the token codes; the details
/// name the verification token, not a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerificationTokenIssue {
    #[error("the verification token is unknown or has been replaced")]
    Unknown,
    #[error("the verification token has already been used")]
    Used,
    #[error("the verification token has expired")]
    Expired,
}

impl From<VerificationTokenIssue> for ApiError {
    fn from(issue: VerificationTokenIssue) -> Self {
        let (code, message, challenge) = match issue {
            VerificationTokenIssue::Unknown => (
                ErrorCode::InvalidToken,
                "The token is invalid.",
                r#"Bearer error="invalid_token", error_description="the verification token is unknown or has been replaced""#,
            ),
            VerificationTokenIssue::Used => (
                ErrorCode::InvalidToken,
                "The token is invalid.",
                r#"Bearer error="invalid_token", error_description="the verification token has already been used""#,
            ),
            VerificationTokenIssue::Expired => (
                ErrorCode::ExpiredToken,
                "The token has expired.",
                r#"Bearer error="invalid_token", error_description="the verification token has expired""#,
            ),
        };
        ApiError::new(code, message)
            .with_details(Some("token".into()), issue.to_string())
            .with_header(::http::header::WWW_AUTHENTICATE, challenge)
    }
}

/// Why a password-reset token was refused: the token codes, with details that name the reset
/// token. A replaced token is an unknown one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResetTokenIssue {
    #[error("the reset token is unknown or has been replaced")]
    Unknown,
    #[error("the reset token has already been used")]
    Used,
    #[error("the reset token has expired")]
    Expired,
}

impl From<ResetTokenIssue> for ApiError {
    fn from(issue: ResetTokenIssue) -> Self {
        let (code, message) = match issue {
            ResetTokenIssue::Unknown | ResetTokenIssue::Used => {
                (ErrorCode::InvalidToken, "The token is invalid.")
            }
            ResetTokenIssue::Expired => (ErrorCode::ExpiredToken, "The token has expired."),
        };
        ApiError::new(code, message).with_details(Some("token".into()), issue.to_string())
    }
}
