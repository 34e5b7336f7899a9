//! The mailer's settings: its address, the SMTP server and sender, the two link templates, and
//! the few shared settings it needs (NATS, logging, service name, shutdown grace). It holds no
//! signing key: it never sees or makes a token of its own.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::TimeDelta;
use common::config::{
    ConfigError, Env, TimeUnit, Var, LOG_FORMAT, LOG_LEVEL, NATS_STREAM, NATS_SUBJECT_PREFIX,
    NATS_URL, SERVICE_NAME, SERVICE_VERSION, SHUTDOWN_GRACE_SECONDS,
};
use common::telemetry::LogFormat;
use lettre::message::Mailbox;

use crate::smtp::SmtpSettings;

pub const MAILER_ADDR: &str = "MAILER_ADDR";
pub const SMTP_URL: &str = "SMTP_URL";
pub const SMTP_USERNAME: &str = "SMTP_USERNAME";
pub const SMTP_PASSWORD: &str = "SMTP_PASSWORD";
pub const MAIL_FROM: &str = "MAIL_FROM";
pub const VERIFY_EMAIL_URL: &str = "VERIFY_EMAIL_URL";
pub const RESET_PASSWORD_URL: &str = "RESET_PASSWORD_URL";
pub const VERIFICATION_EMAIL_MAX_AGE_HOURS: &str = "VERIFICATION_EMAIL_MAX_AGE_HOURS";

/// Where a link template puts the token.
pub const TOKEN_PLACEHOLDER: &str = "{token}";

/// The shared variables (of [`common::config::VARS`]) the mailer reads.
pub const SHARED: &[&str] = &[
    SERVICE_NAME,
    SERVICE_VERSION,
    LOG_LEVEL,
    LOG_FORMAT,
    NATS_URL,
    NATS_STREAM,
    NATS_SUBJECT_PREFIX,
    SHUTDOWN_GRACE_SECONDS,
];

/// Every variable [`MailerConfig::from_lookup`] reads beyond [`shared_vars`].
pub const VARS: &[Var] = &[
    Var::new(
        MAILER_ADDR,
        "0.0.0.0:8002",
        "health and metrics listen address",
    ),
    Var::new(
        SMTP_URL,
        "(required)",
        "smtp://host:port (plain), smtp://host:port?tls=required (STARTTLS) or smtps://host:port",
    ),
    Var::new(SMTP_USERNAME, "", "SMTP login; needs SMTP_PASSWORD"),
    Var::secret(SMTP_PASSWORD, "", "SMTP password; needs SMTP_USERNAME"),
    Var::new(
        MAIL_FROM,
        "(required)",
        "sender, e.g. Example <no-reply@example.com>",
    ),
    Var::new(
        VERIFY_EMAIL_URL,
        "(required)",
        "link in the verification email; {token} is replaced by the URL-encoded token",
    ),
    Var::new(
        RESET_PASSWORD_URL,
        "(required)",
        "link in the password-reset email; {token} is replaced by the URL-encoded token",
    ),
    Var::new(
        VERIFICATION_EMAIL_MAX_AGE_HOURS,
        "24",
        "a verification event older than this is skipped, not mailed (1-8760)",
    ),
];

/// The entries of [`common::config::VARS`] named in [`SHARED`], for the help text and the
/// documentation test.
pub fn shared_vars() -> Vec<Var> {
    common::config::VARS
        .iter()
        .filter(|var| SHARED.contains(&var.name))
        .copied()
        .collect()
}

/// MAILER_ADDR alone, for `healthcheck`.
pub fn addr(env: &Env) -> Result<SocketAddr, ConfigError> {
    env.parse_or(
        MAILER_ADDR,
        ([0, 0, 0, 0], 8002).into(),
        "an address such as 0.0.0.0:8002",
    )
}

