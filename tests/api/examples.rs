//! The example clients in `examples/` run the whole flow against a real issuer.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::harness::{spawn_issuer, TestIssuer};

/// What each client prints, in order, for a successful run.
const EXPECTED_LINES: [&str; 14] = [
    "register: 201 user_id=",
    "login: 200 token_type=bearer expires_in=86400",
    "me: 200 email=",
    "refresh: 200 expires_in=86400",
    "logout: 200 Logged out; the session is revoked.",
    "refresh after logout: 401 INVALID_TOKEN",
    "me after logout: 401 INVALID_TOKEN",
    "login again: 200",
    "password change: 200 Password changed.",
    "login with the changed password: 200",
    RESET_REQUESTED,
    "password reset confirm: 200 user_id=",
    "login with the reset password: 200",
    "flow complete",
];

/// The line after which a client reads the reset token from stdin.
const RESET_REQUESTED: &str = "password reset request: 202 ";

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

/// Runs `program script` against `app` as a user would: when the client has asked for a password
/// reset, the token the mailer received (from the outbox or the stream) is typed on its stdin.
async fn run_with_reset_token(program: &'static str, script: &str, app: &TestIssuer) -> Output {
    let script = example(script);
    let mut child = Command::new(program)
        .arg(&script)
        .env("ISSUER_URL", format!("http://{}", app.addr))
        .env_remove("EMAIL")
        .env_remove("PASSWORD")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("{program} did not start: {err}"));
    let stdout = child
        .stdout
        .take()
        .unwrap_or_else(|| panic!("{program}: no stdout"));
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    while let Some(line) = lines.recv().await {
        let asked = line.starts_with(RESET_REQUESTED);
        printed.push(line);
        if asked {
            let email: String = app
                .db
                .query_one(
                    "SELECT email FROM users ORDER BY created_at DESC LIMIT 1",
                    &[],
                )
                .await
                .unwrap_or_else(|err| panic!("users: {err}"))
                .get(0);
            let token = crate::passwords::reset_token(app, &email, 1).await;
            let mut stdin = child
                .stdin
                .take()
                .unwrap_or_else(|| panic!("{program}: no stdin"));
            writeln!(stdin, "{token}").unwrap_or_else(|err| panic!("{program} stdin: {err}"));
        }
    }
    let _ = reader.join();
    let mut output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap_or_else(|err| panic!("{program} did not finish: {err}"))
        .unwrap_or_else(|err| panic!("{program} did not finish: {err}"));
    output.stdout = printed.join("\n").into_bytes();
    output.stdout.push(b'\n');
    output
}

/// `(revoked_reason)` of every revoked session, oldest first.
async fn revoked_reasons(app: &TestIssuer) -> Vec<String> {
    app.db
        .query(
            "SELECT revoked_reason FROM sessions WHERE revoked_at IS NOT NULL \
             ORDER BY revoked_at, created_at",
            &[],
        )
        .await
        .unwrap_or_else(|err| panic!("sessions: {err}"))
        .iter()
        .map(|row| row.get::<_, Option<String>>(0).unwrap_or_default())
        .collect()
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

/// The flow really happened: the logged-out session, then the two sessions the reset ended
/// (the change kept its caller's); the last login's session is live.
async fn assert_sessions(app: &TestIssuer) {
    assert_eq!(
        revoked_reasons(app).await,
        ["logout", "password_reset", "password_reset"]
    );
    let changed: Vec<String> = app
        .events("user.password_changed")
        .await
        .iter()
        .map(|e| e["data"]["via"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(changed, ["change", "reset"]);
}

#[tokio::test]
async fn the_python_client_runs_the_whole_flow() {
    let app = spawn_issuer().await;
    let output = run_with_reset_token("python3", "client.py", &app).await;
    assert_flow("python3", &output);
    assert_sessions(&app).await;
}

#[tokio::test]
async fn the_node_client_runs_the_whole_flow() {
    let app = spawn_issuer().await;
    let output = run_with_reset_token("node", "client.mjs", &app).await;
    assert_flow("node", &output);
    assert_sessions(&app).await;
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
