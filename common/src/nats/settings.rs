//! NATS credentials and TLS read from the environment and checked at start.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use nkeys::{KeyPair, KeyPairType};
use secrecy::{ExposeSecret, SecretString};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::PrivateKeyDer;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::settings::{optional, pair, secret, ConfigError, Env};
use crate::tls::pem_certificates;

crate::settings! {
    /// How a service proves itself to NATS and checks the server: read by every service, and
    /// checked together by [`NatsSettings::from_env`].
    #[derive(Debug, Clone)]
    pub struct NatsCredentialSettings;
    "nats-credentials" {
        nats_creds_file: Option<PathBuf> = NATS_CREDS_FILE, optional("a `.creds` file: a user JWT, then its user seed (`SU…`)"),
            "operator-mode (decentralised) authentication; read once, at start";
        nats_nkey_seed: Option<SecretString> = NATS_NKEY_SEED, secret("a user NKey seed (`SU…`)"),
            "NKey authentication (the server lists the user's public key `U…`)";
        nats_user: Option<String> = NATS_USER, optional("with `NATS_PASSWORD`, or neither"), "user name to authenticate with";
        nats_password: Option<SecretString> = NATS_PASSWORD, secret("with `NATS_USER`, or neither"), "password of `NATS_USER`";
        nats_token: Option<SecretString> = NATS_TOKEN, secret(""), "token authentication";
        nats_tls_ca_file: Option<PathBuf> = NATS_TLS_CA_FILE, optional("a PEM file of one or more CA certificates"),
            "the NATS server's certificate must chain to these (unset: the system's roots); setting it requires TLS";
        nats_tls_cert_file: Option<PathBuf> = NATS_TLS_CERT_FILE, optional("a PEM certificate chain; with `NATS_TLS_KEY_FILE`"),
            "the client certificate, for a server with `verify: true`; setting it requires TLS. Read again at each connection, so a renewed certificate is used on the next reconnect";
        nats_tls_key_file: Option<PathBuf> = NATS_TLS_KEY_FILE, optional("a PEM private key that matches `NATS_TLS_CERT_FILE`"), "the private key of `NATS_TLS_CERT_FILE`";
    }
}

/// How a service reaches NATS beyond its URL: who it is and how the server is checked.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    pub auth: NatsAuth,
    pub tls: NatsTls,
}

/// At most one way of authenticating; `None` when the server needs none (or the URL carries
/// the user and password).
#[derive(Clone)]
pub enum NatsAuth {
    None,
    /// A `.creds` file, read at start: the user JWT and the key pair that signs the nonce.
    Credentials {
        jwt: String,
        key: Arc<KeyPair>,
    },
    NKey {
        seed: SecretString,
    },
    UserPassword {
        user: String,
        password: SecretString,
    },
    Token {
        token: SecretString,
    },
}

/// TLS to the server: required when a CA or a client certificate is given or the URL is
/// `tls://`; the server's certificate must chain to `ca_file` (else to the system roots).
#[derive(Debug, Clone, Default)]
pub struct NatsTls {
    pub required: bool,
    pub ca_file: Option<PathBuf>,
    /// The client certificate chain and its key.
    pub client: Option<(PathBuf, PathBuf)>,
}

impl NatsAuth {
    /// The variables that hold these credentials, for logs and errors.
    pub fn variables(&self) -> &'static str {
        match self {
            NatsAuth::None => "none",
            NatsAuth::Credentials { .. } => NATS_CREDS_FILE,
            NatsAuth::NKey { .. } => NATS_NKEY_SEED,
            NatsAuth::UserPassword { .. } => "NATS_USER and NATS_PASSWORD",
            NatsAuth::Token { .. } => NATS_TOKEN,
        }
    }
}

/// Names the kind only: no credential, not even the user JWT, is ever printed.
impl fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NatsAuth::UserPassword { user, .. } => f
                .debug_struct("UserPassword")
                .field("user", user)
                .finish_non_exhaustive(),
            other => write!(f, "NatsAuth({})", other.variables()),
        }
    }
}

