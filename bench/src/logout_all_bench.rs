//! `bench logout-all`: a user with `--sessions` live sessions (default 1 000) logs out
//! everywhere. Prints how long `POST /logout-all` takes to answer, and how long after that
//! answer a running verifier refuses every one of the sessions' access tokens.
//!
//! Runs the issuer and a verifier in process against the local Postgres and NATS, in a
//! database and a stream of its own that it removes at the end.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use async_nats::jetstream;
use common::jwt::{AccessClaims, TokenError, TokenType};
use issuer::app::App;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::outbox_bench::{wait_for_nats, Target};

const PASSWORD: &str = "Correct-Horse-9";

/// How long the verifier is given to refuse every token before the bench gives up.
const PATIENCE: Duration = Duration::from_secs(30);

fn sessions_flag(args: &[String]) -> Result<usize, anyhow::Error> {
    let mut sessions = 1_000;
    for (_, value) in crate::flags::pairs(args, &["--sessions"])? {
        sessions = value.parse().context("--sessions")?;
    }
    if sessions == 0 {
        bail!("--sessions must be positive");
    }
    Ok(sessions)
}

pub async fn run(args: &[String]) -> Result<(), anyhow::Error> {
    let sessions = sessions_flag(args)?;
    let target = Target::new("logout_all");
    let nats = async_nats::connect(target.nats_url.as_str())
        .await
        .context("cannot reach NATS (NATS_URL)")?;
    let js = jetstream::new(nats);
    let result = measure(sessions, &target).await;
    target.remove(&js).await;
    result
}

async fn measure(sessions: usize, target: &Target) -> Result<(), anyhow::Error> {
    let app = App::build(target.issuer_config()?).await?;
    let state = app.state();
    let addr = app.local_addr()?;
    wait_for_nats(&state).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let api = format!("http://{addr}/api/v1/auth");
    let email = format!("bench-{}@example.com", Uuid::new_v4().simple());

    // One session by login (its token asks), the others written straight to the database.
    post(
        &http,
        &format!("{api}/register"),
        json!({"email": email, "password": PASSWORD, "password_confirmation": PASSWORD}),
        None,
    )
    .await?;
    let login = post(
        &http,
        &format!("{api}/login"),
        json!({"email": email, "password": PASSWORD}),
        None,
    )
    .await?;
    let caller = login["access_token"]
        .as_str()
        .context("access_token")?
        .to_owned();
    let user_id: Uuid = login["user_id"].as_str().context("user_id")?.parse()?;
    let db = target.postgres().await?;
    let extra = i64::try_from(sessions - 1)?;
    let rows = db
        .query(
            "INSERT INTO sessions (id, user_id, refresh_jti, refresh_issued_at, created_at, \
             expires_at, access_expires_at) \
             SELECT gen_random_uuid(), $1, gen_random_uuid(), now(), now(), \
                    now() + interval '7 days', now() + interval '1 day' \
             FROM generate_series(1, $2::bigint) RETURNING id",
            &[&user_id, &extra],
        )
        .await?;
    let now = chrono::Utc::now().timestamp();
    let mut tokens = vec![caller.clone()];
    for row in &rows {
        let sid: Uuid = row.try_get(0)?;
        tokens.push(state.tokens.sign_access(&AccessClaims {
            iss: state.tokens.issuer().to_owned(),
            sub: user_id,
            email: email.clone(),
            email_verified: false,
            typ: TokenType::Access,
            sid,
            jti: Uuid::new_v4(),
            iat: now,
            exp: now + 3600,
        })?);
    }

    let verifier = start_verifier(target).await?;
    let accepted = tokens
        .iter()
        .filter(|token| verifier.verify(token).is_ok())
        .count();
    if accepted != tokens.len() {
        bail!(
            "the verifier accepts {accepted} of {} tokens before the logout",
            tokens.len()
        );
    }

    println!("logout-all: one user with {sessions} live sessions, a verifier following the stream");
    let started = Instant::now();
    let answer = post(
        &http,
        &format!("{api}/logout-all"),
        json!({}),
        Some(&caller),
    )
    .await?;
    let answered = started.elapsed();
    if answer["revoked_sessions"] != json!(sessions) {
        bail!("logout-all answered {answer}");
    }
    let after = Instant::now();
    let mut pending: Vec<&String> = tokens.iter().collect();
    while !pending.is_empty() {
        pending.retain(|token| !matches!(verifier.verify(token), Err(TokenError::Revoked)));
        if after.elapsed() > PATIENCE {
            bail!(
                "{} tokens still pass the verifier after {PATIENCE:?}",
                pending.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let reached = after.elapsed();
    println!(
        "  {:<56} {:>8.1} ms",
        "POST /logout-all answered",
        ms(answered)
    );
    println!(
        "  {:<56} {:>8.1} ms",
        format!("then all {sessions} revocations reached the verifier"),
        ms(reached)
    );
    println!(
        "  {:<56} {:>8.1} ms",
        "total, request sent -> last token refused",
        ms(answered + reached)
    );
    let _ = stop.send(());
    let _ = server.await;
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A verifier in process, following the target's stream, once its replay is complete.
async fn start_verifier(
    target: &Target,
) -> Result<std::sync::Arc<verifier::state::AppState>, anyhow::Error> {
    let env: HashMap<&str, String> = [
        ("JWT_SECRET_KEY", target.secret.clone()),
        ("VERIFIER_ADDR", "127.0.0.1:0".to_owned()),
        ("NATS_URL", target.nats_url.clone()),
        ("NATS_STREAM", target.stream.clone()),
        ("NATS_SUBJECT_PREFIX", target.prefix.clone()),
    ]
    .into_iter()
    .collect();
    let config = verifier::config::VerifierConfig::from_lookup(&|name| env.get(name).cloned())?;
    let app = verifier::app::App::build(config).await?;
    let state = app.state();
    tokio::spawn(app.run_until(std::future::pending()));
    let deadline = Instant::now() + PATIENCE;
    while !state.revocations.replay_complete() {
        if Instant::now() > deadline {
            bail!("the verifier did not finish its replay within {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(state)
}

/// POSTs `body`; the envelope's `data`, or an error naming the status.
async fn post(
    http: &reqwest::Client,
    url: &str,
    body: Value,
    bearer: Option<&str>,
) -> Result<Value, anyhow::Error> {
    let mut request = http.post(url).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        bail!("{url}: {status} {body}");
    }
    Ok(body["data"].clone())
}
