//! TLS to Postgres with libpq's meanings of `sslmode`, over rustls.
//!
//! tokio-postgres knows `sslmode=disable|prefer|require` only and nothing of certificates, so
//! `sslmode` and `sslrootcert` are taken out of `DATABASE_URL` here, before tokio-postgres reads
//! it, and turned into its `SslMode` plus a certificate check:
//!
//! | `sslmode`        | encrypted             | certificate checked                           |
//! |------------------|-----------------------|-----------------------------------------------|
//! | `disable`        | never                 | -                                             |
//! | `prefer` (unset) | when the server can   | no                                            |
//! | `require`        | always                | no; with a CA given, as `verify-ca`           |
//! | `verify-ca`      | always                | chain against the CA                          |
//! | `verify-full`    | always                | chain against the CA, and the host name       |
//!
//! The CA is a PEM file named by `sslrootcert=` in the URL, else by `DATABASE_CA_FILE`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::settings::ConfigError;
use percent_encoding::percent_decode_str;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};

use crate::config::{DATABASE_CA_FILE, DATABASE_URL};

/// The connector every connection to Postgres goes through (unused with `sslmode=disable`).
pub type Tls = MakeRustlsConnect;

/// Where Postgres is and how to talk to it.
#[derive(Clone)]
pub struct Postgres {
    pub config: tokio_postgres::Config,
    pub tls: Tls,
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndHost,
}

/// `DATABASE_URL` (with its `sslmode` and `sslrootcert`) and `DATABASE_CA_FILE`, checked;
/// errors name the variable to fix and never repeat the URL (it may hold a password).
pub fn postgres(url: &str, ca_file: Option<&Path>) -> Result<Postgres, ConfigError> {
    let (rest, mode, root_cert) = take_ssl_params(url);
    let mut config: tokio_postgres::Config = rest
        .parse()
        .map_err(|_| ConfigError::new(DATABASE_URL, "is not a valid postgres:// URL"))?;
    let ca = match (root_cert, ca_file) {
        (Some(path), _) => Some((PathBuf::from(path), DATABASE_URL)),
        (None, Some(path)) => Some((path.to_owned(), DATABASE_CA_FILE)),
        (None, None) => None,
    };
    let (ssl_mode, check) = match (mode.as_deref(), ca.is_some()) {
        (Some("disable"), _) => (SslMode::Disable, Check::Nothing),
        (None | Some("prefer"), _) => (SslMode::Prefer, Check::Nothing),
        (Some("require"), false) => (SslMode::Require, Check::Nothing),
        (Some("require" | "verify-ca"), true) => (SslMode::Require, Check::Chain),
        (Some("verify-full"), true) => (SslMode::Require, Check::ChainAndHost),
        (Some("verify-ca" | "verify-full"), false) => {
            return Err(ConfigError::new(
                DATABASE_URL,
                format!(
                    "sslmode={} needs a CA certificate: sslrootcert= in {DATABASE_URL} or \
                     {DATABASE_CA_FILE}",
                    mode.as_deref().unwrap_or_default()
                ),
            ))
        }
        (Some(_), _) => {
            return Err(ConfigError::new(
                DATABASE_URL,
                "sslmode must be disable, prefer, require, verify-ca or verify-full",
            ))
        }
    };
    config.ssl_mode(ssl_mode);
    let roots = (ca
        .as_ref()
        .map(|(path, variable)| read_roots(path, variable)))
    .transpose()?;
    let tls = connector(check, roots).map_err(|err| {
        let variable = ca.as_ref().map_or(DATABASE_URL, |(_, variable)| *variable);
        ConfigError::new(variable, format!("cannot set up TLS: {err}"))
    })?;
    Ok(Postgres { config, tls })
}

/// The URL without `sslmode` and `sslrootcert`, and their (percent-decoded) values. Both the
/// `postgres://…?key=value&…` and the `key=value key=value` forms.
fn take_ssl_params(url: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root_cert) = (None, None);
    let uri = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (base, params) = match url.split_once('?') {
        Some((base, query)) if uri => (base, query),
        _ if uri => return (url.to_owned(), None, None),
        _ => ("", url),
    };
    let separator = if uri { "&" } else { " " };
    let kept: Vec<&str> = (params.split(separator))
        .filter(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = match uri {
                true => (key, percent_decode_str(value).decode_utf8_lossy()),
                false => (key.trim(), value.trim().into()),
            };
            match key {
                "sslmode" => mode = Some(value.into_owned()),
                "sslrootcert" => root_cert = Some(value.into_owned()),
                _ => return true,
            }
            false
        })
        .collect();
    let rest = match (uri, kept.is_empty()) {
        (true, true) => base.to_owned(),
        (true, false) => format!("{base}?{}", kept.join("&")),
        (false, _) => kept.join(" "),
    };
    (rest, mode, root_cert)
}

