//! Handing a message to the SMTP server, and what its answer means for the event: sent,
//! worth retrying, or never deliverable.

use std::fmt;
use std::time::Duration;

use common::settings::{pair, ConfigError};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use secrecy::{ExposeSecret, SecretString};

use crate::config::{SMTP_PASSWORD, SMTP_URL, SMTP_USERNAME};

/// How long one delivery may take, connection to the server's final answer. Well under the
/// consumer's ack wait, so a message is never redelivered while it is still being sent.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// SMTP_URL with the login. `Debug` shows the URL without its credentials and no password.
#[derive(Clone)]
pub struct SmtpSettings {
    url: String,
    login: Option<(String, String)>,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("url", &self.redacted_url())
            .field("username", &self.login.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl SmtpSettings {
    /// SMTP_URL, checked by building a transport from it, and SMTP_USERNAME / SMTP_PASSWORD,
    /// which come as a pair.
    pub fn new(
        url: String,
        username: Option<String>,
        password: Option<SecretString>,
    ) -> Result<Self, ConfigError> {
        let login = pair((SMTP_USERNAME, username), (SMTP_PASSWORD, password))?;
        let login = login.map(|(user, password)| (user, password.expose_secret().to_owned()));
        let settings = SmtpSettings { url, login };
        settings.transport().map_err(|_| {
            ConfigError::new(
                SMTP_URL,
                "must be smtp://host[:port] (plain), smtp://host[:port]?tls=required (STARTTLS), \
                 smtp://host[:port]?tls=opportunistic or smtps://host[:port] (TLS)",
            )
        })?;
        Ok(settings)
    }

    /// The URL with any user name and password replaced by `***`, for logs and `check-config`.
    pub fn redacted_url(&self) -> String {
        common::settings::redact_url(&self.url)
    }

    /// What protects the connection, in words.
    pub fn security(&self) -> &'static str {
        if self.url.starts_with("smtps:") {
            "implicit TLS"
        } else if self.url.contains("tls=required") {
            "STARTTLS required"
        } else if self.url.contains("tls=opportunistic") {
            "STARTTLS when offered"
        } else {
            "none (plain SMTP)"
        }
    }

    pub fn has_login(&self) -> bool {
        self.login.is_some() || self.redacted_url().contains("***@")
    }

    /// A transport for the configured server. It opens a connection per message: nothing is
    /// held open between emails, so a restarted server needs no reconnect logic.
    pub fn transport(
        &self,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(&self.url)?.timeout(Some(SEND_TIMEOUT));
        if let Some((user, password)) = &self.login {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(builder.build())
    }
}

/// What became of one attempt to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The server took the message.
    Accepted,
    /// Worth trying again later: the server is down or slow, answered 4xx, or refused our
    /// login (a configuration to fix, not a reason to lose the email).
    Retry(String),
    /// The server will never take it (5xx for this message, e.g. a refused recipient).
    Rejected(String),
}

/// Sends `message` and classifies the outcome. The reason never holds the server's reply
/// text (it may quote the message), only its code and the kind of failure.
pub async fn send(transport: &AsyncSmtpTransport<Tokio1Executor>, message: Message) -> Delivery {
    match transport.send(message).await {
        Ok(_) => Delivery::Accepted,
        Err(err) => classify(&err),
    }
}

/// Reply codes that are about our login, not the message: retried.
const LOGIN_CODES: [u16; 4] = [530, 534, 535, 538];

fn classify(err: &lettre::transport::smtp::Error) -> Delivery {
    let code = err.status().map(u16::from);
    match code {
        Some(code) if err.is_permanent() && LOGIN_CODES.contains(&code) => {
            Delivery::Retry(format!("the server refused the login ({code})"))
        }
        Some(code) if err.is_permanent() => {
            Delivery::Rejected(format!("the server refused the message ({code})"))
        }
        Some(code) => Delivery::Retry(format!("the server answered {code}")),
        None if err.is_timeout() => Delivery::Retry("the server did not answer in time".into()),
        None if err.is_tls() => Delivery::Retry(format!("TLS failed: {err}")),
        None => Delivery::Retry(format!("cannot reach the server: {err}")),
    }
}
