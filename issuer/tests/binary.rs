//! The issuer binary as an operator runs it: configuration errors, and SIGTERM or SIGINT
//! (Ctrl-C) while busy.

// Test code: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use test_support::accounts::{register_body, PASSWORD};
use test_support::binary;
use test_support::database::{database_url, database_url_via, drop_database, psql, unique_name};

const KEY: &str = "binary-test-secret-0123456789abcdef0123";

fn issuer(env: &[(&str, &str)]) -> Command {
    binary::command(env!("CARGO_BIN_EXE_issuer"), env)
}

/// Runs the issuer with a bad setting: exit code 64 and one line on stderr naming the
/// variable, never its value.
fn refuses(env: &[(&str, &str)], variable: &str, secrets: &[&str]) {
    if let Err(err) = binary::refuses(&mut issuer(env), variable, secrets) {
        panic!("{err}");
    }
}

#[test]
fn bad_configuration_stops_the_issuer_with_one_line_naming_the_variable() {
    refuses(&[], "JWT_SECRET_KEY", &[]);
    refuses(
        &[("JWT_SECRET_KEY", "too-short-secret")],
        "JWT_SECRET_KEY",
        &["too-short-secret"],
    );
    refuses(
        &[("JWT_SECRET_KEY", KEY), ("JWT_ALGORITHM", "none")],
        "JWT_ALGORITHM",
        &[KEY],
    );
    refuses(
        &[("JWT_SECRET_KEY", KEY), ("DATABASE_POOL_SIZE", "many")],
        "DATABASE_POOL_SIZE",
        &[KEY],
    );
    refuses(
        &[("JWT_SECRET_KEY", KEY), ("PASSWORD_POLICY", "strong")],
        "PASSWORD_POLICY",
        &[KEY],
    );
    refuses(
        &[("JWT_SECRET_KEY", KEY), ("ISSUER_ADDR", "localhost")],
        "ISSUER_ADDR",
        &[KEY],
    );
    refuses(
        &[("JWT_SECRET_KEY", KEY), ("DATABASE_URL", "mysql://x")],
        "DATABASE_URL",
        &[KEY],
    );
    refuses(
        &[("JWT_SECRET_KEY", KEY), ("REFRESH_TOKEN_ROTATION", "maybe")],
        "REFRESH_TOKEN_ROTATION",
        &[KEY],
    );
    // A TLS file is checked before the database is touched (nothing listens at port 9), with
    // the exit code check-config gives it.
    refuses(
        &[
            ("JWT_SECRET_KEY", KEY),
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:9/auth"),
            ("TLS_CERT_FILE", "/nonexistent/cert.pem"),
            ("TLS_KEY_FILE", "/nonexistent/key.pem"),
        ],
        "TLS_CERT_FILE",
        &[KEY],
    );
}

#[test]
fn migrate_creates_the_database_and_its_tables_then_exits() {
    let database = unique_name();
    let url = database_url(&database);
    let output = issuer(&[("JWT_SECRET_KEY", KEY), ("DATABASE_URL", &url)])
        .arg("migrate")
        .output()
        .expect("issuer runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tables = psql(
        &database,
        "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name <> 'refinery_schema_history'",
    );
    drop_database(&database);
    assert_eq!(
        tables,
        "email_verification_tokens,login_failures,login_known_addresses,outbox,password_reset_tokens,sessions,users"
    );
}

#[test]
fn an_unknown_command_prints_usage() {
    let output = issuer(&[]).arg("frobnicate").output().expect("issuer runs");
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage: issuer"));
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_then_exits_cleanly() {
    signal_lets_the_request_in_flight_finish("TERM");
}

#[test]
fn sigint_lets_the_request_in_flight_finish_then_exits_cleanly() {
    signal_lets_the_request_in_flight_finish("INT");
}

/// Starts the issuer, sends a registration that takes a while to hash, delivers `SIG<signal>`
/// once the request has been received, and expects its 201, then a clean exit after the drain.
fn signal_lets_the_request_in_flight_finish(signal: &str) {
    let database = unique_name();
    let url = database_url(&database);
    let mut command = issuer(&[
        ("JWT_SECRET_KEY", KEY),
        ("DATABASE_URL", &url),
        ("ISSUER_ADDR", "127.0.0.1:0"),
        ("LOG_LEVEL", "debug"),
        // Nothing listens there: the issuer must start and serve with NATS unreachable.
        ("NATS_URL", "nats://127.0.0.1:9"),
        // Slow hashing keeps the registration in flight while the signal arrives.
        ("ARGON2_ITERATIONS", "40"),
    ]);
    let mut issuer = binary::Logged::spawn(command.stderr(Stdio::null())).expect("issuer starts");
    let wait = Duration::from_secs(30);
    let addr = issuer
        .address("issuer listening", wait)
        .unwrap_or_else(|err| panic!("{err}"));

    let body = register_body("drain@example.com", PASSWORD).to_string();
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "POST /api/v1/auth/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send request");
    issuer
        .wait_for("request received", wait)
        .unwrap_or_else(|err| panic!("{err}"));
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &issuer.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    issuer
        .wait_for(&format!("SIG{signal} received"), wait)
        .unwrap_or_else(|err| panic!("{err}"));

    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    assert!(response.starts_with("HTTP/1.1 201"), "response: {response}");
    let exit = issuer.child.wait().expect("issuer exits");
    assert!(exit.success(), "exit: {exit:?}");
    issuer
        .wait_for("all connections drained", wait)
        .unwrap_or_else(|err| panic!("{err}"));

    drop_database(&database);
}

