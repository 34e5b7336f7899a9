//! The verifier's operator commands as a container runs them: `help`, `check-config` and
//! `healthcheck`.

use std::net::SocketAddr;
use std::process::{Child, Command};

use anyhow::{anyhow, ensure};
use test_support::binary::{self, run};
use test_support::cert::TestCert;

const KEY: &str = "verifier-cli-secret-0123456789abcdef0123";
const OTHER_KEY: &str = "verifier-cli-other-secret-0123456789abcd";

fn verifier(env: &[(&str, &str)]) -> Command {
    binary::command(env!("CARGO_BIN_EXE_verifier"), env)
}

#[test]
fn help_lists_every_command_and_every_variable_with_its_default() -> anyhow::Result<()> {
    let commands = ["serve", "check-config", "healthcheck"];
    binary::help_lists::<verifier::config::VerifierConfig>(
        env!("CARGO_BIN_EXE_verifier"),
        &commands,
        &["DATABASE_URL"],
    )
}

#[test]
fn check_config_accepts_a_good_configuration_without_printing_keys() -> anyhow::Result<()> {
    let keys = format!("old={OTHER_KEY},new={KEY}");
    let out = run(verifier(&[
        ("JWT_KEYS", keys.as_str()),
        ("JWT_ACTIVE_KID", "new"),
        ("VERIFIER_ADDR", "127.0.0.1:9001"),
        ("AUTH_COOKIE_NAME", "session"),
        ("NATS_URL", "nats://events:nats-s3cret@nats:4222"),
    ])
    .arg("check-config"))?;
    let expected = [
        "VERIFIER_ADDR = 127.0.0.1:9001",
        "kids old, new, active new",
        "AUTH_COOKIE_NAME = session",
        "nats://***@nats:4222",
    ];
    binary::config_ok(&out, &expected, &[KEY, OTHER_KEY, "nats-s3cret"])
}

#[test]
fn check_config_refuses_each_kind_of_bad_value_naming_the_variable_only() -> anyhow::Result<()> {
    let cases: &[binary::Refusal] = &[
        (&[("VERIFIER_ADDR", "verifier:8001")], "VERIFIER_ADDR"),
        (&[("AUTH_COOKIE_NAME", "my cookie")], "AUTH_COOKIE_NAME"),
    ];
    binary::refuses_each(env!("CARGO_BIN_EXE_verifier"), KEY, cases, &[])?;
    binary::refuses_bad_shared_settings(env!("CARGO_BIN_EXE_verifier"), KEY)
}

fn healthcheck(addr: SocketAddr) -> anyhow::Result<Option<i32>> {
    healthcheck_with(addr, &[])
}

/// `verifier healthcheck --live` against `addr` with `env` added to its environment.
fn healthcheck_with(addr: SocketAddr, env: &[(&str, &str)]) -> anyhow::Result<Option<i32>> {
    probe_with(addr, env, &["--live"])
}

/// `verifier healthcheck` with `flags` against `addr` with `env` added to its environment.
fn probe_with(
    addr: SocketAddr,
    env: &[(&str, &str)],
    flags: &[&str],
) -> anyhow::Result<Option<i32>> {
    binary::healthcheck(&mut verifier(env), "VERIFIER_ADDR", addr, flags)
}

/// Starts the verifier on port 0 with `env` added to its settings and reads its address from
/// the `verifier listening` line.
fn start(env: &[(&str, &str)]) -> anyhow::Result<(Child, SocketAddr)> {
    let mut vars = vec![
        ("JWT_SECRET_KEY", KEY),
        ("VERIFIER_ADDR", "127.0.0.1:0"),
        // Nothing listens there: the verifier serves with NATS unreachable.
        ("NATS_URL", "nats://127.0.0.1:9"),
    ];
    vars.extend_from_slice(env);
    binary::listening(&mut verifier(&vars), "verifier listening").map_err(|err| anyhow!(err))
}

