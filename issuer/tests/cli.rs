//! The issuer's operator commands as a container runs them: `help`, `check-config` and
//! `healthcheck`; and the account commands (`users …`, `sessions revoke`) against a running
//! issuer's database.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context};
use test_support::accounts::{register_body, unique_email, CHEAP_ARGON2, PASSWORD};
use test_support::binary::{self, run};
use test_support::cert::TestCert;
use test_support::database::{database_url, drop_database, try_psql, unique_name};

const KEY: &str = "cli-test-secret-0123456789abcdef0123456";
const OTHER_KEY: &str = "cli-test-other-secret-0123456789abcdefgh";
const DB_PASSWORD: &str = "db-pass-s3cret";
const NATS_PASSWORD: &str = "nats-pass-s3cret";

fn issuer(env: &[(&str, &str)]) -> Command {
    binary::command(env!("CARGO_BIN_EXE_issuer"), env)
}

#[test]
fn help_lists_every_command_and_every_variable_with_its_default() -> anyhow::Result<()> {
    let commands = ["serve", "migrate", "check-config", "healthcheck"];
    binary::help_lists::<issuer::config::IssuerConfig>(env!("CARGO_BIN_EXE_issuer"), &commands, &[])
}

#[test]
fn check_config_accepts_a_good_configuration_and_prints_a_summary_without_secrets(
) -> anyhow::Result<()> {
    let database_url = format!("postgres://app:{DB_PASSWORD}@db.internal:6543/accounts");
    let nats_url = format!("nats://events:{NATS_PASSWORD}@nats:4222");
    let keys = format!("old={OTHER_KEY},new={KEY}");
    for env in [
        vec![("JWT_SECRET_KEY", KEY)],
        vec![
            ("JWT_KEYS", keys.as_str()),
            ("JWT_ACTIVE_KID", "new"),
            ("DATABASE_URL", database_url.as_str()),
            ("NATS_URL", nats_url.as_str()),
            ("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1"),
            ("ENVIRONMENT", "production"),
        ],
    ] {
        let out = run(issuer(&env).arg("check-config"))?;
        let secrets = [KEY, OTHER_KEY, DB_PASSWORD, NATS_PASSWORD];
        binary::config_ok(&out, &[], &secrets).with_context(|| format!("{env:?}"))?;
    }
    let out = run(issuer(&[
        ("JWT_KEYS", keys.as_str()),
        ("JWT_ACTIVE_KID", "new"),
        ("DATABASE_URL", database_url.as_str()),
        ("ISSUER_ADDR", "127.0.0.1:9000"),
    ])
    .arg("check-config"))?;
    for expected in [
        "ISSUER_ADDR = 127.0.0.1:9000",
        "kids old, new, active new",
        "accounts at db.internal:6543, user app, password set",
    ] {
        ensure!(out.stdout.contains(expected), "{expected}:\n{}", out.stdout);
    }
    Ok(())
}

#[test]
fn check_config_refuses_each_kind_of_bad_value_naming_the_variable_only() -> anyhow::Result<()> {
    let missing = std::env::temp_dir().join(format!("no-such-cert-{}.pem", uuid::Uuid::new_v4()));
    let missing = missing.to_string_lossy();
    let mysql = format!("mysql://app:{DB_PASSWORD}@db/auth");
    let garbled = format!("postgres://app:{DB_PASSWORD}@db:port/auth");
    let cases: &[binary::Refusal] = &[
        // Bad number, below the minimum, bad bool, bad enum, bad address, bad list.
        (&[("DATABASE_POOL_SIZE", "many")], "DATABASE_POOL_SIZE"),
        (&[("DATABASE_POOL_SIZE", "0")], "DATABASE_POOL_SIZE"),
        (
            &[("OUTBOX_POLL_INTERVAL_MS", "5")],
            "OUTBOX_POLL_INTERVAL_MS",
        ),
        (
            &[("REQUIRE_VERIFIED_EMAIL", "maybe")],
            "REQUIRE_VERIFIED_EMAIL",
        ),
        (&[("PASSWORD_POLICY", "strong")], "PASSWORD_POLICY"),
        (&[("ISSUER_ADDR", "localhost")], "ISSUER_ADDR"),
        (&[("TRUSTED_PROXIES", "10.0.0.0/33")], "TRUSTED_PROXIES"),
        (&[("TRUSTED_PROXIES", "proxy.local")], "TRUSTED_PROXIES"),
        // What `serve` would only find out at start: an argon2 cost argon2 refuses, a TLS file
        // that is not there, a database URL it cannot use (it carries a password).
        (
            &[("ARGON2_MEMORY_KIB", "16"), ("ARGON2_PARALLELISM", "4")],
            "ARGON2_MEMORY_KIB",
        ),
        (&[("ARGON2_PARALLELISM", "16777216")], "ARGON2_PARALLELISM"),
        (
            &[("TLS_CERT_FILE", &missing), ("TLS_KEY_FILE", &missing)],
            "TLS_CERT_FILE",
        ),
        (&[("DATABASE_URL", &mysql)], "DATABASE_URL"),
        (&[("DATABASE_URL", &garbled)], "DATABASE_URL"),
    ];
    binary::refuses_each(env!("CARGO_BIN_EXE_issuer"), KEY, cases, &[DB_PASSWORD])?;
    binary::refuses_bad_shared_settings(env!("CARGO_BIN_EXE_issuer"), KEY)
}