/// A TCP proxy to `upstream` that closes every connection until it is opened.
struct GatedProxy {
    addr: String,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl GatedProxy {
    fn closed(upstream: String) -> GatedProxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy binds");
        let addr = listener.local_addr().expect("proxy address").to_string();
        let open = std::sync::Arc::new(AtomicBool::new(false));
        let gate = std::sync::Arc::clone(&open);
        std::thread::spawn(move || {
            for inbound in listener.incoming().map_while(Result::ok) {
                if !gate.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let Ok(outbound) = TcpStream::connect(&upstream) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (inbound.try_clone(), outbound.try_clone()),
                    (outbound.try_clone(), inbound.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| a.ok().zip(b.ok()))
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        GatedProxy { addr, open }
    }

    fn open(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn started_while_postgres_is_down_it_serves_health_and_opens_the_api_once_postgres_appears() {
    let database = unique_name();
    let (_, server) = database_url_via(&database, None);
    let proxy = GatedProxy::closed(server);
    let (url, _) = database_url_via(&database, Some(&proxy.addr));
    let mut command = issuer(&[
        ("JWT_SECRET_KEY", KEY),
        ("DATABASE_URL", &url),
        ("ISSUER_ADDR", "127.0.0.1:0"),
        ("NATS_URL", "nats://127.0.0.1:9"),
    ]);
    let mut issuer = binary::Logged::spawn(command.stderr(Stdio::null())).expect("issuer starts");
    let wait = Duration::from_secs(60);
    let mut wait_for = |needle: &str| {
        issuer
            .wait_for(needle, wait)
            .unwrap_or_else(|err| panic!("{err}"))
    };
    wait_for("database not ready");
    let addr = issuer
        .address("issuer listening", wait)
        .unwrap_or_else(|err| panic!("{err}"))
        .to_string();
    let register = |email: &str| {
        let body = register_body(email, PASSWORD).to_string();
        binary::send(
            &addr,
            "POST",
            "/api/v1/auth/register",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    };

    // Alive, and the API says "not yet" rather than failing.
    assert_eq!(
        binary::send(&addr, "GET", "/health/live", &[], b"").status,
        200
    );
    let early = register("early@example.com");
    assert_eq!(early.status, 503, "{}", early.body);
    assert!(early.body.contains("SERVICE_UNAVAILABLE"), "{}", early.body);

    proxy.open();
    issuer
        .wait_for("database ready", wait)
        .unwrap_or_else(|err| panic!("{err}"));
    let late = register("late@example.com");
    assert_eq!(late.status, 201, "{}", late.body);

    issuer.kill();
    drop_database(&database);
}

#[test]
fn secrets_are_read_from_files_and_never_shown() {
    let dir = std::env::temp_dir().join(format!("issuer-secret-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let key_file = dir.join("jwt");
    std::fs::write(&key_file, format!("{KEY}\n")).expect("write key");
    let url_file = dir.join("db");
    std::fs::write(
        &url_file,
        "postgres://app:db-password-42@db.internal/auth\n",
    )
    .expect("write url");
    let (key_path, url_path) = (
        key_file.display().to_string(),
        url_file.display().to_string(),
    );

    let output = issuer(&[
        ("JWT_SECRET_KEY_FILE", key_path.as_str()),
        ("DATABASE_URL_FILE", url_path.as_str()),
    ])
    .arg("check-config")
    .output()
    .expect("issuer runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("db.internal"), "{stdout}");
    assert!(
        !stdout.contains(KEY) && !stdout.contains("db-password-42"),
        "{stdout}"
    );

    // Both ways at once, or a file that cannot be read: one line naming the variable.
    refuses(
        &[
            ("JWT_SECRET_KEY_FILE", key_path.as_str()),
            ("JWT_SECRET_KEY", KEY),
        ],
        "JWT_SECRET_KEY",
        &[KEY],
    );
    refuses(
        &[
            ("JWT_SECRET_KEY", KEY),
            ("DATABASE_URL_FILE", "/nonexistent/db-url"),
        ],
        "DATABASE_URL_FILE",
        &[KEY],
    );
    let _ = std::fs::remove_dir_all(&dir);
}