impl NatsSettings {
    /// Reads and checks the credential and TLS variables: more than one way of authenticating,
    /// a file that cannot be read or holds nothing usable, or half a pair is an error naming
    /// the variable (never showing a value). `url` is NATS_URL as already checked (TLS is
    /// required for `tls://`); whether it also carries a user is the configuration's check.
    pub fn from_env(env: &Env, url: &str) -> Result<Self, ConfigError> {
        let s = NatsCredentialSettings::read(env)?;
        let scheme_tls = url.trim_start().to_ascii_lowercase().starts_with("tls://");
        Ok(NatsSettings {
            tls: tls(&s, scheme_tls)?,
            auth: auth(s)?,
        })
    }

    /// One line for `check-config`: the kind of credentials and the TLS files, no secret.
    pub fn summary(&self) -> String {
        let tls = match (&self.tls.required, &self.tls.ca_file, &self.tls.client) {
            (false, _, _) => "off unless the server asks".to_owned(),
            (true, ca, client) => format!(
                "required, CA {}, client certificate {}",
                ca.as_ref()
                    .map_or("system roots".to_owned(), |p| p.display().to_string()),
                client
                    .as_ref()
                    .map_or("none".to_owned(), |(cert, _)| cert.display().to_string())
            ),
        };
        format!(
            "nats credentials: {}; nats tls: {tls}",
            self.auth.variables()
        )
    }
}

fn auth(s: NatsCredentialSettings) -> Result<NatsAuth, ConfigError> {
    let given = [
        (NATS_CREDS_FILE, s.nats_creds_file.is_some()),
        (NATS_NKEY_SEED, s.nats_nkey_seed.is_some()),
        (NATS_USER, s.nats_user.is_some()),
        (NATS_PASSWORD, s.nats_password.is_some()),
        (NATS_TOKEN, s.nats_token.is_some()),
    ];
    let set: Vec<&str> = given
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name)
        .collect();
    let kinds = set.iter().filter(|name| **name != NATS_PASSWORD).count();
    if kinds > 1 {
        return Err(ConfigError::new(
            set[0],
            format!(
                "is one way to authenticate to NATS and {} is another: set one",
                set[1..].join(", ")
            ),
        ));
    }
    if let Some(path) = s.nats_creds_file {
        return credentials(&path);
    }
    if let Some(seed) = s.nats_nkey_seed {
        let seed = seed.expose_secret().trim();
        user_key_pair(seed, NATS_NKEY_SEED)?;
        return Ok(NatsAuth::NKey {
            seed: SecretString::from(seed),
        });
    }
    if let Some((user, password)) =
        pair((NATS_USER, s.nats_user), (NATS_PASSWORD, s.nats_password))?
    {
        return Ok(NatsAuth::UserPassword { user, password });
    }
    Ok(match s.nats_token {
        Some(token) => NatsAuth::Token { token },
        None => NatsAuth::None,
    })
}

/// A `.creds` file as `nsc` writes it: a decorated user JWT, then a decorated user seed.
fn credentials(path: &std::path::Path) -> Result<NatsAuth, ConfigError> {
    let content = std::fs::read_to_string(path).map_err(|err| {
        ConfigError::new(NATS_CREDS_FILE, format!("cannot be read: {}", err.kind()))
    })?;
    let mut blocks = decorated_blocks(&content);
    let (Some(jwt), Some(seed)) = (blocks.next(), blocks.next()) else {
        return Err(ConfigError::new(
            NATS_CREDS_FILE,
            "is not a NATS credentials file (a user JWT, then its seed)",
        ));
    };
    if jwt.split('.').count() != 3 {
        return Err(ConfigError::new(
            NATS_CREDS_FILE,
            "holds no user JWT (header.claims.signature)",
        ));
    }
    Ok(NatsAuth::Credentials {
        jwt: jwt.to_owned(),
        key: Arc::new(user_key_pair(seed, NATS_CREDS_FILE)?),
    })
}

