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

use percent_encoding::percent_decode_str;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::{self, WebPkiSupportedAlgorithms};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};
use PostgresError::{CaFile, Url};

/// The connector every connection to Postgres goes through (unused with `sslmode=disable`).
pub type Tls = MakeRustlsConnect;

/// Where Postgres is and how to talk to it.
#[derive(Clone)]
pub struct Postgres {
    pub config: tokio_postgres::Config,
    pub tls: Tls,
}

/// The connection settings (tokio-postgres shows no password); the TLS set-up has no fields
/// worth showing.
impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Which input to fix, and why; the configuration names its variable. Never holds the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostgresError {
    /// The URL: its form, its `sslmode`, or the CA file its `sslrootcert` names.
    Url(String),
    /// The CA file given beside the URL (`DATABASE_CA_FILE`).
    CaFile(String),
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndHost,
}

/// The URL (with its `sslmode` and `sslrootcert`) and the CA file given beside it, checked.
pub fn postgres(url: &str, ca_file: Option<&Path>) -> Result<Postgres, PostgresError> {
    let (rest, mode, root_cert) = take_ssl_params(url);
    let invalid = |_| Url("is not a valid postgres:// URL".to_owned());
    let mut config: tokio_postgres::Config = rest.parse().map_err(invalid)?;
    // A CA that cannot be used is blamed on the input that named it.
    let (ca, blame): (_, fn(String) -> PostgresError) = match (root_cert, ca_file) {
        (Some(path), _) => (Some(PathBuf::from(path)), Url),
        (None, Some(path)) => (Some(path.to_owned()), CaFile),
        (None, None) => (None, Url),
    };
    let (ssl_mode, check) = ssl_mode(mode.as_deref(), ca.is_some())?;
    config.ssl_mode(ssl_mode);
    let roots = ca.as_deref().map(read_roots).transpose().map_err(blame)?;
    let chain = roots.filter(|_| check != Check::Nothing);
    let tls = connector(chain, check == Check::ChainAndHost)
        .map_err(|err| blame(format!("cannot set up TLS: {err}")))?;
    Ok(Postgres { config, tls })
}

/// libpq's `sslmode` (unset: `prefer`), with or without a CA, in tokio-postgres's terms.
fn ssl_mode(mode: Option<&str>, ca: bool) -> Result<(SslMode, Check), PostgresError> {
    match (mode.unwrap_or("prefer"), ca) {
        ("disable", _) => Ok((SslMode::Disable, Check::Nothing)),
        ("prefer", _) => Ok((SslMode::Prefer, Check::Nothing)),
        ("require", false) => Ok((SslMode::Require, Check::Nothing)),
        ("require" | "verify-ca", true) => Ok((SslMode::Require, Check::Chain)),
        ("verify-full", true) => Ok((SslMode::Require, Check::ChainAndHost)),
        (mode @ ("verify-ca" | "verify-full"), false) => Err(Url(format!(
            "sslmode={mode} needs a CA certificate: sslrootcert= in DATABASE_URL or \
             DATABASE_CA_FILE"
        ))),
        _ => Err(Url(
            "sslmode must be disable, prefer, require, verify-ca or verify-full".to_owned(),
        )),
    }
}

/// The URL without `sslmode` and `sslrootcert`, and their (percent-decoded) values. Both the
/// `postgres://…?key=value&…` and the `key=value key=value` forms.
fn take_ssl_params(url: &str) -> (String, Option<String>, Option<String>) {
    let uri = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (base, params, separator) = match url.split_once('?') {
        _ if !uri => (None, url, " "),
        Some((base, query)) => (Some(base), query, "&"),
        None => return (url.to_owned(), None, None),
    };
    let (mut mode, mut root_cert, mut kept) = (None, None, vec![]);
    for pair in params.split(separator) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = match uri {
            true => (key, percent_decode_str(value).decode_utf8_lossy()),
            false => (key.trim(), value.trim().into()),
        };
        match key {
            "sslmode" => mode = Some(value.into_owned()),
            "sslrootcert" => root_cert = Some(value.into_owned()),
            _ => kept.push(pair),
        }
    }
    let rest = match base {
        Some(base) if kept.is_empty() => base.to_owned(),
        Some(base) => format!("{base}?{}", kept.join("&")),
        None => kept.join(" "),
    };
    (rest, mode, root_cert)
}

