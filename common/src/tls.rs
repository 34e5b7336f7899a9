//! HTTPS: the rustls server configuration built from `TLS_CERT_FILE` / `TLS_KEY_FILE`, and the
//! client `healthcheck` uses to reach that server.
//!
//! rustls with the ring provider, TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme,
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The certificate chain and private key to serve HTTPS with (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: std::path::PathBuf,
    pub key_file: std::path::PathBuf,
}

/// What is wrong with one of the two files; the configuration names its variable. The key's
/// contents never appear in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsError {
    Cert(&'static str),
    Key(&'static str),
}

/// Reads and checks the certificate chain and key; an unreadable or invalid file is an error
/// naming its variable (the key's contents never appear in it).
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let chain = certificate_chain(files)?;
    let key_pem = std::fs::read(&files.key_file).map_err(|_| TlsError::Key("cannot be read"))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| TlsError::Key("holds no valid PEM private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| TlsError::Cert("cannot be used with the TLS provider"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|_| TlsError::Key("does not match the certificate or is not a supported key"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A client for the server that serves `files`: it trusts exactly the first certificate of
/// `TLS_CERT_FILE`, whatever names it carries and whoever issued it, and speaks HTTP/1.1.
/// This is what lets `healthcheck` reach `127.0.0.1` behind a certificate made out to a public
/// name, without trusting anything else.
pub fn pinned_connector(files: &TlsFiles) -> Result<TlsConnector, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinnedCertificate {
        certificate: certificate_chain(files)?.swap_remove(0),
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| TlsError::Cert("cannot be used with the TLS provider"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The PEM chain in `TLS_CERT_FILE`, end-entity certificate first; never empty.
fn certificate_chain(files: &TlsFiles) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    pem_certificates(&files.cert_file).map_err(TlsError::Cert)
}

/// The PEM certificates in `path`, in order; never empty. The error is the reason alone.
pub(crate) fn pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, &'static str> {
    let pem = std::fs::read(path).map_err(|_| "cannot be read")?;
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|_| "is not a valid PEM certificate file")?;
    if certificates.is_empty() {
        return Err("holds no PEM certificate");
    }
    Ok(certificates)
}

/// Accepts a server whose end-entity certificate is byte-for-byte `certificate`, and checks
/// that the server holds its private key (the handshake signature) as any client does. Names,
/// issuer and validity dates are not looked at: the certificate is trusted because it is ours.
#[derive(Debug)]
struct PinnedCertificate {
    certificate: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.certificate.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
