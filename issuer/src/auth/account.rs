//! Account administration: deleting an account (by its owner with the password, or by an
//! operator), disabling and enabling it, and clearing its login lockout. The operator commands
//! and the HTTP routes call the same functions; each change and its events commit together.

use chrono::{DateTime, Utc};
use common::events::{Event, RevocationReason, UserDeleted, UserDisabled, UserEnabled, UserRef};
use common::jwt::AccessClaims;
use deadpool_postgres::{GenericClient, Pool, Transaction};
use uuid::Uuid;

use super::revocation;
use super::Email;
use crate::db::users::User;
use crate::db::{self, DbError};
use crate::error::IssuerError;
use crate::state::AppState;

/// An account that is gone, and how many of its sessions were live until then.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub user_id: Uuid,
    pub email: String,
    pub revoked_sessions: u64,
}

/// What disabling or enabling did: `changed` is false when the account already was so.
#[derive(Debug, Clone)]
pub struct Switched {
    pub user_id: Uuid,
    pub email: String,
    pub changed: bool,
    pub revoked_sessions: u64,
}

/// `DELETE /me`: the password again, then the account goes. A wrong password counts towards
/// the login lockout, and a locked account is refused as login refuses it.
pub async fn delete_own(
    state: &AppState,
    claims: &AccessClaims,
    password: String,
) -> Result<Deleted, IssuerError> {
    let user = super::login::confirm_callers_password(state, claims, password).await?;
    let mut client = db::client(&state.pool).await?;
    let tx = client.transaction().await?;
    let user = db::users::find_by_id_for_update(&tx, user.id)
        .await?
        .ok_or(IssuerError::UserNotFound)?;
    let deleted = delete_locked(&tx, &user, state.clock.now()).await?;
    tx.commit().await?;
    Ok(deleted)
}

/// `issuer users delete EMAIL`: as `DELETE /me`, without the password. `None`: no such user.
pub async fn delete(
    pool: &Pool,
    email: &Email,
    now: DateTime<Utc>,
) -> Result<Option<Deleted>, DbError> {
    let mut client = db::client(pool).await?;
    let tx = client.transaction().await?;
    let Some(user) = db::users::find_by_email_for_update(&tx, email.as_str()).await? else {
        return Ok(None);
    };
    let deleted = delete_locked(&tx, &user, now).await?;
    tx.commit().await?;
    Ok(Some(deleted))
}

/// Revokes every session (their `session.revoked` events are queued before the rows go, so
/// verifiers still learn of them), announces `user.deleted`, drops the user's unpublished
/// events that carry a mailed token, and deletes the user with everything that hangs off it:
/// sessions, verification and reset tokens (cascade), the lockout and known addresses (keyed
/// by email). The email is free for a new registration once this commits.
async fn delete_locked(
    tx: &Transaction<'_>,
    user: &User,
    now: DateTime<Utc>,
) -> Result<Deleted, DbError> {
    let revoked_sessions =
        revocation::revoke_user_sessions(tx, user.id, None, now, RevocationReason::AccountDeleted)
            .await?;
    db::outbox::insert(tx, &Event::of(now, &UserDeleted(user_ref(user)))).await?;
    db::outbox::discard_unsent_for_user(tx, user.id, &db::outbox::MAILED_TOKEN_EVENTS).await?;
    db::login_failures::delete(tx, &user.email).await?;
    db::known_addresses::delete_for_email(tx, &user.email).await?;
    db::users::delete(tx, user.id).await?;
    Ok(Deleted {
        user_id: user.id,
        email: user.email.clone(),
        revoked_sessions,
    })
}

/// `issuer users disable EMAIL`: login, refresh and password reset answer ACCOUNT_DISABLED from
/// now on, and every session is revoked (`account_disabled`). `user.disabled` is announced when
/// the account was enabled. `None`: no such user.
pub async fn disable(
    pool: &Pool,
    email: &Email,
    now: DateTime<Utc>,
) -> Result<Option<Switched>, DbError> {
    switch(pool, email, now, true).await
}

/// `issuer users enable EMAIL`: the account may log in again (`user.enabled` when it was
/// disabled). Sessions revoked by the disable stay revoked. `None`: no such user.
pub async fn enable(
    pool: &Pool,
    email: &Email,
    now: DateTime<Utc>,
) -> Result<Option<Switched>, DbError> {
    switch(pool, email, now, false).await
}

/// Disables or enables the account under its row lock; the event only when it changed.
async fn switch(
    pool: &Pool,
    email: &Email,
    now: DateTime<Utc>,
    disable: bool,
) -> Result<Option<Switched>, DbError> {
    let mut client = db::client(pool).await?;
    let tx = client.transaction().await?;
    let Some(user) = db::users::find_by_email_for_update(&tx, email.as_str()).await? else {
        return Ok(None);
    };
    let changed = db::users::set_disabled(&tx, user.id, disable.then_some(now), now).await?;
    let revoked_sessions = if disable {
        let reason = RevocationReason::AccountDisabled;
        revocation::revoke_user_sessions(&tx, user.id, None, now, reason).await?
    } else {
        0
    };
    if changed {
        let event = match disable {
            true => Event::of(now, &UserDisabled(user_ref(&user))),
            false => Event::of(now, &UserEnabled(user_ref(&user))),
        };
        db::outbox::insert(&tx, &event).await?;
    }
    tx.commit().await?;
    Ok(Some(Switched {
        user_id: user.id,
        email: user.email,
        changed,
        revoked_sessions,
    }))
}

/// `issuer users unlock EMAIL`: forgets the account's failed logins and lock. `Some(false)`:
/// there was nothing to clear; `None`: no such user. The per-minute attempt limits live in
/// each running issuer's memory and are not touched.
pub async fn unlock(pool: &Pool, email: &Email) -> Result<Option<bool>, DbError> {
    let client = db::client(pool).await?;
    if db::users::find_by_email(&*client, email.as_str())
        .await?
        .is_none()
    {
        return Ok(None);
    }
    Ok(Some(
        db::login_failures::delete(&*client, email.as_str()).await?,
    ))
}

/// What a refresh whose session is not live answers: ACCOUNT_DISABLED when the account is
/// disabled (disabling revoked the session), else `refused` as it was.
pub async fn refusal_if_disabled(
    db: &impl GenericClient,
    user_id: Uuid,
    refused: IssuerError,
) -> IssuerError {
    match db::users::find_by_id(db, user_id).await {
        Ok(Some(user)) if user.disabled_at.is_some() => IssuerError::AccountDisabled,
        Ok(_) => refused,
        Err(err) => err.into(),
    }
}

fn user_ref(user: &User) -> UserRef {
    UserRef {
        user_id: user.id,
        email: user.email.clone(),
    }
}
