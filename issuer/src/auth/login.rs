//! Login: check the password, open a session, mint both tokens.

use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};
use common::events::{self, Event};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::session_tokens::{refresh_ttl, sign_access, sign_refresh};
use super::Email;
use crate::config::IssuerConfig;
use crate::db::login_failures::Standing;
use crate::db::sessions::{NewSession, Session};
use crate::db::users::User;
use crate::db::{self, DbError};
use crate::error::IssuerError;
use crate::rate_limit::{self, Action, Limited};
use crate::state::AppState;

pub struct Credentials {
    pub email: String,
    pub password: String,
    /// The client's `User-Agent`, already cut to a length fit to store.
    pub user_agent: Option<String>,
}

pub struct LoggedIn {
    pub user_id: Uuid,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

/// Failures older than this no longer count towards a lock.
pub const FAILURE_MEMORY: TimeDelta = TimeDelta::hours(24);

/// Checks, in this order: the attempt limits (in memory, before any other work), the account
/// lock, the password. A locked account is refused even with the right password, until the
/// lock expires. Unknown and registered emails go through the same steps, failures included,
/// so neither the answer, the time nor a lock tells whether an account exists.
///
/// The per-account limit and the lock are waived for an address the account has logged in
/// from within `LOGIN_KNOWN_ADDRESS_DAYS`, so that whoever knows an email cannot keep its owner
/// out by failing on purpose. The per-address limit and the password check still apply, and
/// failures from a known address still count towards the lock.
pub async fn login(
    state: &AppState,
    input: Credentials,
    client_ip: IpAddr,
) -> Result<LoggedIn, IssuerError> {
    state.limiter.check_address(Action::Login, client_ip)?;
    // A refusal that a known address may still waive, once the database has been asked.
    let over_account_limit = state
        .limiter
        .check_account(Action::Login, &input.email)
        .err();
    let address = rate_limit::address_key(client_ip);
    // A malformed email is just an unknown account: same answer, same work.
    let email = Email::parse(&input.email).ok();
    let (user, standing) = match &email {
        Some(email) => admit(state, email, address, over_account_limit).await?,
        None => match over_account_limit {
            Some(limited) => return Err(limited.into()),
            None => (None, None),
        },
    };
    let verified = state
        .hasher
        .verify(
            input.password.clone(),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
    let user = match (user, &email) {
        (Some(user), _) if verified.matches => user,
        (_, Some(email)) if state.config.settings.lockout_threshold > 0 => {
            record_failure(state, email).await?;
            return Err(IssuerError::InvalidCredentials);
        }
        _ => return Err(IssuerError::InvalidCredentials),
    };
    // Only now, with the password right, may the answer tell that the account is disabled.
    if user.disabled_at.is_some() {
        return Err(IssuerError::AccountDisabled);
    }
    if standing.is_some() {
        let client = db::client(&state.pool).await?;
        db::login_failures::clear(&*client, &user.email, state.clock.now()).await?;
    }
    if state.config.settings.require_verified_email && !user.is_email_verified {
        return Err(IssuerError::EmailNotVerified);
    }
    if verified.needs_rehash {
        rehash(state, user.id, input.password).await;
    }

    let now = state.clock.now();
    let session_id = Uuid::new_v4();
    let session_ends = now + refresh_ttl(state);
    let access = sign_access(state, (&user).into(), session_id, session_ends, now)?;
    let session = Session {
        id: session_id,
        user_id: user.id,
        refresh_jti: Uuid::new_v4(),
        refresh_issued_at: now,
        previous_refresh_jti: None,
        rotated_at: None,
        expires_at: session_ends,
        access_expires_at: access.expires_at,
        revoked_at: None,
    };
    let refresh_token = sign_refresh(state, (&session).into())?;

    let event = Event::of(
        now,
        &events::LoggedIn {
            user_id: user.id,
            email: user.email.clone(),
            ip_address: client_ip.to_string(),
            session_id: session.id,
        },
    );
    let new_session = NewSession {
        id: session.id,
        user_id: user.id,
        refresh_jti: session.refresh_jti,
        created_at: now,
        expires_at: session.expires_at,
        access_expires_at: access.expires_at,
        ip_address: Some(client_ip),
        user_agent: input.user_agent,
    };
    let mut client = db::client(&state.pool).await?;
    let tx = client.transaction().await?;
    // Disabled or deleted since the password was checked: no session.
    match db::users::find_for_new_session(&tx, user.id).await? {
        Some(current) if current.disabled_at.is_some() => return Err(IssuerError::AccountDisabled),
        Some(_) => {}
        None => return Err(IssuerError::InvalidCredentials),
    }
    // The three writes are independent of one another: they go out together, one round trip
    // for all of them, and are kept only if the transaction commits.
    let remember_address = async {
        if state.config.settings.known_address_retention.is_zero() {
            return Ok(());
        }
        db::known_addresses::record(&tx, &user.email, address, now).await
    };
    let (inserted, queued, remembered) = tokio::join!(
        db::sessions::insert(&tx, &new_session),
        db::outbox::insert(&tx, &event),
        remember_address,
    );
    inserted?;
    queued?;
    remembered?;
    tx.commit().await?;

    Ok(LoggedIn {
        user_id: user.id,
        access_token: access.token,
        refresh_token,
        expires_in: access.expires_in,
    })
}

/// Lets the attempt through the per-account limit and the account lock, or refuses it, then
/// finds the account. Either refusal is waived for an address the account knows; the database
/// is asked that only when a refusal hangs on the answer, and at most once.
async fn admit(
    state: &AppState,
    email: &Email,
    address: IpAddr,
    over_account_limit: Option<Limited>,
) -> Result<(Option<User>, Option<Standing>), IssuerError> {
    let client = db::client(&state.pool).await?;
    let now = state.clock.now();
    let mut known = None;
    if let Some(limited) = over_account_limit {
        if !is_known(state, &*client, email, address, now).await? {
            return Err(limited.into());
        }
        known = Some(true);
    }
    let standing = if state.config.settings.lockout_threshold > 0 {
        db::login_failures::find(&*client, email.as_str()).await?
    } else {
        None
    };
    let lock = standing
        .and_then(|s| s.locked_until)
        .and_then(|until| refusal_while_locked(until, now));
    if let Some(refusal) = lock {
        let known = match known {
            Some(known) => known,
            None => is_known(state, &*client, email, address, now).await?,
        };
        if !known {
            return Err(refusal);
        }
    }
    let user = db::users::find_by_email(&*client, email.as_str()).await?;
    Ok((user, standing))
}

/// Whether `email` has logged in from `address` lately; never, with the exemption off. Emails
/// without an account have no rows, so they are asked the same and answered no.
async fn is_known(
    state: &AppState,
    client: &impl GenericClient,
    email: &Email,
    address: IpAddr,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    if state.config.settings.known_address_retention.is_zero() {
        return Ok(false);
    }
    let since = known_address_cutoff(&state.config, now);
    db::known_addresses::is_known(client, email.as_str(), address, since).await
}

/// Logins before this no longer make their address known (with a retention of zero: none).
pub fn known_address_cutoff(config: &IssuerConfig, now: DateTime<Utc>) -> DateTime<Utc> {
    TimeDelta::from_std(config.settings.known_address_retention)
        .ok()
        .and_then(|retention| now.checked_sub_signed(retention))
        .map_or(DateTime::UNIX_EPOCH, |cutoff| {
            cutoff.max(DateTime::UNIX_EPOCH)
        })
}

/// A lock still running answers 429 with the seconds left (at least one).
pub(crate) fn refusal_while_locked(
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<IssuerError> {
    if until <= now {
        return None;
    }
    let left_ms = (until - now).num_milliseconds().max(0);
    let retry_after_secs = u64::try_from(left_ms).unwrap_or(0).div_ceil(1000).max(1);
    Some(IssuerError::RateLimited { retry_after_secs })
}

/// Counts a failed login for `email`, locking it once the threshold is reached.
pub(crate) async fn record_failure(state: &AppState, email: &Email) -> Result<(), IssuerError> {
    let now = state.clock.now();
    let lock_for = state.config.settings.lockout_duration;
    let threshold = i32::try_from(state.config.settings.lockout_threshold).unwrap_or(i32::MAX);
    let client = db::client(&state.pool).await?;
    let locked = db::login_failures::record_failure(
        &*client,
        email.as_str(),
        now,
        now - FAILURE_MEMORY,
        threshold,
        now + lock_for,
    )
    .await?;
    if let Some(until) = locked {
        tracing::warn!(%until, "account locked after repeated failed logins");
    }
    Ok(())
}

/// Upgrades a hash made with weaker parameters. Best effort: the login has succeeded already.
async fn rehash(state: &AppState, user_id: Uuid, password: String) {
    let result = async {
        let hash = state.hasher.hash(password).await?;
        db::deadline(&state.pool, async {
            let client = db::client(&state.pool).await?;
            db::users::update_password_hash(&*client, user_id, &hash, state.clock.now()).await?;
            Ok::<_, IssuerError>(())
        })
        .await
    }
    .await;
    match result {
        Ok(()) => tracing::info!(%user_id, "password hash upgraded to the configured cost"),
        Err(err) => tracing::warn!(%user_id, error = %err, "password hash upgrade failed"),
    }
}

/// The signed-in caller's account, once `password` proved it is the caller's: the check a
/// sensitive change makes (password change, account deletion). A locked account is refused as
/// login refuses it, before the password is tried; a wrong password is INVALID_CREDENTIALS and
/// counts towards the lock, as a failed login does.
pub(crate) async fn confirm_callers_password(
    state: &AppState,
    claims: &common::jwt::AccessClaims,
    password: String,
) -> Result<crate::db::users::User, IssuerError> {
    let user = {
        let client = db::client(&state.pool).await?;
        let user = db::users::find_by_id(&*client, claims.sub)
            .await?
            .ok_or(IssuerError::UserNotFound)?;
        if state.config.settings.lockout_threshold > 0 {
            let lock = db::login_failures::find(&*client, &user.email)
                .await?
                .and_then(|standing| standing.locked_until)
                .and_then(|until| refusal_while_locked(until, state.clock.now()));
            if let Some(refusal) = lock {
                return Err(refusal);
            }
        }
        user
    };
    let verified = state
        .hasher
        .verify(password, Some(user.password_hash.clone()))
        .await?;
    if !verified.matches {
        if state.config.settings.lockout_threshold > 0 {
            let email = Email::parse(&user.email).map_err(IssuerError::InvalidEmail)?;
            record_failure(state, &email).await?;
        }
        return Err(IssuerError::InvalidCredentials);
    }
    Ok(user)
}
