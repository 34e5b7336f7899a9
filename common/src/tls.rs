//! HTTPS: the rustls server configuration built from `TLS_CERT_FILE` / `TLS_KEY_FILE`.
//!
//! rustls with the ring provider, TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`.

use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::config::ConfigError;
use crate::limits::{TlsFiles, TLS_CERT_FILE, TLS_KEY_FILE};

/// Reads and checks the certificate chain and key; an unreadable or invalid file is an error
/// naming its variable (the key's contents never appear in it).
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ConfigError> {
    let cert_pem = std::fs::read(&files.cert_file)
        .map_err(|_| ConfigError::new(TLS_CERT_FILE, "cannot be read"))?;
    let key_pem = std::fs::read(&files.key_file)
        .map_err(|_| ConfigError::new(TLS_KEY_FILE, "cannot be read"))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| ConfigError::new(TLS_CERT_FILE, "is not a valid PEM certificate chain"))?;
    if chain.is_empty() {
        return Err(ConfigError::new(TLS_CERT_FILE, "holds no PEM certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| ConfigError::new(TLS_KEY_FILE, "holds no valid PEM private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| ConfigError::new(TLS_CERT_FILE, "cannot be used with the TLS provider"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|_| {
            ConfigError::new(
                TLS_KEY_FILE,
                "does not match the certificate or is not a supported key",
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
