//! The mailer's command line as a container runs it: `help`, `--version`, `check-config`, a bad
//! configuration under `serve`, `healthcheck` against a running mailer whose stream does not
//! exist yet (alive, not ready), and SIGTERM.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure};
use test_support::binary::{self, run};

const PASSWORD: &str = "smtp-pa55word-that-must-not-show";

/// The settings every run needs, without a login.
const BASE: &[(&str, &str)] = &[
    ("SMTP_URL", "smtp://127.0.0.1:2525"),
    ("MAIL_FROM", "Accounts <no-reply@example.com>"),
    (
        "VERIFY_EMAIL_URL",
        "https://app.example.com/verify?token={token}",
    ),
    (
        "RESET_PASSWORD_URL",
        "https://app.example.com/reset#token={token}",
    ),
];

fn mailer(extra: &[(&str, &str)]) -> Command {
    let env: Vec<(&str, &str)> = BASE.iter().chain(extra).copied().collect();
    binary::command(env!("CARGO_BIN_EXE_mailer"), &env)
}

#[test]
fn help_lists_every_command_and_every_variable_the_mailer_reads() -> anyhow::Result<()> {
    let commands = ["serve", "check-config", "healthcheck", "--version"];
    let absent = ["JWT_SECRET_KEY", "DATABASE_URL", "VERIFIER_ADDR"];
    binary::help_lists::<mailer::config::MailerConfig>(
        env!("CARGO_BIN_EXE_mailer"),
        &commands,
        &absent,
    )?;
    let out = run(binary::command(env!("CARGO_BIN_EXE_mailer"), &[]).arg("--version"))?;
    ensure!(
        out.code == Some(0) && out.stdout.trim() == format!("mailer {}", env!("CARGO_PKG_VERSION"))
    );
    Ok(())
}

#[test]
fn check_config_reads_the_password_file_and_prints_no_password() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("mailer-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("smtp_password");
    std::fs::write(&file, format!("{PASSWORD}\n"))?;
    let path = file.to_string_lossy().into_owned();
    let out = run(mailer(&[
        ("SMTP_URL", "smtps://mail.example.com"),
        ("SMTP_USERNAME", "accounts"),
        ("SMTP_PASSWORD_FILE", path.as_str()),
        ("MAILER_ADDR", "127.0.0.1:9002"),
        ("NATS_URL", "nats://events:nats-s3cret@nats:4222"),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://otel:otel-s3cret@collector:4318",
        ),
    ])
    .arg("check-config"))?;
    let _ = std::fs::remove_dir_all(&dir);
    let expected = [
        "MAILER_ADDR = 127.0.0.1:9002",
        "SMTP_PASSWORD = (set)",
        "smtp: smtps://mail.example.com, security: implicit TLS, login: yes",
        "nats://***@nats:4222",
        "consumer mailer",
        "https://app.example.com/verify?token={token}",
        "traces: OTLP/HTTP to https://collector:4318/v1/traces, 0 header(s)",
    ];
    binary::config_ok(&out, &expected, &[PASSWORD, "nats-s3cret", "otel-s3cret"])
}

#[test]
fn a_bad_setting_stops_serve_and_check_config_with_64_naming_it() -> anyhow::Result<()> {
    for (name, value) in [
        ("VERIFY_EMAIL_URL", "https://app.example.com/verify"),
        ("SMTP_URL", "smtp://mailer:hunter2-pw@mail:25?tls=sometimes"),
        ("MAIL_FROM", "nobody"),
    ] {
        for command in ["serve", "check-config"] {
            let out = run(mailer(&[(name, value), ("MAILER_ADDR", "127.0.0.1:0")]).arg(command))?;
            ensure!(
                out.code == Some(64),
                "{command} {name}={value}: {:?}",
                out.code
            );
            let line = out.stderr.trim();
            ensure!(
                line.starts_with("invalid configuration:") && line.contains(name),
                "{command}: {line}"
            );
            ensure!(!line.contains("hunter2"), "{line}");
        }
    }
    let out = run(binary::command(env!("CARGO_BIN_EXE_mailer"), &[]).arg("check-config"))?;
    // Nothing set: the first required setting it reads is named.
    ensure!(
        out.code == Some(64) && out.stderr.contains("MAIL_FROM is required"),
        "{}",
        out.stderr
    );
    Ok(())
}

#[test]
fn a_mailer_without_its_stream_is_alive_but_not_ready() -> anyhow::Result<()> {
    let nats = std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let stream = format!("MAILER_CLI_{}", std::process::id());
    let mut command = mailer(&[
        ("MAILER_ADDR", "127.0.0.1:0"),
        ("NATS_URL", nats.as_str()),
        ("NATS_STREAM", stream.as_str()),
    ]);
    let (mut child, addr) =
        binary::listening(&mut command, "mailer listening").map_err(|err| anyhow!(err))?;
    let addr_text = addr.to_string();
    let probe = |flag: &str| {
        run(mailer(&[("MAILER_ADDR", addr_text.as_str())]).args(["healthcheck", flag]))
    };
    let live = probe("--live");
    let ready = probe("--ready");
    let body = binary::send(&addr_text, "GET", "/health/ready", &[], b"");
    // SIGTERM: it stops following, drains and exits 0 within its grace period.
    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    ensure!(terminated.is_ok_and(|s| s.success()), "kill -TERM failed");
    ensure!(exit.is_some_and(|s| s.success()), "after SIGTERM: {exit:?}");
    let (live, ready) = (live?, ready?);
    ensure!(live.code == Some(0), "live: {}", live.stderr);
    ensure!(
        ready.code == Some(1),
        "ready: {} {}",
        ready.stdout,
        ready.stderr
    );
    ensure!(
        body.status == 503 && body.body.contains("not_ready"),
        "{}",
        body.body
    );
    // Nothing listens once it is gone.
    let gone = run(mailer(&[("MAILER_ADDR", addr_text.as_str())]).args(["healthcheck", "--live"]))?;
    ensure!(gone.code == Some(1), "{}", gone.stdout);
    Ok(())
}
