//! The verifier against bare hyper, and its validate-token against the seed stack's, in one run.
//!
//! The default method is how a deployment runs: each server on one core (`taskset -c 0`), wrk
//! with one thread and 64 connections on the other (`taskset -c 1`), the bare server sent the
//! identical request, alternating rounds, the median ratio. `--unpinned` leaves the server and
//! wrk (two threads) free on both cores, which measures the scheduler as much as the server.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use common::jwt::{AccessClaims, KeySet, TokenCodec, TokenSettings, TokenType};

use crate::servers::{free_addr, Server};
use crate::stats::median;
use crate::wrk::{self, Load, Plan};

pub const SECRET: &str = "benchmark-secret-0123456789abcdef0123456";

/// Where servers and wrk run.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// The CPUs each server runs on (a taskset list); `None`: any.
    pub server: Option<&'static str>,
    pub wrk: Option<&'static str>,
    pub wrk_threads: u32,
}

/// The server on core 0, wrk on core 1 with one thread.
pub const PINNED: Placement = Placement {
    server: Some("0"),
    wrk: Some("1"),
    wrk_threads: 1,
};

/// Both free on both cores, wrk with two threads (the bench's earlier method).
const UNPINNED: Placement = Placement {
    server: None,
    wrk: None,
    wrk_threads: 2,
};

/// Both free on both cores, wrk with one thread: the comparison with the seed stack.
pub const SHARED: Placement = Placement {
    server: None,
    wrk: None,
    wrk_threads: 1,
};

struct Options {
    seconds: u32,
    connections: u32,
    rounds: usize,
    pinned: bool,
    seed_dir: PathBuf,
}

fn options(args: &[String]) -> Result<Options, anyhow::Error> {
    let mut options = Options {
        seconds: 10,
        connections: 64,
        rounds: 3,
        pinned: true,
        seed_dir: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/bench/seed-validate"
        )),
    };
    let pairs: Vec<String> = args
        .iter()
        .filter(|arg| {
            let unpinned = *arg == "--unpinned";
            options.pinned &= !unpinned;
            !unpinned
        })
        .cloned()
        .collect();
    let known = ["--seconds", "--connections", "--rounds", "--seed-dir"];
    for (flag, value) in crate::flags::pairs(&pairs, &known)? {
        match flag {
            "--seconds" => options.seconds = value.parse().context("--seconds")?,
            "--connections" => options.connections = value.parse().context("--connections")?,
            "--rounds" => options.rounds = value.parse().context("--rounds")?,
            _ => options.seed_dir = PathBuf::from(value),
        }
    }
    if options.rounds == 0 || options.seconds == 0 {
        bail!("--rounds and --seconds must be positive");
    }
    Ok(options)
}

/// The verifier as the bench runs it: this key, and the log level of `BENCH_LOG_LEVEL`.
pub fn verifier_env() -> Vec<(&'static str, String)> {
    vec![
        ("JWT_SECRET_KEY", SECRET.to_owned()),
        (
            "LOG_LEVEL",
            std::env::var("BENCH_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
        ),
    ]
}

pub fn bench_codec() -> Result<TokenCodec, anyhow::Error> {
    let keys = KeySet::new(vec![("default".into(), SECRET.as_bytes().to_vec())], None)?;
    Ok(TokenCodec::new(TokenSettings {
        keys,
        issuer: "auth-service".into(),
        access_ttl: chrono::TimeDelta::hours(24),
        refresh_ttl: chrono::TimeDelta::days(1),
        leeway_seconds: 30,
    }))
}

pub fn valid_token() -> Result<String, anyhow::Error> {
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

/// One load: which server, which request, and the status every response must have.
pub struct Case<'a> {
    pub name: &'static str,
    pub server: &'a Server,
    pub path: &'static str,
    pub headers: &'a [String],
    /// A POST body (validate-token); wrk sends it through a Lua script, the probe directly.
    pub body: Option<(&'a str, &'a Path)>,
    pub expect: u16,
}

impl Case<'_> {
    /// Checks the status once, then loads the case for `seconds`.
    pub fn load(
        &self,
        placement: Placement,
        seconds: u32,
        connections: u32,
    ) -> Result<Load, anyhow::Error> {
        let status = probe(self)?;
        if status != self.expect {
            bail!("{}: answered {status}, expected {}", self.name, self.expect);
        }
        let url = format!("http://{}{}", self.server.addr, self.path);
        let load = wrk::run(&Plan {
            url: &url,
            seconds,
            connections,
            threads: placement.wrk_threads,
            script: self.body.map(|(_, script)| script),
            headers: self.headers,
            cpus: placement.wrk,
        })?;
        check(self.name, self.expect, &load)?;
        Ok(load)
    }
}

