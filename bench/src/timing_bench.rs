//! `bench timing [--rounds N]`: whether the issuer's answers tell, by their timing, that an
//! email is registered. Login with a wrong password for a registered email against login for
//! an unknown one (both spend one argon2id verification), and a password-reset request for a
//! registered email against one for an unknown email (both answered before any database work).
//! Requests alternate between the two sides so that both see the same machine load; the figure
//! is the gap between the two medians, as a percentage of the smaller.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;
use uuid::Uuid;

use crate::bodies_bench::{drop_database, drop_stream};
use crate::servers::Server;
use crate::stats::Latencies;

pub async fn run(args: &[String]) -> Result<(), anyhow::Error> {
    let mut rounds: usize = 40;
    for (_, value) in crate::flags::pairs(args, &["--rounds"])? {
        rounds = value.parse().context("--rounds")?;
    }
    if rounds == 0 {
        bail!("--rounds must be positive");
    }
    let id = Uuid::new_v4().simple().to_string();
    let id = &id[..12];
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut database: tokio_postgres::Config = admin_url.parse().context("DATABASE_URL")?;
    let database_name = format!("bench_timing_{id}");
    database.dbname(&database_name);
    let stream = format!("BENCH_TIMING_{id}");
    let env = vec![
        ("DATABASE_URL", crate::outbox_bench::postgres_url(&database)),
        (
            "JWT_SECRET_KEY",
            "bench-timing-secret-0123456789abcdef0123".to_owned(),
        ),
        ("NATS_STREAM", stream.clone()),
        ("NATS_SUBJECT_PREFIX", format!("benchtiming{id}")),
        ("LOG_LEVEL", "warn".to_owned()),
        ("RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE", "0".to_owned()),
        ("RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE", "0".to_owned()),
        ("RATE_LIMIT_RESEND_PER_IP_PER_HOUR", "0".to_owned()),
        ("RATE_LIMIT_RESEND_PER_ACCOUNT_PER_HOUR", "0".to_owned()),
        ("LOGIN_LOCKOUT_THRESHOLD", "0".to_owned()),
    ];
    let result = measure(&env, rounds).await;
    drop_database(&admin_url, &database_name).await;
    drop_stream(&stream).await;
    result
}

async fn measure(env: &[(&str, String)], rounds: usize) -> Result<(), anyhow::Error> {
    let issuer = Server::start("serve-issuer", Some("ISSUER_ADDR"), env)?;
    let http = reqwest::Client::new();
    let base = format!("http://{}/api/v1/auth", issuer.addr);
    let known = format!("timing-{}@example.com", Uuid::new_v4().simple());
    let password = "Correct-Horse-9";
    let registered = http
        .post(format!("{base}/register"))
        .json(&json!({"email": known, "password": password, "password_confirmation": password}))
        .send()
        .await?;
    if registered.status() != 201 {
        bail!("registration answered {}", registered.status());
    }
    println!("answer timing, {rounds} alternating rounds after 2 of warm-up (release build)");
    let login = |email: String| json!({"email": email, "password": "Wrong-Horse-9"});
    let reset = |email: String| json!({"email": email});
    for (name, path, body, status) in [
        (
            "login, wrong password vs unknown email",
            "/login",
            &login as &dyn Fn(String) -> serde_json::Value,
            401,
        ),
        (
            "password-reset request, known vs unknown email",
            "/password-reset/request",
            &reset,
            202,
        ),
    ] {
        let (mut known_side, mut unknown_side) = (Latencies::default(), Latencies::default());
        for round in 0..rounds + 2 {
            let unknown = format!("nobody-{}@example.com", Uuid::new_v4().simple());
            // Alternate which side goes first, so that neither always follows the other.
            let mut sides = [(&known, &mut known_side), (&unknown, &mut unknown_side)];
            if round % 2 == 1 {
                sides.reverse();
            }
            for (email, side) in sides {
                let started = Instant::now();
                let answer = http
                    .post(format!("{base}{path}"))
                    .json(&body(email.clone()))
                    .send()
                    .await?;
                if answer.status() != status {
                    bail!("{name}: answered {} instead of {status}", answer.status());
                }
                if round >= 2 {
                    side.push(started.elapsed());
                }
            }
        }
        let (Some(k), Some(u)) = (known_side.percentile(50.0), unknown_side.percentile(50.0))
        else {
            bail!("{name}: no samples");
        };
        let gap = (k.as_secs_f64() - u.as_secs_f64()).abs() / k.min(u).as_secs_f64().max(1e-9);
        println!(
            "  {name}: medians {} / {} , gap {:.1} % (target under 10 %)",
            ms(k),
            ms(u),
            gap * 100.0
        );
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
