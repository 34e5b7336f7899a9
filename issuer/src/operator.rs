//! The operator commands: `issuer users disable|enable|unlock|delete EMAIL` and `issuer
//! sessions revoke EMAIL`. They read the configuration `serve` reads, need Postgres only (the
//! running issuers' relay publishes the events they queue) and call the use cases the HTTP
//! routes call.

use std::process::ExitCode;

use common::cli::EX_USAGE;
use common::clock::Clock;

use crate::auth::{account, sessions, Email};
use crate::db::{self, DbError};

/// The usage line of the operator commands.
pub const USAGE: &str =
    "issuer users (disable | enable | unlock | delete) EMAIL | issuer sessions revoke EMAIL";

/// The issuer's commands beyond the shared ones, for the help text.
pub const COMMANDS: &[(&str, &str)] = &[
    ("migrate", "create and migrate the database, then exit"),
    (
        "users disable EMAIL",
        "disable the account: login, refresh and password reset answer 403 ACCOUNT_DISABLED; revoke every session",
    ),
    ("users enable EMAIL", "enable a disabled account again"),
    (
        "users unlock EMAIL",
        "clear the account's failed logins and login lockout",
    ),
    (
        "users delete EMAIL",
        "delete the account and its sessions and tokens, as DELETE /me does; the email is free again",
    ),
    (
        "sessions revoke EMAIL",
        "revoke every session of the account (reason operator)",
    ),
];

/// One operator command, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Disable,
    Enable,
    Unlock,
    Delete,
    RevokeSessions,
}

/// What the command line asks for: `None` when it is not an operator command at all;
/// `Some(Err(message))` when it is one, badly written.
pub fn parse(args: &[&str]) -> Option<Result<(Action, Email), String>> {
    let (action, email) = match args {
        ["users", verb, rest @ ..] => {
            let action = match *verb {
                "disable" => Action::Disable,
                "enable" => Action::Enable,
                "unlock" => Action::Unlock,
                "delete" => Action::Delete,
                _ => return Some(Err(format!("unknown command: users {verb}"))),
            };
            (action, rest)
        }
        ["sessions", "revoke", rest @ ..] => (Action::RevokeSessions, rest),
        ["sessions", ..] | ["users"] => return Some(Err("incomplete command".to_owned())),
        _ => return None,
    };
    Some(match email {
        [email] => Email::parse(email)
            .map(|email| (action, email))
            .map_err(|issue| format!("not a valid email address ({issue})")),
        [] => Err("an EMAIL is required".to_owned()),
        _ => Err("one EMAIL only".to_owned()),
    })
}

/// Runs a parsed (or refused) operator command: 0 when done, 1 when the email has no account
/// or Postgres fails, 64 on a usage or configuration error.
pub async fn run(parsed: Result<(Action, Email), String>) -> ExitCode {
    let (action, email) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("issuer: {message}\nusage: {USAGE}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let config = match common::cli::load::<crate::config::IssuerConfig>() {
        Ok(config) => config,
        Err(code) => return code,
    };
    let result = async {
        let postgres = config.postgres.clone();
        let pool = db::pool(postgres, 1, config.settings.database_timeout)?;
        Ok::<_, anyhow::Error>(db::deadline(&pool, execute(&pool, action, &email)).await?)
    }
    .await;
    match result {
        Ok(Some(done)) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("issuer: no user with email {email}");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("issuer: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Does `action` for `email`; what to print, or `None` when the email has no account.
pub async fn execute(
    pool: &deadpool_postgres::Pool,
    action: Action,
    email: &Email,
) -> Result<Option<String>, DbError> {
    let now = Clock::system().now();
    Ok(match action {
        Action::Disable => account::disable(pool, email, now).await?.map(|done| {
            let state = if done.changed {
                "disabled"
            } else {
                "already disabled"
            };
            format!(
                "{state} {} ({} sessions revoked)",
                done.email, done.revoked_sessions
            )
        }),
        Action::Enable => account::enable(pool, email, now).await?.map(|done| {
            let state = if done.changed {
                "enabled"
            } else {
                "already enabled"
            };
            format!("{state} {}", done.email)
        }),
        Action::Unlock => account::unlock(pool, email).await?.map(|cleared| {
            if cleared {
                format!("unlocked {email} (failed logins and lock cleared)")
            } else {
                format!("unlocked {email} (it had no failed logins or lock)")
            }
        }),
        Action::Delete => account::delete(pool, email, now).await?.map(|done| {
            format!(
                "deleted {} (user {}, {} sessions revoked)",
                done.email, done.user_id, done.revoked_sessions
            )
        }),
        Action::RevokeSessions => sessions::revoke_all(pool, email, now)
            .await?
            .map(|revoked| format!("revoked {revoked} sessions of {email}")),
    })
}
