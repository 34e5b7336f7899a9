//! A self-signed certificate and its key written to a directory of their own, for services
//! that serve HTTPS, and a client that trusts that certificate only.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

/// `cert.pem` and `key.pem` in a fresh temporary directory, removed on drop.
pub struct TestCert {
    dir: PathBuf,
    cert_file: String,
    key_file: String,
    pem: String,
    der: Vec<u8>,
}

impl TestCert {
    /// A certificate made out to `names` only (host names or IP addresses).
    pub fn new(names: &[&str]) -> anyhow::Result<TestCert> {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let generated = rcgen::generate_simple_self_signed(names).context("certificate")?;
        let dir = std::env::temp_dir().join(format!("auth-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).context("certificate directory")?;
        let cert = TestCert {
            cert_file: dir.join("cert.pem").to_string_lossy().into_owned(),
            key_file: dir.join("key.pem").to_string_lossy().into_owned(),
            dir,
            pem: generated.cert.pem(),
            der: generated.cert.der().to_vec(),
        };
        std::fs::write(&cert.cert_file, &cert.pem).context("cert.pem")?;
        std::fs::write(&cert.key_file, generated.key_pair.serialize_pem()).context("key.pem")?;
        Ok(cert)
    }

    /// A certificate for `localhost` and `127.0.0.1`, as the tests reach a service.
    pub fn localhost() -> TestCert {
        TestCert::new(&["localhost", "127.0.0.1"]).unwrap_or_else(|err| panic!("{err:#}"))
    }

    /// `TLS_CERT_FILE` and `TLS_KEY_FILE` for this certificate.
    pub fn env(&self) -> [(&'static str, &str); 2] {
        [
            ("TLS_CERT_FILE", self.cert_file.as_str()),
            ("TLS_KEY_FILE", self.key_file.as_str()),
        ]
    }

    /// A file named `name` in this certificate's directory (which need not exist).
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// The certificate in DER, for a TLS client's roots.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// A client that trusts this certificate only and reaches `localhost` at `addr`.
    pub fn client(&self, addr: SocketAddr) -> reqwest::Client {
        let root = reqwest::Certificate::from_pem(self.pem.as_bytes())
            .unwrap_or_else(|err| panic!("root: {err}"));
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(root)
            .resolve("localhost", addr)
            .build()
            .unwrap_or_else(|err| panic!("client: {err}"))
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
