//! `bench outbox`: how fast the relay drains a backlog, and how long an event takes from the
//! API's answer to a subscriber under steady load. Each figure is printed next to a baseline
//! measured in the same run: JetStream on its own, with no database and no relay.
//!
//! Runs against the local Postgres and NATS (`DATABASE_URL` server, `NATS_URL`), in a database
//! and a stream of its own that it removes at the end.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use async_nats::jetstream;
use futures_util::StreamExt;
use issuer::app::App;
use issuer::config::IssuerConfig;
use issuer::state::AppState;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::stats::Latencies;

struct Options {
    backlog: usize,
    rate: u32,
    seconds: u64,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, anyhow::Error> {
        let mut options = Options {
            backlog: 10_000,
            rate: 200,
            seconds: 10,
        };
        for (flag, value) in crate::flags::pairs(args, &["--backlog", "--rate", "--seconds"])? {
            match flag {
                "--backlog" => options.backlog = value.parse().context("--backlog")?,
                "--rate" => options.rate = value.parse().context("--rate")?,
                _ => options.seconds = value.parse().context("--seconds")?,
            }
        }
        if options.rate == 0 || options.backlog == 0 {
            bail!("--rate and --backlog must be positive");
        }
        Ok(options)
    }
}

/// Where a bench runs: its own database and stream, dropped at the end.
pub(crate) struct Target {
    admin_url: String,
    database: String,
    pub(crate) nats_url: String,
    pub(crate) stream: String,
    pub(crate) prefix: String,
    /// The signing key the issuer (and a verifier following it) is given.
    pub(crate) secret: String,
}

impl Target {
    /// A target named after the bench `kind` (`outbox`, `logout_all`).
    pub(crate) fn new(kind: &str) -> Target {
        let id = Uuid::new_v4().simple().to_string();
        let id = &id[..12];
        Target {
            admin_url: std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
            database: format!("bench_{kind}_{id}"),
            nats_url: std::env::var("NATS_URL")
                .unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned()),
            stream: format!("BENCH_{}_{id}", kind.to_uppercase()),
            prefix: format!("bench{id}"),
            secret: Uuid::new_v4().simple().to_string().repeat(2),
        }
    }

    pub(crate) fn issuer_config(&self) -> Result<IssuerConfig, anyhow::Error> {
        let mut database_url: tokio_postgres::Config = self.admin_url.parse()?;
        database_url.dbname(&self.database);
        let url = postgres_url(&database_url);
        let secret = self.secret.clone();
        let env: HashMap<&str, String> = [
            ("DATABASE_URL", url),
            ("NATS_URL", self.nats_url.clone()),
            ("NATS_STREAM", self.stream.clone()),
            ("NATS_SUBJECT_PREFIX", self.prefix.clone()),
            ("JWT_SECRET_KEY", secret),
            ("ISSUER_ADDR", "127.0.0.1:0".to_owned()),
            // The event path is what is measured, not password hashing: cheapest argon2.
            ("ARGON2_MEMORY_KIB", "64".to_owned()),
            ("ARGON2_ITERATIONS", "1".to_owned()),
            ("ARGON2_MAX_QUEUED", "1000".to_owned()),
            // Every registration comes from this one address.
            ("RATE_LIMIT_REGISTER_PER_IP_PER_HOUR", "0".to_owned()),
        ]
        .into_iter()
        .collect();
        Ok(IssuerConfig::from_lookup(&|name| env.get(name).cloned())?)
    }

    pub(crate) async fn postgres(&self) -> Result<tokio_postgres::Client, anyhow::Error> {
        let mut config: tokio_postgres::Config = self.admin_url.parse()?;
        config.dbname(&self.database);
        let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    pub(crate) async fn remove(&self, js: &jetstream::Context) {
        let _ = js.delete_stream(&self.stream).await;
        if let Ok(config) = self.admin_url.parse::<tokio_postgres::Config>() {
            if let Ok((client, connection)) = config.connect(tokio_postgres::NoTls).await {
                tokio::spawn(connection);
                let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database);
                let _ = client.batch_execute(&drop).await;
            }
        }
    }
}

pub fn postgres_url(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    let database = config.get_dbname().unwrap_or("postgres");
    format!("postgres://{user}{password}@{host}:{port}/{database}")
}

pub async fn run(args: &[String]) -> Result<(), anyhow::Error> {
    let options = Options::parse(args)?;
    let target = Target::new("outbox");
    let nats = async_nats::connect(target.nats_url.as_str())
        .await
        .context("cannot reach NATS (NATS_URL)")?;
    let js = jetstream::new(nats.clone());
    let result = measure(&options, &target, &nats, &js).await;
    target.remove(&js).await;
    result
}