#[derive(Debug, Clone)]
pub struct MailerConfig {
    pub service_name: String,
    pub service_version: String,
    pub log_level: String,
    pub log_format: LogFormat,
    pub nats_url: String,
    pub nats_stream: String,
    pub nats_subject_prefix: String,
    pub shutdown_grace: Duration,
    pub addr: SocketAddr,
    /// The SMTP server, its TLS mode and the login; `Debug` shows no password.
    pub smtp: SmtpSettings,
    pub from: Mailbox,
    pub verify_email_url: String,
    pub reset_password_url: String,
    /// Verification events older than this are acknowledged without an email.
    pub verification_max_age: TimeDelta,
}

impl MailerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let lookup = common::config::with_secret_files(common::config::process_lookup()?, &[VARS])?;
        Self::from_lookup(&lookup)
    }

    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let log_level = env.string_or(LOG_LEVEL, "info");
        if !common::telemetry::is_valid_filter(&log_level) {
            return Err(ConfigError::new(LOG_LEVEL, "is not a valid tracing filter"));
        }
        let from = required(&env, MAIL_FROM)?.parse::<Mailbox>().map_err(|_| {
            ConfigError::new(
                MAIL_FROM,
                "must be an address such as no-reply@example.com or Name <no-reply@example.com>",
            )
        })?;
        Ok(MailerConfig {
            service_name: env.string_or(SERVICE_NAME, "auth-service"),
            service_version: env.string_or(SERVICE_VERSION, env!("CARGO_PKG_VERSION")),
            log_level,
            log_format: env.parse_or(LOG_FORMAT, Default::default(), "text or json")?,
            nats_url: common::config::nats_url(&env)?,
            nats_stream: env.string_or(NATS_STREAM, "AUTH"),
            nats_subject_prefix: env.string_or(NATS_SUBJECT_PREFIX, "auth"),
            shutdown_grace: Duration::from_secs(env.number_in(
                SHUTDOWN_GRACE_SECONDS,
                30,
                0..=3600,
            )?),
            addr: addr(&env)?,
            smtp: SmtpSettings::from_env(&env)?,
            from,
            verify_email_url: link_template(&env, VERIFY_EMAIL_URL)?,
            reset_password_url: link_template(&env, RESET_PASSWORD_URL)?,
            verification_max_age: env.span_in(
                VERIFICATION_EMAIL_MAX_AGE_HOURS,
                24,
                1..=8760,
                TimeUnit::Hours,
            )?,
        })
    }
}

/// A setting that has no default.
pub(crate) fn required(env: &Env, name: &str) -> Result<String, ConfigError> {
    env.get(name)
        .map(|v| v.trim().to_owned())
        .ok_or_else(|| ConfigError::new(name, "is required"))
}