fn read_roots(path: &Path, variable: &str) -> Result<RootCertStore, ConfigError> {
    let unreadable = |reason: String| {
        ConfigError::new(variable, format!("the CA file {} {reason}", path.display()))
    };
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| unreadable(format!("cannot be read: {err}")))?;
    for cert in certs {
        let cert = cert.map_err(|err| unreadable(format!("is not PEM: {err}")))?;
        roots
            .add(cert)
            .map_err(|err| unreadable(format!("holds an unusable certificate: {err}")))?;
    }
    if roots.is_empty() {
        return Err(unreadable("holds no certificate".to_owned()));
    }
    Ok(roots)
}

fn connector(check: Check, roots: Option<RootCertStore>) -> Result<Tls, Error> {
    let provider = Arc::new(crypto::ring::default_provider());
    let chain = match (check, roots) {
        (Check::Nothing, _) | (_, None) => None,
        (_, Some(roots)) => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|err| Error::General(err.to_string()))?,
        ),
    };
    let verifier = Verifier {
        chain,
        host: check == Check::ChainAndHost,
        provider: Arc::clone(&provider),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The server's certificate checked as far as `sslmode` asks; the handshake's signatures are
/// checked in every mode.
#[derive(Debug)]
struct Verifier {
    /// The chain's check against the CA; `None` (`prefer`, `require` without a CA): the
    /// certificate is taken as it comes, libpq's meaning.
    chain: Option<Arc<WebPkiServerVerifier>>,
    /// Whether the name in the certificate must match the host (`verify-full`).
    host: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        // webpki checks the chain first, so a wrong name means the chain was fine.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.host => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let algorithms = &self.provider.signature_verification_algorithms;
        algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_params_are_taken_out_of_both_url_forms() {
        let (rest, mode, root) = take_ssl_params(
            "postgres://u:p@h:5432/db?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
        );
        assert_eq!(rest, "postgres://u:p@h:5432/db?application_name=x");
        assert_eq!(mode.as_deref(), Some("verify-full"));
        assert_eq!(root.as_deref(), Some("/etc/ca.pem"));

        let (rest, mode, root) = take_ssl_params("postgres://h/db?sslmode=require");
        assert_eq!(
            (rest.as_str(), mode.as_deref(), root),
            ("postgres://h/db", Some("require"), None)
        );

        let (rest, mode, root) =
            take_ssl_params("host=h user=u sslmode=verify-ca sslrootcert=/ca.pem dbname=d");
        assert_eq!(rest, "host=h user=u dbname=d");
        assert_eq!(mode.as_deref(), Some("verify-ca"));
        assert_eq!(root.as_deref(), Some("/ca.pem"));
    }

    fn reason(url: &str, ca: Option<&Path>) -> (String, String) {
        match postgres(url, ca) {
            Ok(_) => panic!("accepted {url}"),
            Err(err) => (err.variable.clone(), err.to_string()),
        }
    }

    #[test]
    fn modes_map_to_tokio_postgres_and_bad_settings_name_their_variable() {
        let mode = |url: &str| postgres(url, None).unwrap().config.get_ssl_mode();
        assert_eq!(mode("postgres://h/db"), SslMode::Prefer);
        assert_eq!(mode("postgres://h/db?sslmode=disable"), SslMode::Disable);
        assert_eq!(mode("postgres://h/db?sslmode=require"), SslMode::Require);

        let (variable, shown) = reason("postgres://u:hunter2@h/db?sslmode=verify-full", None);
        assert_eq!(variable, DATABASE_URL);
        assert!(shown.contains("DATABASE_CA_FILE"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");

        let (variable, _) = reason("postgres://u:hunter2@h/db?sslmode=allow", None);
        assert_eq!(variable, DATABASE_URL);

        let missing = Path::new("/nonexistent/ca.pem");
        let (variable, shown) = reason(
            "postgres://u:hunter2@h/db?sslmode=verify-full",
            Some(missing),
        );
        assert_eq!(variable, DATABASE_CA_FILE);
        assert!(!shown.contains("hunter2"), "{shown}");

        let (variable, _) = reason(
            "postgres://u:hunter2@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            None,
        );
        assert_eq!(variable, DATABASE_URL);
    }
}
