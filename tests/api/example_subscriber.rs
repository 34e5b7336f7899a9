//! `examples/event_subscriber.rs` (an example of this package) run against a real issuer: the
//! links it prints carry tokens the issuer accepts.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::harness::{eventually, spawn_issuer, unique_email, TestIssuer, PASSWORD};

const WAIT: Duration = Duration::from_secs(60);
const VERIFY_URL: &str = "https://app.example/verify-email";
const RESET_URL: &str = "https://app.example/reset-password";

fn build_example() -> PathBuf {
    crate::harness::binaries::cargo_built(
        &["-p", "auth-service-tests", "--example", "event_subscriber"],
        "examples/event_subscriber",
    )
}

/// The running subscriber and every line it printed; killed on drop.
struct Subscriber {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Subscriber {
    fn start(binary: &PathBuf, issuer: &TestIssuer) -> Subscriber {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .envs(issuer.nats.env())
            .env("CONSUMER_NAME", "test-mailer")
            .env("VERIFY_URL", VERIFY_URL)
            .env("RESET_URL", RESET_URL)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("{}: {err}", binary.display()));
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        if let Some(stdout) = child.stdout.take() {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Ok(mut all) = lines.lock() {
                        all.push(line);
                    }
                }
            });
        }
        Subscriber { child, lines }
    }

    /// The first line that starts with `prefix`, waiting up to `WAIT` for it.
    async fn line_starting(&self, prefix: &str) -> String {
        let find = || {
            self.lines
                .lock()
                .ok()
                .and_then(|all| all.iter().find(|l| l.starts_with(prefix)).cloned())
        };
        let printed = eventually(WAIT, || async { find().is_some() }).await;
        let all = self.lines.lock().map(|l| l.join("\n")).unwrap_or_default();
        assert!(printed, "no line starting {prefix:?}; it printed:\n{all}");
        find().unwrap_or_default()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `token` query parameter of the link in `line`.
fn token_in(line: &str) -> String {
    line.split("?token=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned()
}

/// Fails if the example no longer reads the issuer's stream and prefix, no longer prints the
/// links (or prints them for the wrong address or with another base URL), or takes the tokens
/// from the wrong fields: the issuer would refuse them.
#[tokio::test]
async fn the_example_subscriber_prints_working_verification_and_reset_links() {
    let binary = tokio::task::spawn_blocking(build_example)
        .await
        .unwrap_or_else(|err| panic!("build: {err}"));
    let issuer = spawn_issuer().await;
    let subscriber = Subscriber::start(&binary, &issuer);
    let email = unique_email();
    issuer.register(&email, PASSWORD).await.assert_success(201);

    let verify = subscriber
        .line_starting(&format!(
            "  mail to {email}: confirm your address at {VERIFY_URL}?token="
        ))
        .await;
    let token = token_in(&verify);
    assert_eq!(token, issuer.verification_token(&email).await);
    issuer.verify_email(&token).await.assert_success(200);

    issuer
        .post(
            "/api/v1/auth/password-reset/request",
            json!({ "email": email }),
        )
        .await
        .assert_success(202);
    let reset = subscriber
        .line_starting(&format!(
            "  mail to {email}: choose a new password at {RESET_URL}?token="
        ))
        .await;
    assert!(reset.contains(" (until "), "{reset}");
    let new_password = "Another-Horse-7";
    issuer
        .post(
            "/api/v1/auth/password-reset/confirm",
            json!({
                "token": token_in(&reset),
                "password": new_password,
                "password_confirmation": new_password,
            }),
        )
        .await
        .assert_success(200);
    issuer.login(&email, new_password).await.assert_success(200);
}
