//! Password change by a signed-in user: the current password, then the new one.

use common::events::{Event, PasswordChanged, RevocationReason};
use common::jwt::AccessClaims;

use super::revocation;
use crate::db;
use crate::error::IssuerError;
use crate::state::AppState;

pub struct ChangeInput {
    pub current_password: String,
    pub password: String,
    pub password_confirmation: String,
}

/// Changes the password of the caller (`claims` of a live session). The new password is
/// checked against the policy first; then the current one, which a locked account cannot try
/// (429, as at login) and whose failures count towards the lock, as failed logins do. Every
/// other session of the user is revoked; the caller's stays.
pub async fn change_password(
    state: &AppState,
    claims: &AccessClaims,
    input: ChangeInput,
) -> Result<(), IssuerError> {
    state
        .config
        .settings
        .password_policy
        .check_new(&input.password, &input.password_confirmation)?;
    let user =
        super::login::confirm_callers_password(state, claims, input.current_password).await?;
    let password_hash = state.hasher.hash(input.password).await?;

    let now = state.clock.now();
    let mut client = db::client(&state.pool).await?;
    let tx = client.transaction().await?;
    db::users::update_password_hash(&tx, user.id, &password_hash, now).await?;
    db::login_failures::clear(&tx, &user.email, now).await?;
    let revoked = revocation::revoke_user_sessions(
        &tx,
        user.id,
        Some(claims.sid),
        now,
        RevocationReason::PasswordChanged,
    )
    .await?;
    let event = Event::of(
        now,
        &PasswordChanged {
            user_id: user.id,
            email: user.email.clone(),
            via: "change".to_owned(),
        },
    );
    db::outbox::insert(&tx, &event).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, revoked_sessions = revoked, "password changed");
    Ok(())
}