/// The single lines framed by `-----BEGIN ...-----` and `------END ...------` lines.
fn decorated_blocks(content: &str) -> impl Iterator<Item = &str> {
    let lines: Vec<&str> = content.lines().map(str::trim).collect();
    let mut found = Vec::new();
    for window in lines.windows(3) {
        if window[0].starts_with("---") && window[0].contains("BEGIN") && window[2].contains("END")
        {
            found.push(window[1]);
        }
    }
    found.into_iter()
}

/// The key pair of a user seed; anything else is an error naming `variable`.
fn user_key_pair(seed: &str, variable: &str) -> Result<KeyPair, ConfigError> {
    match KeyPair::from_seed(seed) {
        Ok(pair) if pair.key_pair_type() == KeyPairType::User => Ok(pair),
        Ok(_) => Err(ConfigError::new(
            variable,
            "holds an NKey seed that is not a user's (it must start with SU)",
        )),
        Err(_) => Err(ConfigError::new(variable, "holds no valid user NKey seed")),
    }
}

fn tls(s: &NatsCredentialSettings, scheme_tls: bool) -> Result<NatsTls, ConfigError> {
    let ca_file = s.nats_tls_ca_file.clone();
    let client = pair(
        (NATS_TLS_CERT_FILE, s.nats_tls_cert_file.clone()),
        (NATS_TLS_KEY_FILE, s.nats_tls_key_file.clone()),
    )?;
    let tls = NatsTls {
        required: scheme_tls || ca_file.is_some() || client.is_some(),
        ca_file,
        client,
    };
    check_tls_files(&tls)?;
    Ok(tls)
}

