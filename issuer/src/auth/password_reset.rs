//! Password reset: asking for a token (sent to the mailer through
//! `user.password_reset_requested`), and using it to set a new password.
//!
//! Asking answers before any database work: the attempt limits and the email's syntax are
//! checked in memory, then the token is issued by a background job. The answer and its timing
//! are therefore the same whether or not the account exists or is disabled; the job's outcome
//! shows only in the logs and in `password_reset_jobs_total`.

use std::net::IpAddr;
use std::sync::Arc;

use common::events::{
    EmailVerified, Event, PasswordChanged, PasswordResetRequested, RevocationReason, UserRef,
};
use tokio::sync::Semaphore;
use tracing::Instrument;
use uuid::Uuid;

use super::register::{random_token, token_hash};
use super::{revocation, Email};
use crate::db::password_reset_tokens::{self as reset_tokens, ResetToken};
use crate::db::{self, DbError};
use crate::error::{IssuerError, ResetTokenIssue};
use crate::metrics::ResetJobOutcome;
use crate::rate_limit::Action;
use crate::state::AppState;

/// Tokens we issue are 43 characters; anything much longer is garbage, refused unhashed.
const MAX_TOKEN_LEN: usize = 256;

/// Reset jobs waiting or running in this process at most. Past that, requests answer 503
/// whatever the email, rather than queueing without limit behind a flood.
const MAX_PENDING_JOBS: usize = 256;
static PENDING_JOBS: Semaphore = Semaphore::const_new(MAX_PENDING_JOBS);

/// Counts the attempt, checks the email's syntax, and hands the rest to a background job.
pub fn request_reset(
    state: &Arc<AppState>,
    raw_email: &str,
    client_ip: IpAddr,
) -> Result<(), IssuerError> {
    state
        .limiter
        .check(Action::PasswordReset, client_ip, raw_email)?;
    let email = Email::parse(raw_email).map_err(IssuerError::InvalidEmail)?;
    let Ok(permit) = PENDING_JOBS.try_acquire() else {
        // 503 with Retry-After, as when the database is away: the same for every email.
        return Err(DbError::Unavailable("too many password reset requests pending".into()).into());
    };
    let state = Arc::clone(state);
    // The job's log lines keep the request's span (its request id).
    let span = tracing::Span::current();
    let job = async move {
        let _permit = permit;
        let outcome = match db::deadline(&state.pool, issue(&state, &email)).await {
            Ok(outcome) => outcome,
            Err(err) => {
                tracing::error!(error = %err, "password reset token could not be issued");
                ResetJobOutcome::Failed
            }
        };
        state.metrics.passwords.reset_job(outcome);
    };
    tokio::spawn(job.instrument(span));
    Ok(())
}

/// Replaces the account's reset token with a new one and queues the event that carries it.
/// The user row is locked first, so concurrent requests leave exactly one live token.
async fn issue(state: &AppState, email: &Email) -> Result<ResetJobOutcome, IssuerError> {
    let now = state.clock.now();
    let mut client = db::client(&state.pool).await?;
    let tx = client.transaction().await?;
    let Some(account) = reset_tokens::lock_account(&tx, email.as_str()).await? else {
        return Ok(ResetJobOutcome::NoAccount);
    };
    if account.disabled {
        return Ok(ResetJobOutcome::AccountDisabled);
    }
    let token = random_token()?;
    let expires_at = now + state.config.settings.password_reset_token_ttl;
    reset_tokens::replace(&tx, &token_hash(&token), account.user_id, now, expires_at).await?;
    let event = Event::of(
        now,
        &PasswordResetRequested {
            user_id: account.user_id,
            email: account.email,
            password_reset_token: token,
            expires_at,
        },
    );
    db::outbox::insert(&tx, &event).await?;
    tx.commit().await?;
    Ok(ResetJobOutcome::Issued)
}

pub struct ResetInput {
    pub token: String,
    pub password: String,
    pub password_confirmation: String,
}

/// Sets a new password with a reset token. The token is checked first, then the password (a
/// refused password leaves the token usable), then hashed outside any transaction; the token
/// row is locked and checked again before it is spent, so of two concurrent uses exactly one
/// wins. Success marks the email verified, lifts the login lock and revokes every session.
pub async fn confirm_reset(state: &AppState, input: ResetInput) -> Result<Uuid, IssuerError> {
    if input.token.is_empty() || input.token.len() > MAX_TOKEN_LEN {
        return Err(IssuerError::ResetToken(ResetTokenIssue::Unknown));
    }
    let hash = token_hash(&input.token);
    {
        let client = db::client(&state.pool).await?;
        let stored = reset_tokens::find(&*client, &hash, false).await?;
        usable(stored, state.clock.now())?;
    }
    state
        .config
        .settings
        .password_policy
        .check_new(&input.password, &input.password_confirmation)?;
    let password_hash = state.hasher.hash(input.password).await?;

    let now = state.clock.now();
    let mut client = db::client(&state.pool).await?;
    let tx = client.transaction().await?;
    let stored = usable(reset_tokens::find(&tx, &hash, true).await?, now)?;
    reset_tokens::mark_used(&tx, &hash, now).await?;
    db::users::update_password_hash(&tx, stored.user_id, &password_hash, now).await?;
    let was_verified = db::users::find_by_id(&tx, stored.user_id)
        .await?
        .is_some_and(|user| user.is_email_verified);
    let user = db::users::mark_email_verified(&tx, stored.user_id, now).await?;
    db::login_failures::forget(&tx, &user.email).await?;
    let revoked =
        revocation::revoke_user_sessions(&tx, user.id, None, now, RevocationReason::PasswordReset)
            .await?;
    let mut events = Vec::with_capacity(2);
    if !was_verified {
        events.push(Event::of(
            now,
            &EmailVerified(UserRef {
                user_id: user.id,
                email: user.email.clone(),
            }),
        ));
    }
    events.push(Event::of(
        now,
        &PasswordChanged {
            user_id: user.id,
            email: user.email.clone(),
            via: "reset".to_owned(),
        },
    ));
    db::outbox::insert_many(&tx, &events).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, revoked_sessions = revoked, "password reset");
    Ok(user.id)
}

/// The stored token if it can still be used: known (not replaced), unused, unexpired, and
/// for an account that is not disabled.
fn usable(
    stored: Option<ResetToken>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ResetToken, IssuerError> {
    let stored = stored.ok_or(IssuerError::ResetToken(ResetTokenIssue::Unknown))?;
    if stored.used_at.is_some() {
        return Err(IssuerError::ResetToken(ResetTokenIssue::Used));
    }
    if stored.expires_at <= now {
        return Err(IssuerError::ResetToken(ResetTokenIssue::Expired));
    }
    if stored.account_disabled {
        return Err(IssuerError::AccountDisabled);
    }
    Ok(stored)
}
