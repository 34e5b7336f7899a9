//! The example clients in `examples/` run the whole flow against a real issuer.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::harness::spawn_issuer;

/// What each client prints, in order, for a successful run.
const EXPECTED_LINES: [&str; 8] = [
    "register: 201 user_id=",
    "login: 200 token_type=bearer expires_in=86400",
    "me: 200 email=",
    "refresh: 200 expires_in=86400",
    "logout: 200 Logged out; the session is revoked.",
    "refresh after logout: 401 INVALID_TOKEN",
    "me after logout: 401 INVALID_TOKEN",
    "flow complete",
];

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// Runs `program script` with `ISSUER_URL` set, off the async runtime.
async fn run(program: &'static str, script: &str, issuer_url: String) -> Output {
    let script = example(script);
    let available = Command::new(program).arg("--version").output();
    assert!(
        available.is_ok_and(|out| out.status.success()),
        "`{program}` is not on the PATH: the example client tests need it (Debian: apt-get install python3 nodejs)"
    );
    tokio::task::spawn_blocking(move || {
        Command::new(program)
            .arg(&script)
            .env("ISSUER_URL", issuer_url)
            .env_remove("EMAIL")
            .env_remove("PASSWORD")
            // urllib honours proxy variables even for 127.0.0.1.
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY")
            .output()
    })
    .await
    .unwrap_or_else(|err| panic!("{program} did not finish: {err}"))
    .unwrap_or_else(|err| panic!("{program} did not start: {err}"))
}

#[track_caller]
fn assert_flow(program: &str, output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} exited with {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let steps: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(steps.len(), EXPECTED_LINES.len(), "{program}:\n{stdout}");
    for (line, expected) in steps.iter().zip(EXPECTED_LINES) {
        assert!(
            line.starts_with(expected),
            "{program}: expected a line starting with {expected:?}, got {line:?}\n{stdout}"
        );
    }
    assert!(
        stdout.starts_with("issuer: http://"),
        "{program}:\n{stdout}"
    );
}

#[tokio::test]
async fn the_python_client_runs_the_whole_flow() {
    let app = spawn_issuer().await;
    let output = run("python3", "client.py", format!("http://{}", app.addr)).await;
    assert_flow("python3", &output);
    // The flow really happened: one user, one session, revoked.
    let revoked: i64 = app
        .db
        .query_one(
            "SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap_or_else(|err| panic!("sessions: {err}"))
        .get(0);
    assert_eq!(revoked, 1);
}

#[tokio::test]
async fn the_node_client_runs_the_whole_flow() {
    let app = spawn_issuer().await;
    let output = run("node", "client.mjs", format!("http://{}", app.addr)).await;
    assert_flow("node", &output);
    let revoked: i64 = app
        .db
        .query_one(
            "SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap_or_else(|err| panic!("sessions: {err}"))
        .get(0);
    assert_eq!(revoked, 1);
}

#[tokio::test]
async fn the_clients_exit_non_zero_on_an_unexpected_status() {
    let app = spawn_issuer_with_verified_email_required().await;
    for (program, script) in [("python3", "client.py"), ("node", "client.mjs")] {
        let output = run(program, script, format!("http://{}", app.addr)).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{program}: {stderr}");
        assert!(
            stderr.contains("login: expected 200, got 403")
                && stderr.contains("EMAIL_NOT_VERIFIED"),
            "{program}: {stderr}"
        );
    }
}

async fn spawn_issuer_with_verified_email_required() -> crate::harness::TestIssuer {
    crate::harness::spawn_issuer_with(|env| {
        env.insert("REQUIRE_VERIFIED_EMAIL".into(), "true".into());
    })
    .await
}
