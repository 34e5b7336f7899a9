//! Login: check the password, open a session, mint both tokens.

use std::net::IpAddr;

use common::events::{Event, EventType};
use serde_json::json;
use uuid::Uuid;

use super::session_tokens::{refresh_ttl, sign_access, sign_refresh};
use super::Email;
use crate::db::sessions::{NewSession, Session};
use crate::db::{self, DbError};
use crate::error::IssuerError;
use crate::state::AppState;

pub struct Credentials {
    pub email: String,
    pub password: String,
}

pub struct LoggedIn {
    pub user_id: Uuid,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

pub async fn login(
    state: &AppState,
    input: Credentials,
    client_ip: IpAddr,
) -> Result<LoggedIn, IssuerError> {
    // A malformed email is just an unknown account: same answer, same work.
    let email = Email::parse(&input.email).ok();
    let user = match &email {
        Some(email) => {
            let client = state.pool.get().await.map_err(DbError::from)?;
            db::users::find_by_email(&client, email.as_str()).await?
        }
        None => None,
    };
    let verified = state
        .hasher
        .verify(
            input.password.clone(),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
    let user = match user {
        Some(user) if verified.matches => user,
        _ => return Err(IssuerError::InvalidCredentials),
    };
    if state.config.require_verified_email && !user.is_email_verified {
        return Err(IssuerError::EmailNotVerified);
    }
    if verified.needs_rehash {
        rehash(state, user.id, input.password).await;
    }

    let now = state.clock.now();
    let session_id = Uuid::new_v4();
    let access = sign_access(state, &user, session_id, now)?;
    let session = Session {
        id: session_id,
        user_id: user.id,
        refresh_jti: Uuid::new_v4(),
        refresh_issued_at: now,
        previous_refresh_jti: None,
        rotated_at: None,
        expires_at: now + refresh_ttl(state),
        access_expires_at: access.expires_at,
        revoked_at: None,
    };
    let refresh_token = sign_refresh(state, &session)?;

    let mut client = state.pool.get().await.map_err(DbError::from)?;
    let tx = client.transaction().await.map_err(DbError::from)?;
    db::sessions::insert(
        &tx,
        &NewSession {
            id: session.id,
            user_id: user.id,
            refresh_jti: session.refresh_jti,
            created_at: now,
            expires_at: session.expires_at,
            access_expires_at: access.expires_at,
        },
    )
    .await?;
    let event = Event::new(
        EventType::LoggedIn,
        now,
        json!({
            "user_id": user.id,
            "email": user.email,
            "ip_address": client_ip.to_string(),
            "session_id": session.id,
        }),
    );
    db::outbox::insert(&tx, &event).await?;
    tx.commit().await.map_err(DbError::from)?;

    Ok(LoggedIn {
        user_id: user.id,
        access_token: access.token,
        refresh_token,
        expires_in: access.expires_in,
    })
}

/// Upgrades a hash made with weaker parameters. Best effort: the login has succeeded already.
async fn rehash(state: &AppState, user_id: Uuid, password: String) {
    let result = async {
        let hash = state.hasher.hash(password).await?;
        let client = state.pool.get().await.map_err(DbError::from)?;
        db::users::update_password_hash(&client, user_id, &hash, state.clock.now()).await?;
        Ok::<_, IssuerError>(())
    }
    .await;
    match result {
        Ok(()) => tracing::info!(%user_id, "password hash upgraded to the configured cost"),
        Err(err) => tracing::warn!(%user_id, error = %err, "password hash upgrade failed"),
    }
}
