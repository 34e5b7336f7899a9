//! The issuer binary SIGKILLed in the middle of concurrent registrations, then started again
//! on the same database and stream: no answered registration is lost, and the outbox
//! delivers exactly one `user.registered` event per user row, none for a missing row.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use test_support::accounts::{register_body, CHEAP_ARGON2};
use test_support::binary::{command, listening};
use test_support::database::{database_url, drop_database, psql, unique_name};

use crate::harness::binaries::cargo_built;
use crate::harness::{eventually, unique_email, NatsSettings, PASSWORD, SECRET};

const WAIT: Duration = Duration::from_secs(60);
const WORKERS: usize = 8;

/// The issuer binary with its own database and stream; killed on drop.
struct Issuer {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(binary: &str, env: &[(String, String)]) -> Issuer {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (child, addr) = listening(&mut command(binary, &env), "issuer listening")
        .unwrap_or_else(|err| panic!("the issuer binary: {err}"));
    Issuer { child, addr }
}

/// Registers fresh addresses in a loop until the issuer stops answering; the addresses
/// answered 201.
async fn register_until_it_dies(
    addr: SocketAddr,
    answered: Arc<Mutex<Vec<String>>>,
    dead: Arc<AtomicBool>,
) {
    let http = reqwest::Client::new();
    while !dead.load(Ordering::SeqCst) {
        let email = unique_email();
        let sent = http
            .post(format!("http://{addr}/api/v1/auth/register"))
            .json(&register_body(&email, PASSWORD))
            .send()
            .await;
        match sent {
            Ok(response) if response.status().as_u16() == 201 => {
                if let Ok(mut all) = answered.lock() {
                    all.push(email);
                }
            }
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                // Once killed, nothing answers; while alive, only 201 is expected.
                assert!(
                    dead.load(Ordering::SeqCst),
                    "register answered {status}: {body}"
                );
            }
            Err(_) => return, // killed mid-request, or refused: the process is gone
        }
    }
}

/// Fails if a registration answered 201 was not committed with its event (the row or the
/// event missing), if the relay republishes after the restart without the stream's
/// de-duplication catching it (two events for one user), or if an event escapes for a
/// registration whose transaction died with the process (an event without its row).
#[tokio::test]
async fn sigkill_mid_load_loses_no_answered_registration_and_no_event() {
    let binary =
        tokio::task::spawn_blocking(|| cargo_built(&["-p", "issuer", "--bin", "issuer"], "issuer"))
            .await
            .unwrap_or_else(|err| panic!("build: {err}"));
    let binary = binary.to_string_lossy().into_owned();
    let database = unique_name();
    let nats = NatsSettings::unique();
    let mut env: Vec<(String, String)> = [
        ("JWT_SECRET_KEY", SECRET),
        ("ISSUER_ADDR", "127.0.0.1:0"),
        ("RATE_LIMIT_REGISTER_PER_IP_PER_HOUR", "1000000"),
        ("RATE_LIMIT_REGISTER_PER_ACCOUNT_PER_HOUR", "1000000"),
    ]
    .iter()
    .chain(&CHEAP_ARGON2)
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    env.push(("DATABASE_URL".into(), database_url(&database)));
    env.extend(nats.env());

    let mut first = start(&binary, &env);
    let answered: Arc<Mutex<Vec<String>>> = Arc::default();
    let dead = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            tokio::spawn(register_until_it_dies(
                first.addr,
                Arc::clone(&answered),
                Arc::clone(&dead),
            ))
        })
        .collect();
    let count = || answered.lock().map(|a| a.len()).unwrap_or(0);
    let loaded = eventually(WAIT, || async { count() >= 40 }).await;
    assert!(loaded, "only {} registrations answered", count());
    // Mid-load: requests are in flight on every worker.
    dead.store(true, Ordering::SeqCst);
    first
        .child
        .kill()
        .unwrap_or_else(|err| panic!("SIGKILL: {err}"));
    let _ = first.child.wait();
    for worker in workers {
        worker
            .await
            .unwrap_or_else(|err| panic!("a worker failed: {err}"));
    }
    let answered: Vec<String> = answered.lock().map(|a| a.clone()).unwrap_or_default();

    // Started again on the same database and stream, it drains the outbox.
    let second = start(&binary, &env);
    let drained = eventually(WAIT, || {
        let database = database.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                psql(
                    &database,
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL",
                )
            })
            .await
            .is_ok_and(|unsent| unsent == "0")
        }
    })
    .await;
    assert!(drained, "the restarted issuer did not drain the outbox");

    let users: HashMap<String, String> = {
        let database = database.clone();
        tokio::task::spawn_blocking(move || {
            psql(
                &database,
                "SELECT string_agg(id::text || ' ' || email, ',') FROM users",
            )
        })
        .await
        .unwrap_or_else(|err| panic!("psql: {err}"))
        .split(',')
        .filter_map(|row| row.split_once(' '))
        .map(|(id, email)| (id.to_owned(), email.to_owned()))
        .collect()
    };
    let events = nats.published("user.registered", users.len(), WAIT).await;
    drop(second);

    let mut per_user: HashMap<String, usize> = HashMap::new();
    let mut ids = HashSet::new();
    for (msg_id, event) in &events {
        assert!(
            ids.insert(msg_id.clone()),
            "event {msg_id} twice on the stream"
        );
        let user = event["data"]["user_id"].as_str().unwrap_or_default();
        assert!(
            users.contains_key(user),
            "an event for a user with no row: {event}"
        );
        assert_eq!(
            event["data"]["email"].as_str(),
            users.get(user).map(String::as_str),
            "{event}"
        );
        *per_user.entry(user.to_owned()).or_default() += 1;
    }
    for (id, email) in &users {
        assert_eq!(
            per_user.get(id),
            Some(&1),
            "user {email}: not exactly one user.registered event"
        );
    }
    let emails: HashSet<&String> = users.values().collect();
    for email in &answered {
        assert!(emails.contains(email), "answered 201 but no row: {email}");
    }
    assert_eq!(
        emails.len(),
        users.len(),
        "two rows for one address: {users:?}"
    );

    nats.delete_stream().await;
    let _ = tokio::task::spawn_blocking(move || drop_database(&database)).await;
}
