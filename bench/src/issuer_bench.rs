//! `bench issuer [--sessions N] [--seconds N] [--users N]`: the issuer's logins/s (argon2id at
//! the configured cost, default m=19456 t=2 p=1, on every core, rate limits and lockout off)
//! and refreshes/s over `--sessions` live sessions (default 200), each with p50/p99 and the
//! issuer's CPU per request; then one argon2id hash with the pooled working memory against a
//! fresh allocation (the argon2 crate's own `hash_password`), and the logout-all figure.
//!
//! The issuer runs as a child process against its own database and stream, removed at the end.
//! wrk (one thread, both cores shared with the issuer and Postgres) cycles through the users'
//! login bodies, then through the sessions' refresh tokens.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::{stream, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::bodies_bench::{drop_database, drop_stream};
use crate::servers::{cpu_time_of, Server};
use crate::stats::median;
use crate::verifier_bench::{load_average, Case, SHARED};
use crate::wrk::Load;

const PASSWORD: &str = "Correct-Horse-9";

struct Options {
    sessions: usize,
    seconds: u32,
    users: usize,
}

fn options(args: &[String]) -> Result<Options, anyhow::Error> {
    let mut options = Options {
        sessions: 200,
        seconds: 10,
        users: 16,
    };
    for (flag, value) in crate::flags::pairs(args, &["--sessions", "--seconds", "--users"])? {
        match flag {
            "--sessions" => options.sessions = value.parse().context("--sessions")?,
            "--seconds" => options.seconds = value.parse().context("--seconds")?,
            _ => options.users = value.parse().context("--users")?,
        }
    }
    if options.sessions == 0 || options.seconds == 0 || options.users == 0 {
        bail!("--sessions, --seconds and --users must be positive");
    }
    Ok(options)
}

pub async fn run(args: &[String]) -> Result<(), anyhow::Error> {
    let options = options(args)?;
    let id = Uuid::new_v4().simple().to_string();
    let id = &id[..12];
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut database: tokio_postgres::Config = admin_url.parse().context("DATABASE_URL")?;
    let database_name = format!("bench_issuer_{id}");
    database.dbname(&database_name);
    let stream = format!("BENCH_ISSUER_{id}");
    let mut env = vec![
        ("DATABASE_URL", crate::outbox_bench::postgres_url(&database)),
        (
            "JWT_SECRET_KEY",
            "bench-issuer-secret-0123456789abcdef0123".to_owned(),
        ),
        ("NATS_STREAM", stream.clone()),
        ("NATS_SUBJECT_PREFIX", format!("benchissuer{id}")),
        ("LOG_LEVEL", "warn".to_owned()),
        ("LOGIN_LOCKOUT_THRESHOLD", "0".to_owned()),
    ];
    for limit in [
        "RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE",
        "RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE",
        "RATE_LIMIT_REGISTER_PER_IP_PER_HOUR",
        "RATE_LIMIT_REGISTER_PER_ACCOUNT_PER_HOUR",
    ] {
        env.push((limit, "0".to_owned()));
    }
    let script_dir = std::env::temp_dir().join(format!("bench-issuer-{}", std::process::id()));
    let result = measure(&env, &options, &script_dir).await;
    let _ = std::fs::remove_dir_all(&script_dir);
    drop_database(&admin_url, &database_name).await;
    drop_stream(&stream).await;
    result?;
    single_hash().await?;
    println!();
    crate::logout_all_bench::run(&[]).await
}

