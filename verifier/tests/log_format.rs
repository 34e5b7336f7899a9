//! LOG_FORMAT as an operator sets it on the verifier binary: `json` gives one JSON object per
//! stdout line; a value it does not know stops the process with one line naming it.

// Test code: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::{Command, Stdio};

use test_support::binary::{self, send, START_WAIT};
use test_support::nats::NatsSettings;

const KEY: &str = "binary-test-secret-0123456789abcdef0123";

fn verifier(env: &[(&str, &str)]) -> Command {
    binary::command(env!("CARGO_BIN_EXE_verifier"), env)
}

#[test]
fn an_unknown_log_format_stops_the_verifier_with_one_line_naming_it() {
    let mut command = verifier(&[("JWT_SECRET_KEY", KEY), ("LOG_FORMAT", "yaml")]);
    if let Err(err) = binary::refuses(&mut command, "LOG_FORMAT", &[KEY]) {
        panic!("{err}");
    }
}

#[test]
fn with_log_format_json_every_stdout_line_is_a_json_object() {
    let nats = NatsSettings::unique();
    let mut env = vec![
        ("JWT_SECRET_KEY", KEY),
        ("VERIFIER_ADDR", "127.0.0.1:0"),
        ("LOG_FORMAT", "json"),
        ("LOG_LEVEL", "debug"),
        ("SHUTDOWN_GRACE_SECONDS", "1"),
    ];
    env.extend(nats.vars());
    let mut command = verifier(&env);
    let mut child = binary::Logged::spawn(command.stderr(Stdio::null())).expect("verifier starts");
    // The next line whose message is `message`, as JSON.
    let mut wait_for = |message: &str| -> serde_json::Value {
        let line = child
            .wait_for(&format!(r#""message":"{message}""#), START_WAIT)
            .unwrap_or_else(|err| panic!("{err}"));
        serde_json::from_str(&line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
    };

    let listening = wait_for("verifier listening");
    let addr = listening["fields"]["addr"]
        .as_str()
        .expect("the address is a field of the line")
        .to_owned();
    let reply = send(&addr, "GET", "/nowhere", &[], b"");
    assert_eq!(reply.status, 404, "{}", reply.body);
    let completed = wait_for("request completed");
    assert_eq!(completed["level"], "INFO", "{completed}");
    assert_eq!(completed["span"]["path"], "/nowhere", "{completed}");
    assert_eq!(completed["span"]["route"], "unknown", "{completed}");
    assert_eq!(completed["span"]["status"], 404, "{completed}");
    assert!(completed["timestamp"].is_string(), "{completed}");

    let before_shutdown = child.seen.len();
    assert!(child.terminate(), "the verifier did not exit cleanly");
    assert!(
        child.seen.len() > before_shutdown,
        "the shutdown lines are missing"
    );
    // Every line the process wrote, to its last, is an object with a level and a message.
    for line in child.seen.lines() {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"));
        assert!(parsed["level"].is_string(), "{line}");
        assert!(parsed["fields"].is_object(), "{line}");
        assert!(parsed["fields"]["message"].is_string(), "{line}");
    }
}
