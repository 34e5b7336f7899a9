//! `bench bodies [--rounds N] [--requests N]`: the CPU a server spends on a 60 KiB request body
//! of many distinct unknown keys, next to the same size of body holding one long value, at the
//! issuer's login and the verifier's validate-token. Rounds alternate the two bodies so that
//! both see the same machine load; the figure is the server process's own CPU time (all its
//! threads, from /proc) per request, so the client's work is not counted.
//!
//! Both bodies are refused without any other work: the many-keys body at its first key
//! (VALIDATION_ERROR), the one-value body once the value is read (a missing field at login, a
//! token over 8 KiB at validate-token). Decoding that stops at the first unknown key keeps the
//! ratio many keys / one value near 1; a decoder that looks at every key first does not.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context};
use uuid::Uuid;

use crate::servers::Server;
use crate::verifier_bench::verifier_env;

/// The body size both shapes are built to: under the 64 KiB default limit.
const BODY_BYTES: usize = 60 * 1024;

struct Options {
    rounds: u32,
    requests: u32,
}

fn options(args: &[String]) -> Result<Options, anyhow::Error> {
    let mut options = Options {
        rounds: 6,
        requests: 400,
    };
    for (flag, value) in crate::flags::pairs(args, &["--rounds", "--requests"])? {
        match flag {
            "--rounds" => options.rounds = value.parse().context("--rounds")?,
            _ => options.requests = value.parse().context("--requests")?,
        }
    }
    if options.rounds == 0 || options.requests == 0 {
        bail!("--rounds and --requests must be positive");
    }
    Ok(options)
}

/// `{"k000000":0,"k000001":0,…}`: distinct keys, none known, up to `BODY_BYTES`.
pub fn many_keys() -> String {
    let mut body = String::from("{");
    let mut i = 0;
    loop {
        let pair = format!("\"k{i:06}\":0");
        if body.len() + pair.len() + 2 > BODY_BYTES {
            break;
        }
        if i > 0 {
            body.push(',');
        }
        body.push_str(&pair);
        i += 1;
    }
    body.push('}');
    body
}

/// `{"<field>":"aaaa…"}` of exactly `BODY_BYTES`: one known field with one long value.
pub fn one_value(field: &str) -> String {
    let frame = format!("{{\"{field}\":\"\"}}").len();
    format!(
        "{{\"{field}\":\"{}\"}}",
        "a".repeat(BODY_BYTES.saturating_sub(frame))
    )
}

/// One service under test: where it is, which route, and the long-value field it reads.
struct Service<'a> {
    name: &'static str,
    server: &'a Server,
    path: &'static str,
    many_keys: String,
    one_value: String,
    /// (status of the many-keys answer, status of the one-value answer)
    expect: (u16, u16),
}

#[derive(Default, Clone, Copy)]
struct Tally {
    cpu: Duration,
    requests: u32,
}

impl Tally {
    fn per_request_us(self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / f64::from(self.requests.max(1))
    }
}

pub async fn run(args: &[String]) -> Result<(), anyhow::Error> {
    let options = options(args)?;
    let id = Uuid::new_v4().simple().to_string();
    let id = &id[..12];
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut database: tokio_postgres::Config = admin_url.parse().context("DATABASE_URL")?;
    let database_name = format!("bench_bodies_{id}");
    database.dbname(&database_name);
    let result = measure(&options, &database, id).await;
    drop_database(&admin_url, &database_name).await;
    drop_stream(&stream_name(id)).await;
    result
}

fn stream_name(id: &str) -> String {
    format!("BENCH_BODIES_{id}")
}

