//! The event envelope published to NATS JetStream, and the subjects it goes to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The kinds of event in the contract's catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    UserRegistered,
    VerificationRequested,
    EmailVerified,
    LoggedIn,
    SessionRevoked,
    PasswordResetRequested,
    PasswordChanged,
    UserDeleted,
    UserDisabled,
    UserEnabled,
}

impl EventType {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::UserRegistered => "user.registered",
            EventType::VerificationRequested => "user.verification_requested",
            EventType::EmailVerified => "user.email_verified",
            EventType::LoggedIn => "user.logged_in",
            EventType::SessionRevoked => "session.revoked",
            EventType::PasswordResetRequested => "user.password_reset_requested",
            EventType::PasswordChanged => "user.password_changed",
            EventType::UserDeleted => "user.deleted",
            EventType::UserDisabled => "user.disabled",
            EventType::UserEnabled => "user.enabled",
        }
    }

    /// `<prefix>.<event_type>`, e.g. `auth.user.registered`.
    pub fn subject(self, prefix: &str) -> String {
        format!("{prefix}.{}", self.as_str())
    }
}

/// Why a session was revoked: the `reason` of `session.revoked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    Logout,
    RefreshReuse,
    LogoutAll,
    SessionDeleted,
    PasswordChanged,
    PasswordReset,
    AccountDeleted,
    AccountDisabled,
    Operator,
}

impl RevocationReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Logout => "logout",
            RevocationReason::RefreshReuse => "refresh_reuse",
            RevocationReason::LogoutAll => "logout_all",
            RevocationReason::SessionDeleted => "session_deleted",
            RevocationReason::PasswordChanged => "password_changed",
            RevocationReason::PasswordReset => "password_reset",
            RevocationReason::AccountDeleted => "account_deleted",
            RevocationReason::AccountDisabled => "account_disabled",
            RevocationReason::Operator => "operator",
        }
    }
}

/// `{"event_id", "event_type", "timestamp", "data"}` as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: Uuid,
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    pub data: serde_json::Value,
}

impl Event {
    pub fn new(event_type: EventType, now: DateTime<Utc>, data: serde_json::Value) -> Self {
        Event {
            event_id: Uuid::new_v4(),
            event_type: event_type.as_str().to_owned(),
            timestamp: now,
            data,
        }
    }

    /// The envelope as JSON, exactly as it is published.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "event_id": self.event_id,
            "event_type": self.event_type,
            "timestamp": self.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": self.data,
        })
    }
}
