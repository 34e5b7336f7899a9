//! Binaries of the workspace, built on demand for tests that run them as processes
//! (`cargo test --test api` alone builds neither other packages' binaries nor examples), and
//! the services started from them as an operator starts them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};

use test_support::accounts::CHEAP_ARGON2;
use test_support::binary::{command, listening};
use test_support::database::database_url;
use test_support::nats::NatsSettings;

use super::SECRET;

/// Runs `cargo build --quiet <args>` (a no-op when up to date) and returns `relative` under
/// the target's `debug/` directory, the one this test binary's `deps/` sits in.
pub fn cargo_built(args: &[&str], relative: &str) -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap_or_else(|err| panic!("cargo build {args:?}: {err}"));
    assert!(status.success(), "cargo build {args:?} failed");
    let exe = std::env::current_exe().unwrap_or_else(|err| panic!("current exe: {err}"));
    let debug = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap_or_else(|| panic!("no target directory above {}", exe.display()));
    debug.join(relative)
}

/// A service binary of the workspace (`issuer` or `verifier`), built on a blocking thread so
/// that the test's runtime keeps serving; its path.
pub async fn service_binary(name: &'static str) -> String {
    tokio::task::spawn_blocking(move || cargo_built(&["-p", name, "--bin", name], name))
        .await
        .unwrap_or_else(|err| panic!("build {name}: {err}"))
        .to_string_lossy()
        .into_owned()
}

/// A service binary running as a process, at the address its `<name> listening` line gave;
/// killed on drop.
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the `name` service's `binary` with only `env` and waits for its listening line.
pub fn start_service(binary: &str, name: &str, env: &[(String, String)]) -> Running {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (child, addr) = listening(&mut command(binary, &env), &format!("{name} listening"))
        .unwrap_or_else(|err| panic!("the {name} binary: {err}"));
    Running { child, addr }
}

/// The environment of an issuer binary on `database` and `nats`'s stream: the tests' secret,
/// any free port and cheap argon2 settings.
pub fn issuer_env(database: &str, nats: &NatsSettings) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> =
        [("JWT_SECRET_KEY", SECRET), ("ISSUER_ADDR", "127.0.0.1:0")]
            .iter()
            .chain(&CHEAP_ARGON2)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    env.push(("DATABASE_URL".into(), database_url(database)));
    env.extend(nats.env());
    env
}
