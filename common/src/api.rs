//! The request bodies of the contract, as types. Each one refuses unknown and repeated keys as
//! it meets them ([`crate::http::parse_json`] turns serde's word into VALIDATION_ERROR), so a
//! body costs time linear in its size however many keys it carries.

use serde::Deserialize;

/// `POST /register`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
    pub password_confirmation: String,
}

/// `POST /login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// `POST /verify-email` and both services' `POST /validate-token`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub token: String,
}

/// `POST /resend-verification`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    pub email: String,
}

/// `POST /refresh` and `POST /logout`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenRequest {
    pub refresh_token: String,
}

/// `POST /password-reset/confirm`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirmRequest {
    pub token: String,
    pub password: String,
    pub password_confirmation: String,
}

/// `POST /password/change` (with the caller's access token as the bearer).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    pub current_password: String,
    pub password: String,
    pub password_confirmation: String,
}

/// `DELETE /me`: the account's password, asked again before the account goes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    pub password: String,
}
