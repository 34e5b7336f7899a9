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
    /// The event that carries `payload`, of the type the payload's struct stands for.
    pub fn of<P: Payload>(now: DateTime<Utc>, payload: &P) -> Self {
        // Every payload field is a string, a UUID or a time: serialising cannot fail.
        let data = serde_json::to_value(payload).unwrap_or(serde_json::Value::Null);
        Event::new(P::TYPE, now, data)
    }

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

/// The `data` of one event type of the contract, as a type: the issuer publishes these, the
/// verifier and subscribers read them. Readers accept fields they do not know (the contract
/// may add some), and every struct is read from a JSON object only where it matters (see the
/// verifier's revocation feed).
pub trait Payload: Serialize {
    const TYPE: EventType;
}

macro_rules! payload {
    ($name:ident => $event:ident) => {
        impl Payload for $name {
            const TYPE: EventType = EventType::$event;
        }
    };
}

/// `user.registered`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: Uuid,
    pub email: String,
    pub email_verification_token: String,
}
payload!(UserRegistered => UserRegistered);

/// `user.verification_requested`: the same fields as `user.registered`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationRequested {
    pub user_id: Uuid,
    pub email: String,
    pub email_verification_token: String,
}
payload!(VerificationRequested => VerificationRequested);

/// `user.email_verified`, `user.deleted`, `user.disabled` and `user.enabled` name the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRef {
    pub user_id: Uuid,
    pub email: String,
}

/// `user.email_verified`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EmailVerified(pub UserRef);
payload!(EmailVerified => EmailVerified);

/// `user.deleted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserDeleted(pub UserRef);
payload!(UserDeleted => UserDeleted);

/// `user.disabled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserDisabled(pub UserRef);
payload!(UserDisabled => UserDisabled);

/// `user.enabled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserEnabled(pub UserRef);
payload!(UserEnabled => UserEnabled);

/// `user.logged_in`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedIn {
    pub user_id: Uuid,
    pub email: String,
    pub ip_address: String,
    pub session_id: Uuid,
}
payload!(LoggedIn => LoggedIn);

/// `session.revoked`. `reason` is absent from events published before reasons existed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRevoked {
    pub session_id: Uuid,
    pub user_id: Uuid,
    /// The latest expiry of an access token of the session, to the second.
    #[serde(with = "rfc3339_seconds")]
    pub expires_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
payload!(SessionRevoked => SessionRevoked);

/// `user.password_reset_requested`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordResetRequested {
    pub user_id: Uuid,
    pub email: String,
    pub password_reset_token: String,
    #[serde(with = "rfc3339_seconds")]
    pub expires_at: DateTime<Utc>,
}
payload!(PasswordResetRequested => PasswordResetRequested);

/// `user.password_changed`; `via` is `change` or `reset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordChanged {
    pub user_id: Uuid,
    pub email: String,
    pub via: String,
}
payload!(PasswordChanged => PasswordChanged);

/// Times in event data: RFC 3339 in UTC to the second (`2026-12-04T21:04:45Z`); any RFC 3339
/// time is read.
mod rfc3339_seconds {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(deserializer)
    }
}

#[cfg(test)]
mod payload_tests {
    use super::*;

    #[test]
    fn payloads_serialise_as_the_contract_writes_them() {
        let (user_id, session_id) = (Uuid::new_v4(), Uuid::new_v4());
        let at = DateTime::parse_from_rfc3339("2026-12-04T21:04:45.123Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let revoked = SessionRevoked {
            session_id,
            user_id,
            expires_at: at,
            reason: Some(RevocationReason::Logout.as_str().to_owned()),
        };
        let event = Event::of(at, &revoked);
        assert_eq!(event.event_type, "session.revoked");
        assert_eq!(
            event.data,
            serde_json::json!({"session_id": session_id, "user_id": user_id,
                "expires_at": "2026-12-04T21:04:45Z", "reason": "logout"})
        );
        let read: Result<SessionRevoked, _> = serde_json::from_value(event.data);
        assert_eq!(
            read.map(|r| r.expires_at.timestamp()).ok(),
            Some(at.timestamp())
        );

        let deleted = Event::of(
            at,
            &UserDeleted(UserRef {
                user_id,
                email: "a@b.co".into(),
            }),
        );
        assert_eq!(deleted.event_type, "user.deleted");
        assert_eq!(
            deleted.data,
            serde_json::json!({"user_id": user_id, "email": "a@b.co"})
        );
    }
}
