//! LOG_FORMAT as an operator sets it on the verifier binary: `json` gives one JSON object per
//! stdout line; a value it does not know stops the process with one line naming it.

// Test code: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

#[path = "../../tests/support/binary.rs"]
mod binary;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const KEY: &str = "binary-test-secret-0123456789abcdef0123";

fn verifier(env: &[(&str, &str)]) -> Command {
    binary::command(env!("CARGO_BIN_EXE_verifier"), env)
}

fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

#[test]
fn an_unknown_log_format_stops_the_verifier_with_one_line_naming_it() {
    let output = verifier(&[("JWT_SECRET_KEY", KEY), ("LOG_FORMAT", "yaml")])
        .output()
        .expect("verifier runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.contains("LOG_FORMAT"), "stderr: {stderr}");
}

#[test]
fn with_log_format_json_every_stdout_line_is_a_json_object() {
    let nats = nats_url();
    let mut child = verifier(&[
        ("JWT_SECRET_KEY", KEY),
        ("VERIFIER_ADDR", "127.0.0.1:0"),
        ("NATS_URL", &nats),
        ("NATS_STREAM", &format!("LOGFMT_{}", std::process::id())),
        ("LOG_FORMAT", "json"),
        ("LOG_LEVEL", "debug"),
        ("SHUTDOWN_GRACE_SECONDS", "1"),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("verifier starts");
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("stdout piped");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |message: &str| -> serde_json::Value {
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no log line with message {message:?}; saw {seen:#?}"));
            let parsed: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
            seen.push(line);
            if parsed["fields"]["message"] == message {
                return parsed;
            }
        }
    };

    let listening = wait_for("verifier listening");
    let addr = listening["fields"]["addr"]
        .as_str()
        .expect("the address is a field of the line")
        .to_owned();
    let mut stream = TcpStream::connect(&addr).expect("connect");
    write!(
        stream,
        "GET /nowhere HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    assert!(response.starts_with("HTTP/1.1 404"), "response: {response}");
    let completed = wait_for("request completed");
    assert_eq!(completed["level"], "INFO", "{completed}");
    assert_eq!(completed["span"]["path"], "/nowhere", "{completed}");
    assert_eq!(completed["span"]["route"], "unknown", "{completed}");
    assert_eq!(completed["span"]["status"], 404, "{completed}");
    assert!(completed["timestamp"].is_string(), "{completed}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("verifier exits");
    assert!(exit.success(), "exit: {exit:?}");
    reader.join().expect("stdout reader");
    // Every line the process wrote, to its last, is an object with a level and a message.
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(!rest.is_empty(), "the shutdown lines are missing");
    for line in seen.iter().chain(&rest) {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
        assert!(parsed["level"].is_string(), "{line}");
        assert!(parsed["fields"].is_object(), "{line}");
        assert!(parsed["fields"]["message"].is_string(), "{line}");
    }
}
