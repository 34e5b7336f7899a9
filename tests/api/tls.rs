//! HTTPS: both services with a certificate made here, reqwest trusting only that certificate;
//! ALPN; plain HTTP and silent clients on the TLS port; bad TLS settings refused at start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use test_support::cert::TestCert;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::harness::{spawn_issuer_with, spawn_verifier_with};
use crate::raw_http::Conn;

/// `TLS_CERT_FILE` and `TLS_KEY_FILE` for `cert`, and a handshake timeout short enough for a
/// silent client's test.
fn served_env(cert: &TestCert) -> Vec<(String, String)> {
    let mut env = owned_env(cert);
    env.push(("TLS_HANDSHAKE_TIMEOUT_SECONDS".into(), "1".into()));
    env
}

/// `cert`'s TLS settings, for a service's environment map.
pub(crate) fn owned_env(cert: &TestCert) -> Vec<(String, String)> {
    cert.env()
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn https(addr: SocketAddr, path: &str) -> String {
    format!("https://localhost:{}{path}", addr.port())
}

/// A round trip each way: `/health` and an error envelope from validate-token.
async fn assert_round_trip(client: &reqwest::Client, addr: SocketAddr, service: &str) {
    let response = client
        .get(https(addr, "/health"))
        .send()
        .await
        .unwrap_or_else(|err| panic!("{service} over HTTPS: {err:?}"));
    assert_eq!(response.status(), 200, "{service}");
    let response = client
        .post(https(addr, "/api/v1/auth/validate-token"))
        .json(&serde_json::json!({"token": "not-a-token"}))
        .send()
        .await
        .unwrap_or_else(|err| panic!("{service} over HTTPS: {err:?}"));
    assert_eq!(response.status(), 401, "{service}");
    assert_eq!(
        response
            .headers()
            .get("x-content-type-options")
            .map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "INVALID_TOKEN", "{service}");
}

/// A TLS connection to `addr` that trusts `cert` only and offers `alpn`; the handshake's
/// error if it fails.
pub(crate) async fn tls_connect(
    cert: &TestCert,
    addr: SocketAddr,
    alpn: &[&[u8]],
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(cert.der().to_vec()))
        .unwrap_or_else(|err| panic!("root: {err}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|err| panic!("{err}"))
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap_or_else(|err| panic!("{err}"));
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// The protocol the server picks when offered h2 and http/1.1.
async fn negotiated_alpn(cert: &TestCert, addr: SocketAddr) -> Option<Vec<u8>> {
    let tls = tls_connect(cert, addr, &[b"h2", b"http/1.1"])
        .await
        .unwrap_or_else(|err| panic!("handshake: {err}"));
    tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
}

/// Plain HTTP and a silent client on the TLS port: each is closed, and HTTPS still works.
async fn assert_hostile_clients_are_shrugged_off(
    cert: &TestCert,
    client: &reqwest::Client,
    addr: SocketAddr,
    service: &str,
) {
    let mut conn = Conn::open(addr).await;
    conn.send(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(
        conn.closed_within(Duration::from_secs(30)).await,
        "{service}: plain HTTP on the TLS port was not closed"
    );
    assert!(
        conn.response().await.is_none(),
        "{service}: plain HTTP got an HTTP answer"
    );

    let mut silent = Conn::open(addr).await;
    let started = Instant::now();
    assert!(
        silent.closed_within(Duration::from_secs(4)).await,
        "{service}: a client that never said hello stayed connected"
    );
    assert!(started.elapsed() >= Duration::from_millis(800), "{service}");

    assert_eq!(
        negotiated_alpn(cert, addr).await.as_deref(),
        Some(&b"h2"[..])
    );
    assert_round_trip(client, addr, service).await;
}

#[tokio::test]
async fn the_issuer_serves_https_and_survives_hostile_clients() {
    let cert = TestCert::localhost();
    let env = served_env(&cert);
    let issuer = spawn_issuer_with(move |vars| vars.extend(env)).await;
    let client = cert.client(issuer.addr);
    assert_round_trip(&client, issuer.addr, "issuer").await;
    assert_hostile_clients_are_shrugged_off(&cert, &client, issuer.addr, "issuer").await;

    // Plain HTTP clients get nothing from it.
    let plain = reqwest::get(issuer.url("/health")).await;
    assert!(plain.is_err());
}

#[tokio::test]
async fn the_verifier_serves_https_and_survives_hostile_clients() {
    let cert = TestCert::localhost();
    let env = served_env(&cert);
    let verifier = spawn_verifier_with(move |vars| vars.extend(env)).await;
    let client = cert.client(verifier.addr);
    assert_round_trip(&client, verifier.addr, "verifier").await;
    assert_hostile_clients_are_shrugged_off(&cert, &client, verifier.addr, "verifier").await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_cannot_connect() {
    let cert = TestCert::localhost();
    let env = served_env(&cert);
    let verifier = spawn_verifier_with(move |vars| vars.extend(env)).await;
    let stranger = TestCert::localhost();
    let result = stranger
        .client(verifier.addr)
        .get(https(verifier.addr, "/health"))
        .send()
        .await;
    // The handshake fails on the certificate, not on anything else.
    let error = format!("{:?}", result.err());
    assert!(
        error.contains("InvalidCertificate"),
        "not refused for its certificate: {error}"
    );
    assert_round_trip(&cert.client(verifier.addr), verifier.addr, "verifier").await;
}

/// The error a verifier built with `vars` stops with (config or start), as one line.
async fn start_error(vars: Vec<(&str, String)>) -> String {
    let lookup = move |name: &str| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
            .or_else(|| match name {
                "JWT_SECRET_KEY" => Some(crate::harness::SECRET.to_owned()),
                "VERIFIER_ADDR" => Some("127.0.0.1:0".to_owned()),
                "NATS_URL" => Some(crate::harness::nats_url()),
                _ => None,
            })
    };
    let config = match verifier::config::VerifierConfig::from_lookup(&lookup) {
        Ok(config) => config,
        Err(err) => return err.to_string(),
    };
    match verifier::app::App::build(config).await {
        Ok(_) => String::new(),
        Err(err) => format!("{err:#}"),
    }
}

#[tokio::test]
async fn bad_tls_settings_stop_the_service_naming_the_variable() {
    let cert = TestCert::localhost();
    let other = TestCert::localhost();
    std::fs::write(cert.path("garbage.pem"), "not a pem file")
        .unwrap_or_else(|err| panic!("{err}"));
    let cases = [
        (
            vec![("TLS_CERT_FILE", cert.path("cert.pem"))],
            "TLS_KEY_FILE",
        ),
        (
            vec![("TLS_KEY_FILE", cert.path("key.pem"))],
            "TLS_CERT_FILE",
        ),
        (
            vec![
                ("TLS_CERT_FILE", cert.path("missing.pem")),
                ("TLS_KEY_FILE", cert.path("key.pem")),
            ],
            "TLS_CERT_FILE",
        ),
        (
            vec![
                ("TLS_CERT_FILE", cert.path("cert.pem")),
                ("TLS_KEY_FILE", cert.path("missing.pem")),
            ],
            "TLS_KEY_FILE",
        ),
        (
            vec![
                ("TLS_CERT_FILE", cert.path("garbage.pem")),
                ("TLS_KEY_FILE", cert.path("key.pem")),
            ],
            "TLS_CERT_FILE",
        ),
        (
            vec![
                ("TLS_CERT_FILE", cert.path("cert.pem")),
                ("TLS_KEY_FILE", cert.path("garbage.pem")),
            ],
            "TLS_KEY_FILE",
        ),
        (
            // A key that is not the certificate's.
            vec![
                ("TLS_CERT_FILE", cert.path("cert.pem")),
                ("TLS_KEY_FILE", other.path("key.pem")),
            ],
            "TLS_KEY_FILE",
        ),
        (
            vec![("TLS_HANDSHAKE_TIMEOUT_SECONDS", "0".to_owned())],
            "TLS_HANDSHAKE_TIMEOUT_SECONDS",
        ),
    ];
    for (vars, variable) in cases {
        let shown = format!("{vars:?}");
        let error = start_error(vars).await;
        assert!(
            error.contains(variable),
            "{shown}: expected an error naming {variable}, got {error:?}"
        );
        assert!(!error.contains("PRIVATE KEY"), "{error}");
    }
}
