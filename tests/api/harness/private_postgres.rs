//! A Postgres of the test's own that speaks TLS only, with a CA and a server certificate the
//! test makes: `initdb` into a temporary directory, `ssl=on`, and a pg_hba that accepts TCP
//! over TLS (`hostssl`) and rejects it otherwise (`host … reject`). Run as the `postgres` user
//! (initdb refuses root); stopped and removed on drop.

use std::path::PathBuf;
use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

const BIN: &str = "/usr/lib/postgresql/15/bin";
const OS_USER: &str = "postgres";

pub struct PrivatePostgres {
    dir: PathBuf,
    pub port: u16,
}

/// A certificate authority: its certificate as PEM, and what it needs to sign.
pub struct TestCa {
    pub pem: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            cert,
            key,
        }
    }

    /// A server certificate for `names` (host names or IP addresses) and its key, as PEM.
    pub fn issue(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.cert, &self.key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn as_postgres(program: &str) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", OS_USER, "--", &format!("{BIN}/{program}")]);
    command
}

impl PrivatePostgres {
    /// Started with a certificate for `127.0.0.1` and `localhost` issued by `ca`, and ready.
    pub fn start(ca: &TestCa) -> PrivatePostgres {
        PrivatePostgres::start_as(ca, &["127.0.0.1", "localhost"])
    }

    /// Started with a certificate for `names` only issued by `ca` (reached on 127.0.0.1).
    pub fn start_as(ca: &TestCa, names: &[&str]) -> PrivatePostgres {
        let dir = std::env::temp_dir().join(format!("pg-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = ca.issue(names);
        std::fs::write(dir.join("server.crt"), cert).unwrap();
        std::fs::write(dir.join("server.key"), key).unwrap();
        let data = dir.join("data");
        let port = test_support::net::free_port();
        let server = PrivatePostgres { dir, port };
        run(Command::new("chown")
            .args(["-R", &format!("{OS_USER}:{OS_USER}")])
            .arg(&server.dir));
        run(Command::new("chmod")
            .arg("0600")
            .arg(server.dir.join("server.key")));
        run(as_postgres("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data));
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             host all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        let options = format!(
            "-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c ssl=on \
             -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key",
            dir = server.dir.display()
        );
        run(as_postgres("pg_ctl")
            .args(["-w", "-t", "120", "-l"])
            .arg(server.dir.join("log"))
            .args(["-o", &options, "-D"])
            .arg(&data)
            .arg("start"));
        server
    }

    /// A postgres:// URL to a database of this server, with `query` appended.
    pub fn url(&self, database: &str, query: &str) -> String {
        format!(
            "postgres://postgres:not-a-real-password@127.0.0.1:{}/{database}?{query}",
            self.port
        )
    }

    /// A file in this server's directory (readable by root, which runs the tests).
    pub fn write(&self, name: &str, contents: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_string_lossy().into_owned()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl")
            .args(["-m", "immediate", "-t", "30", "-D"])
            .arg(self.dir.join("data"))
            .arg("stop")
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