#[test]
fn healthcheck_exits_0_while_the_verifier_runs_and_1_once_it_is_gone() -> anyhow::Result<()> {
    let (mut child, addr) = start(&[])?;
    let live = healthcheck(addr);
    let wildcard = healthcheck(SocketAddr::from(([0, 0, 0, 0], addr.port())));
    child.kill()?;
    child.wait()?;
    let gone = healthcheck(addr)?;
    ensure!(live? == Some(0), "healthcheck against a live verifier");
    ensure!(wildcard? == Some(0), "healthcheck via 0.0.0.0");
    ensure!(
        gone == Some(1),
        "healthcheck with nothing listening: {gone:?}"
    );
    Ok(())
}

#[test]
fn healthcheck_asks_readiness_by_default_and_a_verifier_without_nats_is_live_but_not_ready(
) -> anyhow::Result<()> {
    let (mut child, addr) = start(&[])?;
    let default = probe_with(addr, &[], &[]);
    let ready = probe_with(addr, &[], &["--ready"]);
    let live = probe_with(addr, &[], &["--live"]);
    let unknown = probe_with(addr, &[], &["--alive"]);
    child.kill()?;
    child.wait()?;
    ensure!(
        default? == Some(1),
        "healthcheck: NATS is unreachable, so not ready"
    );
    ensure!(ready? == Some(1), "healthcheck --ready");
    ensure!(live? == Some(0), "healthcheck --live");
    ensure!(unknown? == Some(64), "healthcheck --alive is a usage error");
    Ok(())
}

#[test]
fn healthcheck_speaks_https_to_a_verifier_serving_tls_and_trusts_only_its_certificate(
) -> anyhow::Result<()> {
    // Made out to a public name only, as in production: the probe reaches it on loopback.
    let served = TestCert::new(&["verifier.example.com"])?;
    let tls = served.env();
    let other = TestCert::new(&["verifier.example.com"])?;
    let other_tls = other.env();
    let (mut child, addr) = start(&tls)?;
    let live = healthcheck_with(addr, &tls);
    let wildcard = healthcheck_with(SocketAddr::from(([0, 0, 0, 0], addr.port())), &tls);
    let foreign = healthcheck_with(addr, &other_tls);
    let plain = healthcheck(addr);
    child.kill()?;
    child.wait()?;
    ensure!(live? == Some(0), "healthcheck over HTTPS");
    ensure!(wildcard? == Some(0), "healthcheck over HTTPS via 0.0.0.0");
    ensure!(
        foreign? == Some(1),
        "healthcheck trusting another certificate"
    );
    ensure!(plain? == Some(1), "plain-HTTP healthcheck on the TLS port");
    Ok(())
}

#[test]
fn check_config_shows_the_trace_export_without_its_credentials_and_refuses_bad_otel_values(
) -> anyhow::Result<()> {
    let key = ("JWT_SECRET_KEY", KEY);
    let out = run(verifier(&[key]).arg("check-config"))?;
    ensure!(out.stdout.contains("traces: off"), "{}", out.stdout);

    let endpoint = (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "https://otel:otel-s3cret@collector:4318",
    );
    let headers = ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=hdr-s3cret");
    let out = run(verifier(&[key, endpoint, headers]).arg("check-config"))?;
    ensure!(out.code == Some(0), "{:?} {}", out.code, out.stderr);
    ensure!(
        out.stdout
            .contains("traces: OTLP/HTTP to https://collector:4318/v1/traces, 1 header(s)"),
        "{}",
        out.stdout
    );
    for secret in ["otel-s3cret", "hdr-s3cret"] {
        ensure!(
            !out.stdout.contains(secret),
            "leaks {secret}: {}",
            out.stdout
        );
    }

    let cases: &[binary::Refusal] = &[
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_HEADERS", "hdr-s3cret")],
            "OTEL_EXPORTER_OTLP_HEADERS",
        ),
        (
            &[("OTEL_TRACES_SAMPLER", "sometimes")],
            "OTEL_TRACES_SAMPLER",
        ),
        (
            &[("OTEL_TRACES_SAMPLER_ARG", "1.5")],
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        (
            &[("OTEL_BSP_SCHEDULE_DELAY", "0")],
            "OTEL_BSP_SCHEDULE_DELAY",
        ),
    ];
    binary::refuses_each(env!("CARGO_BIN_EXE_verifier"), KEY, cases, &["hdr-s3cret"])
}