async fn measure(
    options: &Options,
    database: &tokio_postgres::Config,
    id: &str,
) -> Result<(), anyhow::Error> {
    let secret = verifier_env()
        .into_iter()
        .find(|(k, _)| *k == "JWT_SECRET_KEY")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let mut issuer_env = vec![
        ("DATABASE_URL", crate::outbox_bench::postgres_url(database)),
        ("JWT_SECRET_KEY", secret),
        ("NATS_STREAM", stream_name(id)),
        ("NATS_SUBJECT_PREFIX", format!("benchbodies{id}")),
        ("LOG_LEVEL", "warn".to_owned()),
    ];
    for limit in [
        "RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE",
        "RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE",
    ] {
        issuer_env.push((limit, "0".to_owned()));
    }
    let issuer = Server::start("serve-issuer", Some("ISSUER_ADDR"), &issuer_env)?;
    let mut verifier_vars = verifier_env();
    verifier_vars.retain(|(k, _)| *k != "LOG_LEVEL");
    verifier_vars.push(("LOG_LEVEL", "warn".to_owned()));
    verifier_vars.push(("NATS_STREAM", stream_name(id)));
    verifier_vars.push(("NATS_SUBJECT_PREFIX", format!("benchbodies{id}")));
    let verifier = Server::start("serve-verifier", Some("VERIFIER_ADDR"), &verifier_vars)?;

    let many = many_keys();
    let services = [
        Service {
            name: "issuer POST /api/v1/auth/login",
            server: &issuer,
            path: "/api/v1/auth/login",
            many_keys: many.clone(),
            one_value: one_value("email"),
            expect: (400, 400),
        },
        Service {
            name: "verifier POST /api/v1/auth/validate-token",
            server: &verifier,
            path: "/api/v1/auth/validate-token",
            many_keys: many.clone(),
            one_value: one_value("token"),
            expect: (400, 401),
        },
    ];
    let keys = many.matches("\":0").count();
    println!(
        "body parsing cost: {} rounds x {} requests per body and service, alternating; bodies of {} bytes ({} distinct unknown keys) and {} bytes (one value)",
        options.rounds,
        options.requests,
        many.len(),
        keys,
        services[0].one_value.len(),
    );

    let http = reqwest::Client::new();
    let mut tallies: HashMap<(usize, bool), Tally> = HashMap::new();
    // Warm-up: connections, allocator, branch predictors; not counted.
    for service in &services {
        for body in [&service.many_keys, &service.one_value] {
            send(&http, service, body, 20).await?;
        }
    }
    for round in 0..options.rounds {
        for (index, service) in services.iter().enumerate() {
            // Alternate which body goes first, so neither always follows the other.
            let order = if round % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for many_keys in order {
                let (body, expect) = if many_keys {
                    (&service.many_keys, service.expect.0)
                } else {
                    (&service.one_value, service.expect.1)
                };
                let before = service.server.cpu_time()?;
                let statuses = send(&http, service, body, options.requests).await?;
                let after = service.server.cpu_time()?;
                if let Some(status) = statuses.iter().find(|s| **s != expect) {
                    bail!(
                        "{}: expected {expect}, got {status} ({})",
                        service.name,
                        if many_keys { "many keys" } else { "one value" }
                    );
                }
                let tally = tallies.entry((index, many_keys)).or_default();
                tally.cpu += after.since(&before);
                tally.requests += options.requests;
            }
        }
    }

    println!(
        "  {:<44} {:>16} {:>16} {:>8}",
        "service", "many keys µs/req", "one value µs/req", "ratio"
    );
    for (index, service) in services.iter().enumerate() {
        let many = tallies.get(&(index, true)).copied().unwrap_or_default();
        let one = tallies.get(&(index, false)).copied().unwrap_or_default();
        let ratio = many.per_request_us() / one.per_request_us().max(f64::MIN_POSITIVE);
        println!(
            "  {:<44} {:>16.1} {:>16.1} {:>8.2}",
            service.name,
            many.per_request_us(),
            one.per_request_us(),
            ratio
        );
    }
    println!("  (ratio = many keys / one value, server CPU per request; target: at most ~5)");
    Ok(())
}

/// Sends `body` `count` times, one after another on a kept-alive connection; the statuses.
async fn send(
    http: &reqwest::Client,
    service: &Service<'_>,
    body: &str,
    count: u32,
) -> Result<Vec<u16>, anyhow::Error> {
    let url = format!("http://{}{}", service.server.addr, service.path);
    let mut statuses = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let response = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        statuses.push(response.status().as_u16());
        // Read the answer to the end so the connection is reused.
        let _ = response.bytes().await;
    }
    Ok(statuses)
}

pub async fn drop_database(admin_url: &str, database: &str) {
    if let Ok(config) = admin_url.parse::<tokio_postgres::Config>() {
        if let Ok((client, connection)) = config.connect(tokio_postgres::NoTls).await {
            tokio::spawn(connection);
            let drop = format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
            let _ = client.batch_execute(&drop).await;
        }
    }
}

pub async fn drop_stream(stream: &str) {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    if let Ok(nats) = async_nats::connect(url.as_str()).await {
        let _ = async_nats::jetstream::new(nats).delete_stream(stream).await;
    }
}