async fn measure(
    options: &Options,
    target: &Target,
    nats: &async_nats::Client,
    js: &jetstream::Context,
) -> Result<(), anyhow::Error> {
    let app = App::build(target.issuer_config()?).await?;
    let state = app.state();
    wait_for_nats(&state).await?;
    // Stream set-up and the first publish happen here, outside the timed part.
    let db = target.postgres().await?;
    insert_backlog(&db, 1).await?;
    state.relay.drain().await?;

    println!(
        "outbox drain: a backlog of {} events, batch size {}",
        options.backlog, state.config.settings.outbox_batch_size
    );
    let baseline = raw_publish(js, &target.prefix, options.backlog).await?;
    insert_backlog(&db, options.backlog).await?;
    let started = Instant::now();
    let relayed = state.relay.drain().await?;
    let elapsed = started.elapsed();
    if relayed != options.backlog {
        bail!(
            "the relay published {relayed} events of {}",
            options.backlog
        );
    }
    let left: i64 = db
        .query_one(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL",
            &[],
        )
        .await?
        .get(0);
    if left != 0 {
        bail!("{left} events are still pending after the drain");
    }
    let relay_rate = options.backlog as f64 / elapsed.as_secs_f64();
    println!(
        "  {:<44} {:>10.0} events/s",
        "JetStream publish alone (baseline)", baseline
    );
    println!(
        "  {:<44} {:>10.0} events/s",
        "outbox relay (read, publish, ack, mark)", relay_rate
    );
    println!("  ratio relay / baseline: {:.2}", relay_rate / baseline);

    println!(
        "\nend-to-end latency: {} registrations/s for {} s, API response -> event at a subscriber",
        options.rate, options.seconds
    );
    let floor = publish_latency(nats, js, &target.prefix, options).await?;
    let (events, early) = api_to_event_latency(app, nats, &target.prefix, options).await?;
    print_latency("JetStream publish -> subscriber (baseline)", &floor);
    print_latency("register response -> user.registered", &events);
    println!(
        "  {:<44} {early} of {} events arrived before their 201 and count as 0 ms",
        "",
        events.len()
    );
    if let (Some(base), Some(ours)) = (floor.percentile(99.0), events.percentile(99.0)) {
        println!(
            "  p99 ratio event / baseline: {:.1}",
            ours.as_secs_f64() / base.as_secs_f64().max(1e-6)
        );
    }
    Ok(())
}