async fn measure(
    env: &[(&str, String)],
    options: &Options,
    script_dir: &Path,
) -> Result<(), anyhow::Error> {
    let issuer = Server::start("serve-issuer", Some("ISSUER_ADDR"), env)?;
    let http = reqwest::Client::new();
    let api = format!("http://{}/api/v1/auth", issuer.addr);
    let emails: Vec<String> = (0..options.users)
        .map(|i| format!("bench-{i}-{}@example.com", Uuid::new_v4().simple()))
        .collect();
    stream::iter(&emails)
        .map(|email| {
            let body =
                json!({"email": email, "password": PASSWORD, "password_confirmation": PASSWORD});
            post(&http, format!("{api}/register"), body, 201)
        })
        .buffer_unordered(4)
        .try_collect::<Vec<_>>()
        .await?;
    let login_bodies: Vec<String> = emails
        .iter()
        .map(|email| json!({"email": email, "password": PASSWORD}).to_string())
        .collect();
    let sessions: Vec<String> = stream::iter(0..options.sessions)
        .map(|i| {
            let body = json!({"email": emails[i % emails.len()], "password": PASSWORD});
            post(&http, format!("{api}/login"), body, 200)
        })
        .buffer_unordered(4)
        .map(|answer| {
            answer.and_then(|data| {
                let token = data["refresh_token"].as_str().context("refresh_token")?;
                Ok(json!({ "refresh_token": token }).to_string())
            })
        })
        .try_collect()
        .await?;

    println!(
        "issuer on every core ({} cores), wrk -t1 beside it; rate limits and lockout off; load average before: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    let json = ["Content-Type: application/json".to_owned()];
    let login_script = cycling_script(&script_dir.join("login"), &login_bodies)?;
    let refresh_script = cycling_script(&script_dir.join("refresh"), &sessions)?;
    let login = Case {
        name: "login",
        server: &issuer,
        path: "/api/v1/auth/login",
        headers: &json,
        body: Some((&login_bodies[0], &login_script)),
        expect: 200,
    };
    let refresh = Case {
        name: "refresh",
        server: &issuer,
        path: "/api/v1/auth/refresh",
        headers: &json,
        body: Some((&sessions[0], &refresh_script)),
        expect: 200,
    };
    println!("\n| case | connections | requests/s | p50 | p99 | issuer CPU per request | Postgres CPU per request |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    // Logins queue for the hashing slots; more connections than that only lengthen the queue.
    for (case, connections, what) in [
        (&login, 16, format!("login ({} users)", options.users)),
        (
            &refresh,
            64,
            format!("refresh ({} sessions)", options.sessions),
        ),
    ] {
        case.load(SHARED, 2, connections)?;
        let before = (issuer.cpu_time()?, cpu_time_of("postgres"));
        let load = case.load(SHARED, options.seconds, connections)?;
        let cpu = issuer.cpu_time()?.since(&before.0);
        let postgres = cpu_time_of("postgres").saturating_sub(before.1);
        println!(
            "| {what} | {connections} | {:.0} | {:.2} ms | {:.2} ms | {:.0} µs | {:.0} µs |",
            load.requests_per_second,
            load.p50_ms,
            load.p99_ms,
            per_request_us(cpu, &load),
            per_request_us(postgres, &load)
        );
    }
    Ok(())
}

fn per_request_us(cpu: Duration, load: &Load) -> f64 {
    cpu.as_secs_f64() * 1e6 / load.requests.max(1) as f64
}

/// A wrk script POSTing `bodies` in turn.
fn cycling_script(dir: &Path, bodies: &[String]) -> Result<PathBuf, anyhow::Error> {
    std::fs::create_dir_all(dir)?;
    let mut script = String::from("wrk.method = \"POST\"\nlocal bodies = {\n");
    for body in bodies {
        if body.contains("]==]") {
            bail!("a body cannot go into a Lua long string");
        }
        script.push_str(&format!("  [==[{body}]==],\n"));
    }
    script.push_str(
        "}\nlocal next = 0\nrequest = function()\n  next = next % #bodies + 1\n  \
         return wrk.format(nil, nil, nil, bodies[next])\nend\n",
    );
    let path = dir.join("cycle.lua");
    std::fs::write(&path, script)?;
    Ok(path)
}

/// POSTs `body` and returns the envelope's `data`, or an error when the status is not `expect`.
async fn post(
    http: &reqwest::Client,
    url: String,
    body: Value,
    expect: u16,
) -> Result<Value, anyhow::Error> {
    let response = http.post(&url).json(&body).send().await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    if status != expect {
        bail!("{url}: {status} {answer}");
    }
    Ok(answer["data"].clone())
}

/// One hash at the default cost with the issuer's pooled working memory, and with a fresh
/// allocation per hash (the argon2 crate's `hash_password`), alternating, on one core each.
async fn single_hash() -> Result<(), anyhow::Error> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};

    let cost = issuer::auth::password::HashCost {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };
    let hasher = issuer::auth::password::Hasher::new(cost, 1, 0)?;
    let params = argon2::Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|err| anyhow::anyhow!("argon2 parameters: {err}"))?;
    let fresh = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let (mut pooled_ms, mut fresh_ms) = (Vec::new(), Vec::new());
    for round in 0..22 {
        let started = Instant::now();
        hasher.hash(PASSWORD.to_owned()).await?;
        let pooled = started.elapsed();
        let salt = SaltString::generate(&mut OsRng);
        let started = Instant::now();
        fresh
            .hash_password(PASSWORD.as_bytes(), &salt)
            .map_err(|err| anyhow::anyhow!("argon2: {err}"))?;
        let unpooled = started.elapsed();
        // The first two rounds warm up (the pool's first hash allocates its buffer).
        if round >= 2 {
            pooled_ms.push(pooled.as_secs_f64() * 1e3);
            fresh_ms.push(unpooled.as_secs_f64() * 1e3);
        }
    }
    println!(
        "\none argon2id hash (m=19456 t=2 p=1), median of {}: pooled memory {:.1} ms, fresh allocation (argon2's hash_password) {:.1} ms",
        pooled_ms.len(),
        median(&mut pooled_ms),
        median(&mut fresh_ms)
    );
    Ok(())
}