/// An http(s) URL holding `{token}`, where the link's token goes.
fn link_template(env: &Env, name: &str) -> Result<String, ConfigError> {
    let url = required(env, name)?;
    if !url.contains(TOKEN_PLACEHOLDER) {
        return Err(ConfigError::new(
            name,
            format!("must contain {TOKEN_PLACEHOLDER}, where the token goes"),
        ));
    }
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::new(
            name,
            "must be an http:// or https:// URL without spaces",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    const BASE: &[(&str, &str)] = &[
        (SMTP_URL, "smtp://127.0.0.1:2525"),
        (MAIL_FROM, "Accounts <no-reply@example.com>"),
        (
            VERIFY_EMAIL_URL,
            "https://app.example.com/verify?token={token}",
        ),
        (
            RESET_PASSWORD_URL,
            "https://app.example.com/reset#token={token}",
        ),
    ];

    /// Loads with BASE plus `values` (an empty value unsets); the names asked for, and the
    /// result's `Debug`.
    fn load(values: &[(&str, &str)]) -> Result<(BTreeSet<String>, String), ConfigError> {
        let asked = RefCell::new(BTreeSet::new());
        let mut map: HashMap<&str, &str> = BASE.iter().copied().collect();
        map.extend(values.iter().copied());
        let lookup = |name: &str| {
            asked.borrow_mut().insert(name.to_owned());
            map.get(name).map(|v| (*v).to_owned())
        };
        let config = MailerConfig::from_lookup(&lookup)?;
        Ok((asked.into_inner(), format!("{config:?}")))
    }

    fn failing(values: &[(&str, &str)]) -> Option<String> {
        load(values).err().map(|e| e.variable)
    }

    #[test]
    fn the_catalogue_names_exactly_the_variables_the_mailer_reads() -> Result<(), ConfigError> {
        let (asked, _) = load(&[(SMTP_USERNAME, "mailer"), (SMTP_PASSWORD, "pw")])?;
        let listed: BTreeSet<String> = shared_vars()
            .iter()
            .chain(VARS)
            .map(|v| v.name.to_owned())
            .collect();
        assert_eq!(listed.len(), SHARED.len() + VARS.len(), "a name is missing");
        assert_eq!(asked, listed);
        Ok(())
    }

    #[test]
    fn every_literal_default_in_the_catalogue_is_the_default_in_force() -> Result<(), ConfigError> {
        let (_, unset) = load(&[])?;
        for var in shared_vars().iter().chain(VARS) {
            if var.has_literal_default() {
                let (_, explicit) = load(&[(var.name, var.default)])?;
                assert_eq!(explicit, unset, "{} = {:?}", var.name, var.default);
            }
        }
        Ok(())
    }

    #[test]
    fn a_bad_or_missing_setting_is_named() {
        for name in [SMTP_URL, MAIL_FROM, VERIFY_EMAIL_URL, RESET_PASSWORD_URL] {
            assert_eq!(
                failing(&[(name, "")]),
                Some(name.to_owned()),
                "{name} unset"
            );
        }
        for (name, value) in [
            (SMTP_URL, "http://mail:25"),
            (SMTP_URL, "smtp://"),
            (SMTP_URL, "smtp://mail:25?tls=sometimes"),
            (SMTP_URL, "not a url"),
            (MAIL_FROM, "not an address"),
            (VERIFY_EMAIL_URL, "https://app.example.com/verify"),
            (VERIFY_EMAIL_URL, "javascript:alert({token})"),
            (
                RESET_PASSWORD_URL,
                "https://app.example.com/reset?t={token} x",
            ),
            (MAILER_ADDR, "everywhere"),
            (NATS_URL, "http://nats:4222"),
            (LOG_LEVEL, "[["),
            (VERIFICATION_EMAIL_MAX_AGE_HOURS, "0"),
        ] {
            assert_eq!(failing(&[(name, value)]), Some(name.to_owned()), "{value}");
        }
        // A login comes as a pair: the error names the half that is missing.
        assert_eq!(
            failing(&[(SMTP_USERNAME, "alone")]),
            Some(SMTP_PASSWORD.to_owned())
        );
        assert_eq!(
            failing(&[(SMTP_PASSWORD, "alone")]),
            Some(SMTP_USERNAME.to_owned())
        );
    }

    #[test]
    fn no_password_reaches_an_error_or_the_debug_output() -> Result<(), ConfigError> {
        let (_, debug) = load(&[(SMTP_USERNAME, "mailer"), (SMTP_PASSWORD, "hunter2-pw")])?;
        assert!(!debug.contains("hunter2"), "{debug}");
        let (_, debug) = load(&[(SMTP_URL, "smtps://mailer:hunter2-pw@mail.example.com")])?;
        assert!(!debug.contains("hunter2"), "{debug}");
        let err = load(&[(SMTP_URL, "smtp://mailer:hunter2-pw@mail:25?tls=bad")]).err();
        assert!(err.is_some_and(|e| !e.to_string().contains("hunter2") && e.variable == SMTP_URL));
        Ok(())
    }

    #[test]
    fn every_documented_smtp_url_form_is_accepted() -> Result<(), ConfigError> {
        for url in [
            "smtp://mailpit:1025",
            "smtp://mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=opportunistic",
            "smtps://mail.example.com",
            "smtps://user:p%40ss@mail.example.com:465",
        ] {
            load(&[(SMTP_URL, url)])?;
        }
        Ok(())
    }
}