pub(crate) async fn wait_for_nats(state: &AppState) -> Result<(), anyhow::Error> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !state.relay.nats_connected() {
        if Instant::now() > deadline {
            bail!("the issuer did not connect to NATS within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Writes `count` pending `user.registered` events shaped like the issuer's own.
async fn insert_backlog(db: &tokio_postgres::Client, count: usize) -> Result<(), anyhow::Error> {
    let count = i64::try_from(count)?;
    db.execute(
        "INSERT INTO outbox (event_id, event_type, payload)
         SELECT id, 'user.registered', jsonb_build_object(
             'event_id', id, 'event_type', 'user.registered', 'timestamp', now(),
             'data', jsonb_build_object('user_id', gen_random_uuid(),
                 'email', 'bench' || n || '@example.com',
                 'email_verification_token', md5(n::text) || md5(id::text)))
         FROM (SELECT gen_random_uuid() AS id, n FROM generate_series(1, $1::bigint) AS n) AS rows",
        &[&count],
    )
    .await?;
    Ok(())
}

/// The same number of same-sized messages published straight to the stream, pipelined the
/// way the relay does it (a batch of publishes, then their acks): what no relay can beat.
async fn raw_publish(
    js: &jetstream::Context,
    prefix: &str,
    count: usize,
) -> Result<f64, anyhow::Error> {
    let payload = serde_json::to_vec(&sample_event())?;
    let subject = format!("{prefix}.baseline");
    let started = Instant::now();
    let mut sent = 0;
    while sent < count {
        let batch = (count - sent).min(500);
        let mut acks = Vec::with_capacity(batch);
        for _ in 0..batch {
            let message = jetstream::message::PublishMessage::build()
                .payload(payload.clone().into())
                .message_id(Uuid::new_v4().to_string());
            acks.push(js.send_publish(subject.clone(), message).await?);
        }
        for ack in acks {
            ack.await?;
        }
        sent += batch;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

fn sample_event() -> Value {
    json!({
        "event_id": Uuid::new_v4(),
        "event_type": "user.registered",
        "timestamp": chrono::Utc::now(),
        "data": {
            "user_id": Uuid::new_v4(),
            "email": "bench12345@example.com",
            "email_verification_token": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        }
    })
}

/// The floor: a message published to the stream at the same rate, timed from the publish
/// call to its arrival at a core-NATS subscriber.
async fn publish_latency(
    nats: &async_nats::Client,
    js: &jetstream::Context,
    prefix: &str,
    options: &Options,
) -> Result<Latencies, anyhow::Error> {
    let subject = format!("{prefix}.floor");
    let mut subscription = nats.subscribe(subject.clone()).await?;
    nats.flush().await?;
    let total = options.rate as u64 * options.seconds;
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / options.rate);
    let mut sent = HashMap::new();
    let (arrived_tx, mut arrived_rx) = mpsc::unbounded_channel();
    let receiver = tokio::spawn(async move {
        while let Some(message) = subscription.next().await {
            let _ = arrived_tx.send((message.payload, Instant::now()));
        }
    });
    for n in 0..total {
        ticks.tick().await;
        let id = n.to_string();
        sent.insert(id.clone(), Instant::now());
        let message = jetstream::message::PublishMessage::build()
            .payload(id.into_bytes().into())
            .message_id(Uuid::new_v4().to_string());
        // The ack is awaited off the schedule, as the relay's are.
        let ack = js.send_publish(subject.clone(), message).await?;
        tokio::spawn(async move { ack.await });
    }
    let mut latencies = Latencies::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while latencies.len() < sent.len() {
        match tokio::time::timeout_at(deadline, arrived_rx.recv()).await {
            Ok(Some((payload, at))) => {
                let id = String::from_utf8_lossy(&payload).into_owned();
                if let Some(start) = sent.get(&id) {
                    latencies.push(at.saturating_duration_since(*start));
                }
            }
            _ => break,
        }
    }
    receiver.abort();
    Ok(latencies)
}

/// Registrations at a steady rate (open loop: one starts every 1/rate s whatever the others
/// do); each event's arrival at a subscriber, minus the moment its API response arrived. The
/// relay publishes after commit, and the response can take longer to reach the client than the
/// event its subscriber: such an event counts as 0 ms, and how many did is returned with the
/// latencies.
async fn api_to_event_latency(
    app: App,
    nats: &async_nats::Client,
    prefix: &str,
    options: &Options,
) -> Result<(Latencies, usize), anyhow::Error> {
    let base = format!("http://{}", app.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    let mut subscription = nats.subscribe(format!("{prefix}.user.registered")).await?;
    nats.flush().await?;
    let (arrived_tx, mut arrived_rx) = mpsc::unbounded_channel();
    let receiver = tokio::spawn(async move {
        while let Some(message) = subscription.next().await {
            let at = Instant::now();
            let user_id = serde_json::from_slice::<Value>(&message.payload)
                .ok()
                .and_then(|event| event["data"]["user_id"].as_str().map(str::to_owned));
            if let Some(user_id) = user_id {
                let _ = arrived_tx.send((user_id, at));
            }
        }
    });

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let total = options.rate as u64 * options.seconds;
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / options.rate);
    let (answered_tx, mut answered_rx) = mpsc::unbounded_channel();
    let mut requests = Vec::with_capacity(usize::try_from(total)?);
    for n in 0..total {
        ticks.tick().await;
        let http = http.clone();
        let url = format!("{base}/api/v1/auth/register");
        let answered = answered_tx.clone();
        requests.push(tokio::spawn(async move {
            let body = json!({
                "email": format!("latency{n}-{}@example.com", Uuid::new_v4().simple()),
                "password": "Bench-Passw0rd!",
                "password_confirmation": "Bench-Passw0rd!",
            });
            let reply = http.post(url).json(&body).send().await.ok()?;
            let at = Instant::now();
            let body: Value = reply.json().await.ok()?;
            let user_id = body["data"]["user_id"].as_str()?.to_owned();
            answered.send((user_id, at)).ok()
        }));
    }
    drop(answered_tx);
    let mut failed = 0;
    for request in requests {
        if !matches!(request.await, Ok(Some(()))) {
            failed += 1;
        }
    }
    let mut answered = HashMap::new();
    while let Some((user_id, at)) = answered_rx.recv().await {
        answered.insert(user_id, at);
    }

    let mut latencies = Latencies::default();
    let mut early = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while latencies.len() < answered.len() {
        match tokio::time::timeout_at(deadline, arrived_rx.recv()).await {
            Ok(Some((user_id, at))) => {
                if let Some(response) = answered.get(&user_id) {
                    if at < *response {
                        early += 1;
                    }
                    latencies.push(at.saturating_duration_since(*response));
                }
            }
            _ => break,
        }
    }
    receiver.abort();
    let _ = stop.send(());
    let _ = server.await;
    println!(
        "  {} registrations answered, {failed} failed, {} events received",
        answered.len(),
        latencies.len()
    );
    if failed > 0 || latencies.len() < answered.len() {
        bail!("not every registration produced an event within 10 s");
    }
    Ok((latencies, early))
}

fn print_latency(label: &str, latencies: &Latencies) {
    let ms = |p: f64| {
        latencies
            .percentile(p)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "  {label:<44} p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        ms(50.0),
        ms(99.0),
        ms(100.0)
    );
}
