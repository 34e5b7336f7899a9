//! Using a verification token, and asking for a new one.

use std::net::IpAddr;

use common::events::{EmailVerified, Event, UserRef, VerificationRequested};
use uuid::Uuid;

use super::register::{issue_verification_token, token_hash};
use super::Email;
use crate::db;
use crate::error::{IssuerError, VerificationTokenIssue};
use crate::rate_limit::Action;
use crate::state::AppState;

/// Tokens we issue are 43 characters; anything much longer is garbage, refused unhashed.
const MAX_TOKEN_LEN: usize = 256;

/// Marks the token used and the email verified. A token works once.
pub async fn verify_email(state: &AppState, token: &str) -> Result<Uuid, IssuerError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(IssuerError::VerificationToken(
            VerificationTokenIssue::Unknown,
        ));
    }
    let hash = token_hash(token);
    let now = state.clock.now();
    let mut client = db::client(&state.pool).await?;
    let tx = client.transaction().await?;
    let stored = db::verification_tokens::find_for_update(&tx, &hash)
        .await?
        .ok_or(IssuerError::VerificationToken(
            VerificationTokenIssue::Unknown,
        ))?;
    if stored.used_at.is_some() {
        return Err(IssuerError::VerificationToken(VerificationTokenIssue::Used));
    }
    if stored.expires_at <= now {
        return Err(IssuerError::VerificationToken(
            VerificationTokenIssue::Expired,
        ));
    }
    db::verification_tokens::mark_used(&tx, &hash, now).await?;
    let user = db::users::mark_email_verified(&tx, stored.user_id, now).await?;
    let event = Event::of(
        now,
        &EmailVerified(UserRef {
            user_id: user.id,
            email: user.email.clone(),
        }),
    );
    db::outbox::insert(&tx, &event).await?;
    tx.commit().await?;
    Ok(user.id)
}

/// Issues a new token (replacing the old) when the account exists and is unverified. The
/// caller answers the same either way, so the response does not tell whether it exists.
/// Counted against the attempt limits first, before any database work.
pub async fn resend_verification(
    state: &AppState,
    raw_email: &str,
    client_ip: IpAddr,
) -> Result<(), IssuerError> {
    state
        .limiter
        .check(Action::ResendVerification, client_ip, raw_email)?;
    let email = Email::parse(raw_email).map_err(IssuerError::InvalidEmail)?;
    let now = state.clock.now();
    let mut client = db::client(&state.pool).await?;
    let tx = client.transaction().await?;
    let Some(user) = db::users::find_by_email_for_update(&tx, email.as_str()).await? else {
        return Ok(());
    };
    if user.is_email_verified {
        return Ok(());
    }
    let token = issue_verification_token(state, &tx, user.id, now).await?;
    let event = Event::of(
        now,
        &VerificationRequested {
            user_id: user.id,
            email: user.email.clone(),
            email_verification_token: token,
        },
    );
    db::outbox::insert(&tx, &event).await?;
    tx.commit().await?;
    Ok(())
}