#[test]
fn an_extra_argument_is_a_usage_error() -> anyhow::Result<()> {
    let out = run(issuer(&[("JWT_SECRET_KEY", KEY)]).args(["check-config", "now"]))?;
    ensure!(out.code == Some(64) && out.stderr.contains("usage: issuer"));
    Ok(())
}

/// Runs `issuer healthcheck` against `addr`; its exit code and how long it took.
fn healthcheck(addr: SocketAddr) -> anyhow::Result<(Option<i32>, Duration)> {
    healthcheck_with(addr, &[])
}

/// `issuer healthcheck` against `addr` with `env` added to its environment.
fn healthcheck_with(
    addr: SocketAddr,
    env: &[(&str, &str)],
) -> anyhow::Result<(Option<i32>, Duration)> {
    let started = Instant::now();
    let code = binary::healthcheck(&mut issuer(env), "ISSUER_ADDR", addr, &[])?;
    Ok((code, started.elapsed()))
}

/// A running issuer on port 0 with its own database; killed and its database dropped on drop.
struct RunningIssuer {
    child: Child,
    addr: SocketAddr,
    database: String,
}

impl RunningIssuer {
    /// An issuer with `env` added to its settings.
    fn start(env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let database = unique_name();
        let url = database_url(&database);
        let mut vars = vec![
            ("JWT_SECRET_KEY", KEY),
            ("DATABASE_URL", &url),
            ("ISSUER_ADDR", "127.0.0.1:0"),
            // Nothing listens there: the issuer serves with NATS unreachable.
            ("NATS_URL", "nats://127.0.0.1:9"),
        ];
        vars.extend_from_slice(&CHEAP_ARGON2);
        vars.extend_from_slice(env);
        let (child, addr) =
            binary::listening(&mut issuer(&vars), "issuer listening").map_err(|e| anyhow!(e))?;
        Ok(RunningIssuer {
            child,
            addr,
            database,
        })
    }
}

impl Drop for RunningIssuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop_database(&self.database);
    }
}

#[test]
fn healthcheck_exits_0_while_the_issuer_runs_and_1_once_it_is_gone() -> anyhow::Result<()> {
    let mut running = RunningIssuer::start(&[])?;
    let addr = running.addr;
    let (code, _) = healthcheck(addr)?;
    ensure!(
        code == Some(0),
        "healthcheck against a live issuer: {code:?}"
    );
    // A wildcard ISSUER_ADDR is probed on loopback, as in a container.
    let (code, _) = healthcheck(SocketAddr::from(([0, 0, 0, 0], addr.port())))?;
    ensure!(code == Some(0), "healthcheck via 0.0.0.0: {code:?}");

    running.child.kill()?;
    running.child.wait()?;
    let (code, _) = healthcheck(addr)?;
    ensure!(
        code == Some(1),
        "healthcheck with nothing listening: {code:?}"
    );
    Ok(())
}

#[test]
fn healthcheck_speaks_https_to_an_issuer_serving_tls_and_trusts_only_its_certificate(
) -> anyhow::Result<()> {
    // Made out to a public name only, as in production: the probe reaches it on loopback.
    let served = TestCert::new(&["auth.example.com"])?;
    let tls = served.env();
    let running = RunningIssuer::start(&tls)?;

    let (code, _) = healthcheck_with(running.addr, &tls)?;
    ensure!(code == Some(0), "healthcheck over HTTPS: {code:?}");
    let (code, _) = healthcheck_with(SocketAddr::from(([0, 0, 0, 0], running.addr.port())), &tls)?;
    ensure!(
        code == Some(0),
        "healthcheck over HTTPS via 0.0.0.0: {code:?}"
    );

    // Another certificate in the probe's settings: the server is not the one configured.
    let other = TestCert::new(&["auth.example.com"])?;
    let (code, _) = healthcheck_with(running.addr, &other.env())?;
    ensure!(
        code == Some(1),
        "healthcheck trusting another certificate: {code:?}"
    );

    // Plain HTTP on the TLS port gets no answer.
    let (code, _) = healthcheck(running.addr)?;
    ensure!(
        code == Some(1),
        "plain-HTTP healthcheck on the TLS port: {code:?}"
    );
    Ok(())
}

