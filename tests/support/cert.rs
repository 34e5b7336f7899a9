//! A self-signed certificate and its key written to their own directory, for binary tests
//! that serve HTTPS. Shared by the issuer's and the verifier's binary tests through `#[path]`.

#![allow(dead_code)]

use std::path::PathBuf;

use anyhow::Context;

/// `cert.pem` and `key.pem` in a fresh temporary directory, removed on drop.
pub struct TestCert {
    dir: PathBuf,
    cert_file: String,
    key_file: String,
}

impl TestCert {
    /// A certificate made out to `names` only.
    pub fn new(names: &[&str]) -> anyhow::Result<TestCert> {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let generated = rcgen::generate_simple_self_signed(names).context("certificate")?;
        let dir = std::env::temp_dir().join(format!("auth-cli-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).context("certificate directory")?;
        let cert = TestCert {
            cert_file: dir.join("cert.pem").to_string_lossy().into_owned(),
            key_file: dir.join("key.pem").to_string_lossy().into_owned(),
            dir,
        };
        std::fs::write(&cert.cert_file, generated.cert.pem())?;
        std::fs::write(&cert.key_file, generated.key_pair.serialize_pem())?;
        Ok(cert)
    }

    /// `TLS_CERT_FILE` and `TLS_KEY_FILE` for this certificate.
    pub fn env(&self) -> [(&'static str, &str); 2] {
        [
            ("TLS_CERT_FILE", self.cert_file.as_str()),
            ("TLS_KEY_FILE", self.key_file.as_str()),
        ]
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