/// The certificates of the PEM file at `path`, at least one.
fn read_roots(path: &Path) -> Result<RootCertStore, String> {
    let fail = |why: String| format!("the CA file {} {why}", path.display());
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path);
    for cert in certs.map_err(|e| fail(format!("cannot be read: {e}")))? {
        let cert = cert.map_err(|e| fail(format!("is not PEM: {e}")))?;
        (roots.add(cert)).map_err(|e| fail(format!("holds an unusable certificate: {e}")))?;
    }
    match roots.is_empty() {
        true => Err(fail("holds no certificate".to_owned())),
        false => Ok(roots),
    }
}

/// A connector checking the chain against `chain` (`None`: no check), and the host if `host`.
fn connector(chain: Option<RootCertStore>, host: bool) -> Result<Tls, Error> {
    let provider = Arc::new(crypto::ring::default_provider());
    let chain = chain.map(|roots| {
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| Error::General(e.to_string()))
    });
    let verifier = Arc::new(Verifier {
        chain: chain.transpose()?,
        host,
        algorithms: provider.signature_verification_algorithms,
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
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
    algorithms: WebPkiSupportedAlgorithms,
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
        crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_params_are_taken_out_of_both_url_forms() {
        // The URL left, `sslmode`, `sslrootcert` (`-`: absent).
        let taken = |url: &str| {
            let (rest, mode, root) = take_ssl_params(url);
            [rest, mode.unwrap_or("-".into()), root.unwrap_or("-".into())]
        };
        let urls = [
            "postgres://u:p@h/db?sslmode=verify-full&options=x&sslrootcert=%2Fca.pem",
            "postgres://h/db?sslmode=require",
            "postgresql://h/db",
            "host=h user=u sslmode=verify-ca sslrootcert=/ca.pem dbname=d",
        ];
        let expected = [
            ["postgres://u:p@h/db?options=x", "verify-full", "/ca.pem"],
            ["postgres://h/db", "require", "-"],
            ["postgresql://h/db", "-", "-"],
            ["host=h user=u dbname=d", "verify-ca", "/ca.pem"],
        ];
        assert_eq!(urls.map(taken), expected);
    }

    #[test]
    fn each_sslmode_maps_as_libpq_means_it() {
        use {Check::*, SslMode::*};
        for (mode, ca, expected) in [
            (None, false, (Prefer, Nothing)),
            (Some("prefer"), true, (Prefer, Nothing)),
            (Some("disable"), true, (Disable, Nothing)),
            (Some("require"), false, (Require, Nothing)),
            (Some("require"), true, (Require, Chain)),
            (Some("verify-ca"), true, (Require, Chain)),
            (Some("verify-full"), true, (Require, ChainAndHost)),
        ] {
            assert_eq!(ssl_mode(mode, ca), Ok(expected), "{mode:?}, a CA: {ca}");
        }
        let mode = |url: &str| postgres(url, None).unwrap().config.get_ssl_mode();
        assert_eq!(mode("postgres://h/db?sslmode=disable"), Disable);
        assert_eq!(mode("host=h sslmode=require"), Require);
    }

    #[test]
    fn errors_name_the_input_to_fix_and_hide_the_password() {
        let error = |url: &str, ca_file: Option<&str>| {
            let err = postgres(url, ca_file.map(Path::new)).err();
            assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
            err
        };
        let full = "postgres://u:hunter2@h/db?sslmode=verify-full";
        let (bad_port, bad_mode) = ("postgres://u:hunter2@h:x/db", format!("{full}x"));
        let (beside, in_url) = (Some("/nonexistent/ca.pem"), "/nonexistent/in-url.pem");
        let named = format!("{full}&sslrootcert={in_url}");
        assert!(matches!(error(full, None), Some(Url(why)) if why.contains("DATABASE_CA_FILE")));
        assert!(matches!(error(&bad_mode, None), Some(Url(why)) if why.contains("sslmode")));
        assert!(matches!(error(bad_port, None), Some(Url(why)) if why.contains("URL")));
        assert!(matches!(error(full, beside), Some(CaFile(why)) if why.contains("ca.pem cannot")));
        assert!(matches!(error(&named, beside), Some(Url(why)) if why.contains(in_url)));
    }
}
