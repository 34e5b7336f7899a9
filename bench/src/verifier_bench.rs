//! The verifier against bare hyper, in one run.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use common::jwt::{AccessClaims, KeySet, TokenCodec, TokenSettings, TokenType};

use crate::wrk::{self, Load, Plan};

const SECRET: &str = "benchmark-secret-0123456789abcdef0123456";

struct Options {
    seconds: u32,
    connections: u32,
}

fn options(args: &[String]) -> Result<Options, anyhow::Error> {
    let mut options = Options {
        seconds: 10,
        connections: 64,
    };
    for (flag, value) in crate::flags::pairs(args, &["--seconds", "--connections"])? {
        match flag {
            "--seconds" => options.seconds = value.parse().context("--seconds")?,
            _ => options.connections = value.parse().context("--connections")?,
        }
    }
    Ok(options)
}

/// A child server, killed on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(mode: &str) -> Result<Server, anyhow::Error> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = format!("127.0.0.1:{port}");
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg(mode)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if mode == "serve-bare" {
            command.arg(&addr);
        } else {
            command
                .env("VERIFIER_ADDR", &addr)
                .env("JWT_SECRET_KEY", SECRET)
                .env(
                    "LOG_LEVEL",
                    std::env::var("BENCH_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
                );
        }
        let server = Server {
            child: command.spawn()?,
            addr,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&server.addr).is_err() {
            if Instant::now() > deadline {
                bail!("{mode} did not start listening");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// Peak resident set size, from /proc.
    fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

fn bench_codec() -> Result<TokenCodec, anyhow::Error> {
    let keys = KeySet::new(vec![("default".into(), SECRET.as_bytes().to_vec())], None)?;
    Ok(TokenCodec::new(TokenSettings {
        keys,
        issuer: "auth-service".into(),
        access_ttl: chrono::TimeDelta::hours(24),
        refresh_ttl: chrono::TimeDelta::days(1),
        leeway_seconds: 30,
    }))
}

fn valid_token() -> Result<String, anyhow::Error> {
    let codec = bench_codec()?;
    let now = chrono::Utc::now().timestamp();
    let claims = AccessClaims {
        iss: "auth-service".into(),
        sub: uuid::Uuid::new_v4(),
        email: "bench@example.com".into(),
        email_verified: true,
        typ: TokenType::Access,
        sid: uuid::Uuid::new_v4(),
        jti: uuid::Uuid::new_v4(),
        iat: now,
        exp: now + 86_400,
    };
    Ok(codec.sign_access(&claims)?)
}

/// One load: which server, which request.
struct Case<'a> {
    name: &'static str,
    server: &'a Server,
    path: &'static str,
    headers: &'a [String],
    /// A wrk Lua script (the POST body for validate-token).
    script: Option<&'a std::path::Path>,
}

pub async fn run(args: &[String]) -> Result<(), anyhow::Error> {
    let options = options(args)?;
    let token = valid_token()?;
    let script_dir = std::env::temp_dir().join(format!("bench-{}", std::process::id()));
    std::fs::create_dir_all(&script_dir)?;
    let script = script_dir.join("validate.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '{{\"token\":\"{token}\"}}'\n"
        ),
    )?;

    let bare = Server::start("serve-bare")?;
    let verifier = Server::start("serve-verifier")?;
    let valid = [format!("Authorization: Bearer {token}")];
    let garbage = ["Authorization: Bearer garbage.token.value".to_owned()];
    let case = |name, server, path, headers, script| Case {
        name,
        server,
        path,
        headers,
        script,
    };
    let cases = [
        case("bare hyper (empty 200)", &bare, "/", &[], None),
        case(
            "forward-auth, valid token",
            &verifier,
            "/forward-auth",
            &valid,
            None,
        ),
        case(
            "forward-auth, garbage token",
            &verifier,
            "/forward-auth",
            &garbage,
            None,
        ),
        case(
            "validate-token (POST)",
            &verifier,
            "/api/v1/auth/validate-token",
            &[],
            Some(&script),
        ),
    ];

    println!(
        "wrk -t2 -c{} -d{}s on {} cores, each case warmed up for 2 s first\n",
        options.connections,
        options.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| case | requests/s | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    let mut results: Vec<Load> = Vec::new();
    for case in cases {
        let Case {
            name,
            server,
            path,
            headers,
            script,
        } = case;
        let url = format!("http://{}{path}", server.addr);
        let mut plan = Plan {
            url: &url,
            seconds: 2,
            connections: options.connections,
            threads: 2,
            script,
            headers,
        };
        wrk::run(&plan)?;
        plan.seconds = options.seconds;
        let load = wrk::run(&plan)?;
        let expected_errors = name.contains("garbage");
        if (load.non_2xx > 0) != expected_errors {
            bail!("{name}: {} responses were not 2xx", load.non_2xx);
        }
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms |",
            load.requests_per_second, load.p50_ms, load.p99_ms
        );
        results.push(load);
    }
    let ratio = results[1].requests_per_second / results[0].requests_per_second;
    println!("\nforward-auth (valid) / bare hyper: {ratio:.2}");
    match verifier.peak_rss_kib() {
        Some(kib) => println!(
            "verifier peak RSS under load: {:.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("verifier peak RSS: not available"),
    }
    let _ = std::fs::remove_dir_all(&script_dir);
    Ok(())
}

/// Time per validation of one valid and one garbage token, on one core, without HTTP.
pub fn codec() {
    let (Ok(codec), Ok(token)) = (bench_codec(), valid_token()) else {
        eprintln!("cannot build the codec");
        return;
    };
    let now = chrono::Utc::now().timestamp();
    for (name, token) in [
        ("valid token", token.as_str()),
        ("garbage token", "garbage.token.value"),
    ] {
        let rounds = 200_000;
        let started = Instant::now();
        let mut passed = 0;
        for _ in 0..rounds {
            passed += usize::from(
                codec
                    .verify_access(std::hint::black_box(token), now)
                    .is_ok(),
            );
        }
        let per = started.elapsed().as_nanos() as f64 / f64::from(rounds);
        println!("verify_access, {name}: {per:.0} ns ({passed} passed)");
    }
}
