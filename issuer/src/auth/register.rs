//! Registration, and the verification token it hands to the mailer through `user.registered`.

use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use common::events::{Event, UserRegistered};
use ring::rand::{SecureRandom, SystemRandom};
use uuid::Uuid;

use super::Email;
use crate::db::{self, DbError};
use crate::error::IssuerError;
use crate::rate_limit::Action;
use crate::state::AppState;

pub struct Registration {
    pub email: String,
    pub password: String,
    pub password_confirmation: String,
}

pub struct Registered {
    pub user_id: Uuid,
    pub email: String,
}

/// Counted against the attempt limits first, before any validation, hashing or database work.
pub async fn register(
    state: &AppState,
    input: Registration,
    client_ip: IpAddr,
) -> Result<Registered, IssuerError> {
    state
        .limiter
        .check(Action::Register, client_ip, &input.email)?;
    let email = Email::parse(&input.email).map_err(IssuerError::InvalidEmail)?;
    state
        .config
        .settings
        .password_policy
        .check_new(&input.password, &input.password_confirmation)?;
    let password_hash = state.hasher.hash(input.password).await?;
    let now = state.clock.now();

    let mut client = db::client(&state.pool).await?;
    let tx = client.transaction().await?;
    let user =
        match db::users::insert(&tx, Uuid::new_v4(), email.as_str(), &password_hash, now).await {
            Ok(user) => user,
            Err(DbError::UniqueViolation { constraint }) if constraint == db::users::EMAIL_KEY => {
                return Err(IssuerError::DuplicateEmail)
            }
            Err(err) => return Err(err.into()),
        };
    let token = issue_verification_token(state, &tx, user.id, now).await?;
    let event = Event::of(
        now,
        &UserRegistered {
            user_id: user.id,
            email: user.email.clone(),
            email_verification_token: token,
        },
    );
    db::outbox::insert(&tx, &event).await?;
    tx.commit().await?;
    Ok(Registered {
        user_id: user.id,
        email: user.email,
    })
}

/// Stores the hash of a new random token for `user_id`, replacing any unused one, and returns
/// the token itself: it leaves the issuer only inside the outbox event.
pub async fn issue_verification_token(
    state: &AppState,
    tx: &deadpool_postgres::Transaction<'_>,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<String, IssuerError> {
    let token = random_token()?;
    let ttl = state.config.settings.verification_token_ttl;
    db::verification_tokens::delete_unused_for_user(tx, user_id).await?;
    db::verification_tokens::insert(tx, &token_hash(&token), user_id, now, now + ttl).await?;
    Ok(token)
}

/// 32 random bytes, URL-safe base64 without padding (43 characters): a verification or
/// password-reset token.
pub fn random_token() -> Result<String, IssuerError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| {
        IssuerError::Internal(anyhow::anyhow!("the system random generator failed"))
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of the token as sent: what the table stores and looks up.
pub fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}
