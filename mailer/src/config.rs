//! The mailer's settings (one table: [`MailerSettings`]) and the shared tables it reads
//! ([`Shared::TABLES`]: service, events and traces). It reads no signing key: it never sees or
//! makes a token of its own.

use std::net::SocketAddr;

use chrono::TimeDelta;
use common::config::Shared;
use common::settings::{listen_address, optional, secret, span, ConfigError, Env, HOURS};
use lettre::message::Mailbox;
use secrecy::SecretString;

use crate::smtp::SmtpSettings;

common::settings! {
    /// Every variable of the mailer's own, parsed (a required one that is unset is refused
    /// here); [`MailerConfig::from_lookup`] fits them together.
    pub struct MailerSettings;
    "mailer" {
        addr: SocketAddr = MAILER_ADDR, listen_address("0.0.0.0:8002"), "listen address of its health and metrics routes";
        from: String = MAIL_FROM, optional("required: an address, or `Name <address>`"), "the sender of every email";
        smtp_url: String = SMTP_URL, optional("required: `smtp://` or `smtps://`, as lettre's `from_url` reads it"),
            "the SMTP server: `smtps://host[:port]` (implicit TLS, port 465), `smtp://host[:port]?tls=required` (STARTTLS, 587), `smtp://host[:port]?tls=opportunistic`, or `smtp://host[:port]` (plain, 25) ([SMTP](MAILER.md#smtp))";
        smtp_username: Option<String> = SMTP_USERNAME, optional("set with `SMTP_PASSWORD` or not at all"), "SMTP login";
        smtp_password: Option<SecretString> = SMTP_PASSWORD, secret("set with `SMTP_USERNAME` or not at all"), "SMTP password";
        verify_email_url: String = VERIFY_EMAIL_URL, optional("required: an `http://` or `https://` URL containing `{token}`"),
            "the link in the verification email; `{token}` becomes the URL-encoded token ([links](MAILER.md#the-links-and-what-the-token-is-for))";
        reset_password_url: String = RESET_PASSWORD_URL, optional("required: an `http://` or `https://` URL containing `{token}`"),
            "the link in the password-reset email";
        verification_max_age: TimeDelta = VERIFICATION_EMAIL_MAX_AGE_HOURS, span("24", 1, 8760, HOURS),
            "a verification event older than this is acknowledged without an email ([retries](MAILER.md#acknowledgement-and-retries))";
    }
}

/// Where a link template puts the token.
pub const TOKEN_PLACEHOLDER: &str = "{token}";

/// The mailer's whole configuration.
#[derive(Debug, Clone)]
pub struct MailerConfig {
    /// Logging, NATS (credentials and TLS as the other services take them) and span export.
    pub shared: Shared,
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
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let shared = Shared::from_env(&env, env!("CARGO_PKG_VERSION"))?;
        let own = MailerSettings::read(&env)?;
        let from = own.from.parse::<Mailbox>().map_err(|_| {
            let reason =
                "must be an address such as no-reply@example.com or Name <no-reply@example.com>";
            ConfigError::new(MAIL_FROM, reason)
        })?;
        Ok(MailerConfig {
            shared,
            addr: own.addr,
            smtp: SmtpSettings::new(own.smtp_url, own.smtp_username, own.smtp_password)?,
            from,
            verify_email_url: link_template(VERIFY_EMAIL_URL, own.verify_email_url)?,
            reset_password_url: link_template(RESET_PASSWORD_URL, own.reset_password_url)?,
            verification_max_age: own.verification_max_age,
        })
    }
}

/// An http(s) URL holding `{token}`, where the link's token goes.
fn link_template(name: &str, url: String) -> Result<String, ConfigError> {
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

    use common::config::{
        LOG_LEVEL, NATS_URL, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL,
    };

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
        let tables = Shared::TABLES.iter().chain([&MailerSettings::VARS]);
        let listed: BTreeSet<String> = tables
            .flat_map(|vars| vars.iter())
            .map(|v| v.name.to_owned())
            .collect();
        assert_eq!(asked, listed);
        Ok(())
    }

    #[test]
    fn every_literal_default_in_the_catalogue_is_the_default_in_force() -> Result<(), ConfigError> {
        let (_, unset) = load(&[])?;
        for var in Shared::TABLES.concat().iter().chain(MailerSettings::VARS) {
            if let Some(default) = var.kind.default {
                let (_, explicit) = load(&[(var.name, default)])?;
                assert_eq!(explicit, unset, "{} = {default:?}", var.name);
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
            (OTEL_EXPORTER_OTLP_ENDPOINT, "collector:4318"),
            (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
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
