//! The verifier against bare hyper, in one run.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use common::jwt::{AccessClaims, KeySet, TokenCodec, TokenSettings, TokenType};

use crate::servers::Server;
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

/// One load: which server, which request, and the status every response must have.
struct Case<'a> {
    name: &'static str,
    server: &'a Server,
    path: &'static str,
    headers: &'a [String],
    /// A POST body (validate-token); wrk sends it through a Lua script, the probe directly.
    body: Option<&'a str>,
    expect: u16,
}

pub async fn run(args: &[String]) -> Result<(), anyhow::Error> {
    let options = options(args)?;
    let token = valid_token()?;
    let validate_body = format!("{{\"token\":\"{token}\"}}");
    let script_dir = std::env::temp_dir().join(format!("bench-{}", std::process::id()));
    std::fs::create_dir_all(&script_dir)?;
    let script = script_dir.join("validate.lua");
    std::fs::write(
        &script,
        format!("wrk.method = \"POST\"\nwrk.body = '{validate_body}'\n"),
    )?;

    let bare = Server::start("serve-bare", None, &[])?;
    let verifier = Server::start("serve-verifier", Some("VERIFIER_ADDR"), &verifier_env())?;
    // The baseline gets exactly the valid case's request, so the ratio compares handlers only.
    let valid = [format!("Authorization: Bearer {token}")];
    let garbage = ["Authorization: Bearer garbage.token.value".to_owned()];
    let json = ["Content-Type: application/json".to_owned()];
    let cases = [
        Case {
            name: "bare hyper (empty 200)",
            server: &bare,
            path: "/forward-auth",
            headers: &valid,
            body: None,
            expect: 200,
        },
        Case {
            name: "forward-auth, valid token",
            server: &verifier,
            path: "/forward-auth",
            headers: &valid,
            body: None,
            expect: 200,
        },
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
            body: Some(&validate_body),
            expect: 200,
        },
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
    for case in &cases {
        let status = probe(case)?;
        if status != case.expect {
            bail!("{}: answered {status}, expected {}", case.name, case.expect);
        }
        let url = format!("http://{}{}", case.server.addr, case.path);
        let mut plan = Plan {
            url: &url,
            seconds: 2,
            connections: options.connections,
            threads: 2,
            script: case.body.map(|_| script.as_path()),
            headers: case.headers,
        };
        wrk::run(&plan)?;
        plan.seconds = options.seconds;
        let load = wrk::run(&plan)?;
        check(case.name, case.expect, &load)?;
        println!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms |",
            case.name, load.requests_per_second, load.p50_ms, load.p99_ms
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
fn probe(case: &Case<'_>) -> Result<u16, anyhow::Error> {
    use std::io::{Read, Write};

    let mut stream = std::net::TcpStream::connect(&case.server.addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let method = if case.body.is_some() { "POST" } else { "GET" };
    let body = case.body.unwrap_or_default();
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