/// Waits until the verifier is ready (its revocation replay done): `GET /health/ready` is 200.
pub fn wait_ready(server: &Server) -> Result<(), anyhow::Error> {
    let readiness = Case {
        name: "verifier readiness",
        server,
        path: "/health/ready",
        headers: &[],
        body: None,
        expect: 200,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while probe(&readiness)? != 200 {
        if Instant::now() > deadline {
            bail!("the verifier did not become ready");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Writes wrk's script for POSTing `body` into `dir`.
pub fn post_script(dir: &Path, body: &str) -> Result<PathBuf, anyhow::Error> {
    std::fs::create_dir_all(dir)?;
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        format!("wrk.method = \"POST\"\nwrk.body = '{body}'\n"),
    )?;
    Ok(script)
}

/// Rounds of two cases, alternating which goes first; each round's pair of loads.
fn alternate(
    first: &Case<'_>,
    second: &Case<'_>,
    placement: Placement,
    options: &Options,
) -> Result<Vec<(Load, Load)>, anyhow::Error> {
    for case in [first, second] {
        case.load(placement, 2, options.connections)?;
    }
    let mut rounds = Vec::new();
    for round in 0..options.rounds {
        let (a, b) = if round % 2 == 0 {
            let a = first.load(placement, options.seconds, options.connections)?;
            (
                a,
                second.load(placement, options.seconds, options.connections)?,
            )
        } else {
            let b = second.load(placement, options.seconds, options.connections)?;
            (
                first.load(placement, options.seconds, options.connections)?,
                b,
            )
        };
        rounds.push((a, b));
    }
    Ok(rounds)
}

pub async fn run(args: &[String]) -> Result<(), anyhow::Error> {
    let options = options(args)?;
    let placement = if options.pinned { PINNED } else { UNPINNED };
    let token = valid_token()?;
    let validate_body = format!("{{\"token\":\"{token}\"}}");
    let script_dir = std::env::temp_dir().join(format!("bench-{}", std::process::id()));
    let script = post_script(&script_dir, &validate_body)?;
    let result = measure(&options, placement, &token, &validate_body, &script);
    let _ = std::fs::remove_dir_all(&script_dir);
    result
}

fn measure(
    options: &Options,
    placement: Placement,
    token: &str,
    validate_body: &str,
    script: &Path,
) -> Result<(), anyhow::Error> {
    let bare = Server::start_on(placement.server, "serve-bare", &[], None, &[])?;
    let verifier = Server::start_on(
        placement.server,
        "serve-verifier",
        &[],
        Some("VERIFIER_ADDR"),
        &verifier_env(),
    )?;
    wait_ready(&verifier)?;
    // The baseline gets exactly the valid case's request, so the ratio compares handlers only.
    let valid = [format!("Authorization: Bearer {token}")];
    let garbage = ["Authorization: Bearer garbage.token.value".to_owned()];
    let json = ["Content-Type: application/json".to_owned()];
    let bare_case = Case {
        name: "bare hyper (empty 200, same request)",
        server: &bare,
        path: "/forward-auth",
        headers: &valid,
        body: None,
        expect: 200,
    };
    let valid_case = Case {
        name: "forward-auth, valid token",
        server: &verifier,
        path: "/forward-auth",
        headers: &valid,
        body: None,
        expect: 200,
    };
    let others = [
        Case {
            name: "forward-auth, garbage token",
            server: &verifier,
            path: "/forward-auth",
            headers: &garbage,
            body: None,
            expect: 401,
        },
        Case {
            name: "validate-token (POST)",
            server: &verifier,
            path: "/api/v1/auth/validate-token",
            headers: &json,
            body: Some((validate_body, script)),
            expect: 200,
        },
    ];

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    match options.pinned {
        true => println!(
            "{cores} cores; each server on core 0, wrk -t1 -c{} -d{}s on core 1; {} alternating rounds after 2 s of warm-up each",
            options.connections, options.seconds, options.rounds
        ),
        false => println!(
            "{cores} cores, unpinned: servers and wrk -t2 -c{} -d{}s share every core; {} alternating rounds",
            options.connections, options.seconds, options.rounds
        ),
    }
    println!("load average before: {}\n", load_average());
    let rounds = alternate(&bare_case, &valid_case, placement, options)?;
    println!(
        "| round | bare hyper req/s | forward-auth req/s | ratio | bare p99 | forward-auth p99 |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for (i, (bare_load, valid_load)) in rounds.iter().enumerate() {
        let ratio = valid_load.requests_per_second / bare_load.requests_per_second;
        ratios.push(ratio);
        println!(
            "| {} | {:.0} | {:.0} | {ratio:.2} | {:.2} ms | {:.2} ms |",
            i + 1,
            bare_load.requests_per_second,
            valid_load.requests_per_second,
            bare_load.p99_ms,
            valid_load.p99_ms
        );
    }
    let ratio = median(&mut ratios.clone());
    let bare_p99 = median(&mut rounds.iter().map(|r| r.0.p99_ms).collect::<Vec<_>>());
    let valid_p99 = median(&mut rounds.iter().map(|r| r.1.p99_ms).collect::<Vec<_>>());

    println!("\n| other case, same placement | requests/s | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for case in &others {
        case.load(placement, 2, options.connections)?;
        let load = case.load(placement, options.seconds, options.connections)?;
        println!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms |",
            case.name, load.requests_per_second, load.p50_ms, load.p99_ms
        );
    }
    let mut peak_kib = verifier.peak_rss_kib();
    drop(verifier);
    drop(bare);

    println!("\nvalidate-token against the seed stack (FastAPI + python-jose, 2 workers), both on both cores, wrk -t1:");
    let seed = seed_comparison(options, validate_body, script, &json);
    let seed_row = match &seed {
        Ok((ratios, kib)) => {
            peak_kib = peak_kib.max(*kib);
            format!(
                "{:.1}x (rounds: {})",
                median(&mut ratios.clone()),
                list(ratios, 1)
            )
        }
        Err(err) => {
            println!("  not measured: {err:#}");
            format!("not measured ({err})")
        }
    };

    let method = if options.pinned {
        "server on core 0, wrk -t1 on core 1"
    } else {
        "unpinned"
    };
    println!("\n| what | measured | target |");
    println!("|---|---:|---:|");
    println!(
        "| forward-auth (valid token) / bare hyper, {method}, median of {} | {ratio:.2} (rounds: {}) | >= 0.90 |",
        options.rounds,
        list(&ratios, 2)
    );
    println!(
        "| forward-auth p99 at {} connections, same set-up (bare hyper: {bare_p99:.2} ms) | {valid_p99:.2} ms | < 1.5 ms |",
        options.connections
    );
    match peak_kib {
        Some(kib) => println!(
            "| verifier peak RSS under load | {:.1} MiB | < 16 MiB |",
            kib as f64 / 1024.0
        ),
        None => println!("| verifier peak RSS under load | not available | < 16 MiB |"),
    }
    println!(
        "| verifier `POST /validate-token` / the seed stack's, both on both cores, wrk -t1 | {seed_row} | >= 15x |"
    );
    println!("\nload average after: {}", load_average());
    Ok(())
}

fn list(values: &[f64], decimals: usize) -> String {
    values
        .iter()
        .map(|v| format!("{v:.decimals$}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first three fields of /proc/loadavg.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

/// Ratios verifier / seed stack over alternating rounds, and the verifier's peak RSS.
fn seed_comparison(
    options: &Options,
    body: &str,
    script: &Path,
    json: &[String],
) -> Result<(Vec<f64>, Option<u64>), anyhow::Error> {
    let uvicorn = seed_venv(&options.seed_dir)?.join("bin").join("uvicorn");
    let addr = free_addr()?;
    let port = addr.rsplit(':').next().unwrap_or_default().to_owned();
    let mut command = std::process::Command::new(&uvicorn);
    command
        .args(["app:app", "--app-dir"])
        .arg(&options.seed_dir)
        .args(["--host", "127.0.0.1", "--port", &port, "--workers", "2"])
        .args(["--no-access-log", "--log-level", "warning"])
        .env("JWT_SECRET", SECRET);
    let seed = Server::spawn(command, addr, "the seed stack (uvicorn)", true)?;
    let verifier = Server::start_on(
        SHARED.server,
        "serve-verifier",
        &[],
        Some("VERIFIER_ADDR"),
        &verifier_env(),
    )?;
    wait_ready(&verifier)?;
    let path = "/api/v1/auth/validate-token";
    let ours = Case {
        name: "verifier validate-token",
        server: &verifier,
        path,
        headers: json,
        body: Some((body, script)),
        expect: 200,
    };
    let theirs = Case {
        name: "seed stack validate-token",
        server: &seed,
        path,
        headers: json,
        body: Some((body, script)),
        expect: 200,
    };
    let rounds = alternate(&ours, &theirs, SHARED, options)?;
    println!("| round | verifier req/s | seed stack req/s | ratio | verifier p99 | seed p99 |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for (i, (a, b)) in rounds.iter().enumerate() {
        let ratio = a.requests_per_second / b.requests_per_second;
        ratios.push(ratio);
        println!(
            "| {} | {:.0} | {:.0} | {ratio:.1} | {:.2} ms | {:.2} ms |",
            i + 1,
            a.requests_per_second,
            b.requests_per_second,
            a.p99_ms,
            b.p99_ms
        );
    }
    Ok((ratios, verifier.peak_rss_kib()))
}

/// The seed stack's virtualenv beside this program (`target/release/seed-venv`), made on first
/// use from the stack's `requirements.txt`.
fn seed_venv(seed_dir: &Path) -> Result<PathBuf, anyhow::Error> {
    if !seed_dir.join("app.py").is_file() {
        bail!(
            "no seed stack at {} (give its directory with --seed-dir)",
            seed_dir.display()
        );
    }
    let exe = std::env::current_exe()?;
    let venv = exe
        .parent()
        .context("cannot place the seed stack's virtualenv")?
        .join("seed-venv");
    if venv.join("bin").join("uvicorn").is_file() {
        return Ok(venv);
    }
    println!(
        "  making the seed stack's virtualenv in {} (once)",
        venv.display()
    );
    let made = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .context("cannot run python3")?;
    let installed = made.success()
        && std::process::Command::new(venv.join("bin").join("pip"))
            .args(["install", "-q", "-r"])
            .arg(seed_dir.join("requirements.txt"))
            .status()
            .context("cannot run pip")?
            .success();
    if !installed {
        bail!("could not install the seed stack's requirements");
    }
    Ok(venv)
}

/// Under load wrk only counts responses of 400 and above, so: a case expecting 2xx must have
/// none, and one expecting an error must have nothing else (its exact status was probed).
fn check(name: &str, expect: u16, load: &Load) -> Result<(), anyhow::Error> {
    if load.requests == 0 {
        bail!("{name}: wrk completed no request");
    }
    let expect_errors = expect >= 400;
    if !expect_errors && load.non_2xx > 0 {
        bail!(
            "{name}: {} of {} responses were not 2xx; the figures would not measure the success path",
            load.non_2xx,
            load.requests
        );
    }
    if expect_errors && load.non_2xx != load.requests {
        bail!(
            "{name}: {} of {} responses were 2xx or 3xx, expected every one to be {expect}",
            load.requests - load.non_2xx.min(load.requests),
            load.requests
        );
    }
    Ok(())
}

/// Sends the case's request once, exactly as wrk will, and returns the status.
pub fn probe(case: &Case<'_>) -> Result<u16, anyhow::Error> {
    use std::io::{Read, Write};

    let mut stream = std::net::TcpStream::connect(&case.server.addr)?;
    // A multi-worker server accepts before its workers are up: give it time to answer.
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let method = if case.body.is_some() { "POST" } else { "GET" };
    let body = case.body.map_or("", |(body, _)| body);
    let mut request = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        case.path, case.server.addr
    );
    for header in case.headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    if case.body.is_some() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("{}: not an HTTP/1.1 response: {response:?}", case.name))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(requests: u64, non_2xx: u64) -> Load {
        Load {
            requests_per_second: 1.0,
            p50_ms: 0.0,
            p99_ms: 0.0,
            requests,
            non_2xx,
        }
    }

    #[test]
    fn a_success_case_fails_on_any_error_and_an_error_case_on_any_success() {
        assert!(check("valid", 200, &load(1000, 0)).is_ok());
        assert!(check("valid", 200, &load(1000, 1)).is_err());
        assert!(check("garbage", 401, &load(1000, 1000)).is_ok());
        assert!(check("garbage", 401, &load(1000, 999)).is_err());
        assert!(check("garbage", 401, &load(1000, 0)).is_err());
        assert!(check("valid", 200, &load(0, 0)).is_err());
    }
}