/// Loads the files as the client will at each connection, so that a bad one stops the start.
fn check_tls_files(tls: &NatsTls) -> Result<(), ConfigError> {
    let mut roots = RootCertStore::empty();
    if let Some(ca) = &tls.ca_file {
        let certificates =
            pem_certificates(ca).map_err(|reason| ConfigError::new(NATS_TLS_CA_FILE, reason))?;
        for certificate in certificates {
            roots.add(certificate).map_err(|_| {
                ConfigError::new(
                    NATS_TLS_CA_FILE,
                    "holds a certificate that is not a valid CA",
                )
            })?;
        }
    }
    let Some((cert, key)) = &tls.client else {
        return Ok(());
    };
    let chain =
        pem_certificates(cert).map_err(|reason| ConfigError::new(NATS_TLS_CERT_FILE, reason))?;
    let key_pem =
        std::fs::read(key).map_err(|_| ConfigError::new(NATS_TLS_KEY_FILE, "cannot be read"))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| ConfigError::new(NATS_TLS_KEY_FILE, "holds no valid PEM private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| ConfigError::new(NATS_TLS_CERT_FILE, "cannot be used with the TLS provider"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|_| {
            ConfigError::new(
                NATS_TLS_KEY_FILE,
                "does not match NATS_TLS_CERT_FILE or is not a supported key",
            )
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)], url: &str) -> Result<NatsSettings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |k: &str| map.get(k).cloned();
        NatsSettings::from_env(&Env::new(&lookup), url)
    }

    fn failing(vars: &[(&str, &str)]) -> Option<String> {
        settings(vars, "nats://nats:4222").err().map(|e| e.variable)
    }

    /// A directory of its own for a test's files.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nats-{name}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir
    }

    #[test]
    fn each_kind_is_read_and_none_is_the_default() -> Result<(), ConfigError> {
        let none = settings(&[], "nats://nats:4222")?;
        assert!(matches!(none.auth, NatsAuth::None));
        assert!(!none.tls.required);
        let token = settings(&[(NATS_TOKEN, "t0ken-hunter2")], "nats://nats:4222")?;
        assert!(matches!(token.auth, NatsAuth::Token { .. }));
        let user = settings(
            &[(NATS_USER, "auth"), (NATS_PASSWORD, "hunter2")],
            "nats://nats:4222",
        )?;
        assert!(matches!(user.auth, NatsAuth::UserPassword { .. }));
        let seed = KeyPair::new_user().seed().unwrap_or_default();
        let nkey = settings(&[(NATS_NKEY_SEED, &seed)], "nats://nats:4222")?;
        assert!(matches!(nkey.auth, NatsAuth::NKey { .. }));
        assert!(settings(&[], "tls://nats:4222")?.tls.required);
        Ok(())
    }

    #[test]
    fn no_secret_shows_in_debug_or_in_an_error() {
        let seed = KeyPair::new_user().seed().unwrap_or_default();
        for vars in [
            vec![(NATS_USER, "auth"), (NATS_PASSWORD, "hunter2")],
            vec![(NATS_TOKEN, "hunter2")],
            vec![(NATS_NKEY_SEED, seed.as_str())],
        ] {
            let shown = format!("{:?}", settings(&vars, "nats://nats:4222"));
            assert!(
                !shown.contains("hunter2") && !shown.contains(&seed),
                "{shown}"
            );
        }
        let err = settings(&[(NATS_NKEY_SEED, "SUhunter2")], "nats://nats:4222").err();
        assert_eq!(
            err.as_ref().map(|e| e.variable.as_str()),
            Some(NATS_NKEY_SEED)
        );
        assert!(err.is_some_and(|e| !e.to_string().contains("hunter2")));
    }

    #[test]
    fn two_ways_to_authenticate_or_half_a_pair_name_the_variables() {
        let both = settings(
            &[(NATS_TOKEN, "t"), (NATS_USER, "u"), (NATS_PASSWORD, "p")],
            "nats://nats:4222",
        )
        .err();
        assert_eq!(both.as_ref().map(|e| e.variable.as_str()), Some(NATS_USER));
        assert!(both.is_some_and(|e| e.reason.contains(NATS_TOKEN)));
        assert_eq!(failing(&[(NATS_USER, "u")]), Some(NATS_PASSWORD.into()));
        assert_eq!(failing(&[(NATS_PASSWORD, "p")]), Some(NATS_USER.into()));
        let account_seed = KeyPair::new_account().seed().unwrap_or_default();
        assert_eq!(
            failing(&[(NATS_NKEY_SEED, &account_seed)]),
            Some(NATS_NKEY_SEED.into())
        );
        assert_eq!(
            failing(&[(NATS_TLS_CERT_FILE, "/x.pem")]),
            Some(NATS_TLS_KEY_FILE.into())
        );
        assert_eq!(
            failing(&[(NATS_TLS_KEY_FILE, "/x.key")]),
            Some(NATS_TLS_CERT_FILE.into())
        );
    }

    #[test]
    fn files_are_checked_at_start() -> Result<(), ConfigError> {
        let dir = temp_dir("files");
        let missing = dir.join("missing").display().to_string();
        let junk = dir.join("junk");
        std::fs::write(&junk, "not pem, not creds\n").map_err(|_| ConfigError::new("t", "w"))?;
        let junk = junk.display().to_string();
        for variable in [NATS_CREDS_FILE, NATS_TLS_CA_FILE] {
            assert_eq!(failing(&[(variable, &missing)]), Some(variable.into()));
            assert_eq!(failing(&[(variable, &junk)]), Some(variable.into()));
        }
        assert_eq!(
            failing(&[(NATS_TLS_CERT_FILE, &junk), (NATS_TLS_KEY_FILE, &junk)]),
            Some(NATS_TLS_CERT_FILE.into())
        );

        let user = KeyPair::new_user();
        let creds = dir.join("user.creds");
        let content = format!(
            "-----BEGIN NATS USER JWT-----\na.b.c\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed().unwrap_or_default()
        );
        std::fs::write(&creds, content).map_err(|_| ConfigError::new("t", "w"))?;
        let read = settings(
            &[(NATS_CREDS_FILE, &creds.display().to_string())],
            "nats://nats:4222",
        )?;
        match read.auth {
            NatsAuth::Credentials { jwt, key } => {
                assert_eq!(jwt, "a.b.c");
                assert_eq!(key.public_key(), user.public_key());
            }
            other => panic!("read as {other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