/// A server on port 0 that reads one request and answers `response` (or nothing, keeping the
/// connection open for `hold`).
fn fake_server(response: &'static str, hold: Duration) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(response.as_bytes());
            std::thread::sleep(hold);
        }
    });
    Ok(addr)
}

#[test]
fn healthcheck_exits_1_on_an_error_status_a_silent_server_or_garbage() -> anyhow::Result<()> {
    let unhealthy = fake_server(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
        Duration::ZERO,
    )?;
    let (code, _) = healthcheck(unhealthy)?;
    ensure!(code == Some(1), "503: {code:?}");

    let garbage = fake_server("SSH-2.0-OpenSSH_9.2\r\n", Duration::ZERO)?;
    let (code, _) = healthcheck(garbage)?;
    ensure!(code == Some(1), "not HTTP: {code:?}");

    // Accepts and holds the connection for two minutes without a word: only the probe's own
    // 2 s timeout can end it well before the server lets go (a generous deadline, not a bound
    // on its speed).
    let silent = fake_server("", Duration::from_secs(120))?;
    let (code, took) = healthcheck(silent)?;
    ensure!(code == Some(1), "silent server: {code:?}");
    if took < Duration::from_secs(2) || took > Duration::from_secs(60) {
        bail!("the silent server's probe took {took:?}; its timeout is 2 s");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Operator commands: `issuer users …` and `issuer sessions …`, against a running issuer's
// database (NATS is not needed: the running issuer's relay publishes what they queue).

/// Limits out of the way; the lockout test sets its own threshold.
const GENEROUS: [(&str, &str); 3] = [
    ("RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE", "1000000"),
    ("RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE", "1000000"),
    ("RATE_LIMIT_REGISTER_PER_IP_PER_HOUR", "1000000"),
];

impl RunningIssuer {
    /// `issuer ARGS…` with the running issuer's settings.
    fn operator(&self, args: &[&str]) -> anyhow::Result<binary::Run> {
        let url = database_url(&self.database);
        run(issuer(&[("JWT_SECRET_KEY", KEY), ("DATABASE_URL", &url)]).args(args))
    }

    fn post(&self, path: &str, body: serde_json::Value) -> binary::Reply {
        binary::send(
            &self.addr.to_string(),
            "POST",
            path,
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        )
    }

    fn register(&self, email: &str) -> u16 {
        self.post("/api/v1/auth/register", register_body(email, PASSWORD))
            .status
    }

    fn login(&self, email: &str, password: &str) -> binary::Reply {
        let body = serde_json::json!({"email": email, "password": password});
        self.post("/api/v1/auth/login", body)
    }

    /// One value from the issuer's database.
    fn query(&self, sql: &str) -> anyhow::Result<String> {
        try_psql(&self.database, sql).map_err(|err| anyhow!(err))
    }

    /// How many `session.revoked` events with this reason the outbox holds.
    fn revocations(&self, reason: &str) -> anyhow::Result<String> {
        self.query(&format!(
            "SELECT count(*) FROM outbox WHERE event_type = 'session.revoked' \
             AND payload->'data'->>'reason' = '{reason}'"
        ))
    }

    fn events(&self, event_type: &str, email: &str) -> anyhow::Result<String> {
        self.query(&format!(
            "SELECT count(*) FROM outbox WHERE event_type = '{event_type}' \
             AND payload->'data'->>'email' = '{email}'"
        ))
    }
}

#[test]
fn operator_disables_enables_revokes_and_deletes_a_running_issuers_account() -> anyhow::Result<()> {
    let running = RunningIssuer::start(&GENEROUS)?;
    let email = unique_email();
    ensure!(running.register(&email) == 201);
    for _ in 0..2 {
        ensure!(running.login(&email, PASSWORD).status == 200);
    }

    let out = running.operator(&["users", "disable", &email])?;
    ensure!(out.code == Some(0), "{}", out.stderr);
    ensure!(
        out.stdout.trim() == format!("disabled {email} (2 sessions revoked)"),
        "{}",
        out.stdout
    );
    ensure!(
        running.query("SELECT count(*) FROM sessions WHERE revoked_reason = 'account_disabled'")?
            == "2"
    );
    ensure!(running.revocations("account_disabled")? == "2");
    ensure!(running.events("user.disabled", &email)? == "1");
    let refused = running.login(&email, PASSWORD);
    ensure!(
        refused.status == 403 && refused.body.contains("ACCOUNT_DISABLED"),
        "{} {}",
        refused.status,
        refused.body
    );
    let wrong = running.login(&email, "Wrong-Horse-9");
    ensure!(wrong.status == 401 && wrong.body.contains("INVALID_CREDENTIALS"));

    let out = running.operator(&["users", "enable", &email])?;
    ensure!(
        out.code == Some(0) && out.stdout.trim() == format!("enabled {email}"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    ensure!(running.events("user.enabled", &email)? == "1");
    ensure!(running.login(&email, PASSWORD).status == 200);

    let out = running.operator(&["sessions", "revoke", &email])?;
    ensure!(
        out.code == Some(0) && out.stdout.trim() == format!("revoked 1 sessions of {email}"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    ensure!(running.revocations("operator")? == "1");

    ensure!(running.login(&email, PASSWORD).status == 200);
    let out = running.operator(&["users", "delete", &email])?;
    ensure!(out.code == Some(0), "{}", out.stderr);
    ensure!(
        out.stdout.starts_with(&format!("deleted {email} (user "))
            && out.stdout.contains("1 sessions revoked"),
        "{}",
        out.stdout
    );
    ensure!(
        running.query(&format!(
            "SELECT count(*) FROM users WHERE email = '{email}'"
        ))? == "0"
    );
    ensure!(running.revocations("account_deleted")? == "1");
    ensure!(running.events("user.deleted", &email)? == "1");
    ensure!(running.login(&email, PASSWORD).status == 401);
    ensure!(running.register(&email) == 201, "the email is free again");
    Ok(())
}

#[test]
fn operator_unlock_clears_a_login_lockout() -> anyhow::Result<()> {
    let mut env = GENEROUS.to_vec();
    env.push(("LOGIN_LOCKOUT_THRESHOLD", "2"));
    let running = RunningIssuer::start(&env)?;
    let email = unique_email();
    ensure!(running.register(&email) == 201);
    for _ in 0..2 {
        ensure!(running.login(&email, "Wrong-Horse-9").status == 401);
    }
    let locked = running.login(&email, PASSWORD);
    ensure!(locked.status == 429, "{} {}", locked.status, locked.body);

    let out = running.operator(&["users", "unlock", &email])?;

    ensure!(out.code == Some(0), "{}", out.stderr);
    ensure!(
        out.stdout.trim() == format!("unlocked {email} (failed logins and lock cleared)"),
        "{}",
        out.stdout
    );
    ensure!(running.query("SELECT count(*) FROM login_failures")? == "0");
    let login = running.login(&email, PASSWORD);
    ensure!(login.status == 200, "{} {}", login.status, login.body);
    Ok(())
}

#[test]
fn operator_commands_refuse_an_unknown_email_and_bad_arguments() -> anyhow::Result<()> {
    let running = RunningIssuer::start(&GENEROUS)?;
    let unknown = unique_email();
    for command in [
        vec!["users", "disable"],
        vec!["users", "enable"],
        vec!["users", "unlock"],
        vec!["users", "delete"],
        vec!["sessions", "revoke"],
    ] {
        let mut args = command.clone();
        args.push(&unknown);
        let out = running.operator(&args)?;
        ensure!(out.code == Some(1), "{args:?}: {:?}", out.code);
        ensure!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
        ensure!(
            out.stderr.trim() == format!("issuer: no user with email {unknown}"),
            "{args:?}: {}",
            out.stderr
        );
    }
    for args in [
        vec!["users"],
        vec!["users", "disable"],
        vec!["users", "suspend", "a@example.com"],
        vec!["users", "disable", "a@example.com", "b@example.com"],
        vec!["users", "disable", "not-an-email"],
        vec!["sessions"],
        vec!["sessions", "list", "a@example.com"],
    ] {
        let out = running.operator(&args)?;
        ensure!(out.code == Some(64), "{args:?}: {:?}", out.code);
        ensure!(
            out.stderr.contains("usage: issuer users"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let help = run(issuer(&[]).arg("help"))?;
    for command in [
        "users disable EMAIL",
        "users enable EMAIL",
        "users unlock EMAIL",
        "users delete EMAIL",
        "sessions revoke EMAIL",
    ] {
        ensure!(
            help.stdout.contains(command),
            "{command} missing:\n{}",
            help.stdout
        );
    }
    Ok(())
}
