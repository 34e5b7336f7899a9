//! How events reach NATS: across replicas, on NOTIFY, with the data the contract names, and
//! when NATS is away from the start. Each test has its own database, stream and subject prefix.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};
use test_support::accounts::cheap_argon2;

use crate::harness::{
    claims, eventually, spawn_issuer_with, spawn_unready_verifier_with, unique_email, TestIssuer,
    TestNats, PASSWORD,
};

const WAIT: Duration = Duration::from_secs(10);

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// `(event_id, user_id)` of every outbox row of `event_type`, in id order.
async fn outbox_rows(app: &TestIssuer, event_type: &str) -> Vec<(String, String)> {
    app.events(event_type)
        .await
        .iter()
        .map(|e| (text(&e["event_id"]), text(&e["data"]["user_id"])))
        .collect()
}

/// The session.revoked events that reached the stream, once `count` have.
async fn revocations(app: &TestIssuer, count: usize) -> Vec<Value> {
    let events = app.nats.published("session.revoked", count, WAIT).await;
    events.into_iter().map(|(_, event)| event).collect()
}

#[track_caller]
fn assert_expires_at(event: &Value, exp: i64) {
    let at = chrono::DateTime::parse_from_rfc3339(event["data"]["expires_at"].as_str().unwrap())
        .unwrap_or_else(|err| panic!("expires_at is not RFC 3339: {err}: {event}"));
    assert_eq!(at.timestamp(), exp, "expires_at: {event}");
}

#[tokio::test]
async fn two_replicas_on_one_database_publish_each_event_once_in_outbox_order() {
    let first = spawn_issuer_with(cheap_argon2).await;
    let (url, nats) = (first.database_url.clone(), first.nats.env());
    let second = spawn_issuer_with(move |env| {
        cheap_argon2(env);
        env.insert("DATABASE_URL".into(), url);
        env.extend(nats);
    })
    .await;
    assert_eq!(second.database_url, first.database_url);

    let mut registered = Vec::new();
    for i in 0..100 {
        let replica = if i % 2 == 0 { &first } else { &second };
        let reply = replica.register(&unique_email(), PASSWORD).await;
        reply.assert_success(201);
        registered.push(text(&reply.data()["user_id"]));
    }

    let arrived = first
        .nats
        .published("user.registered", 100, Duration::from_secs(30))
        .await;
    let outbox = outbox_rows(&first, "user.registered").await;
    let users: Vec<&str> = outbox.iter().map(|(_, user)| user.as_str()).collect();
    assert_eq!(users, registered, "each registration wrote one outbox row");
    let arrived_rows: Vec<(String, String)> = arrived
        .iter()
        .map(|(msg_id, e)| {
            assert_eq!(msg_id, &text(&e["event_id"]), "Nats-Msg-Id is the event id");
            (text(&e["event_id"]), text(&e["data"]["user_id"]))
        })
        .collect();
    assert_eq!(
        arrived_rows, outbox,
        "every event once, none twice, in outbox id order"
    );
    // The stream would drop a re-sent copy; the relays' own counts show none was sent.
    let sent =
        first.state.metrics.outbox.published.get() + second.state.metrics.outbox.published.get();
    assert_eq!(sent, 100, "events published by the two relays together");
    assert_eq!(first.unsent_events().await, 0);
}

#[tokio::test]
async fn a_commit_wakes_the_relay_through_notify_long_before_its_next_poll() {
    let app = spawn_issuer_with(|env| {
        env.insert("OUTBOX_POLL_INTERVAL_MS".into(), "600000".into());
    })
    .await;
    let listening = || async {
        let rows = app
            .db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND query = 'LISTEN outbox'",
                &[],
            )
            .await
            .unwrap();
        rows.get::<_, i64>(0) == 1
    };
    let ready = eventually(WAIT, || async {
        app.get("/health", None).await.body["nats"] == "connected" && listening().await
    })
    .await;
    assert!(ready, "the relay never connected to NATS and listened");

    let reply = app.register(&unique_email(), PASSWORD).await;
    reply.assert_success(201);
    // With a 10-minute poll, only the NOTIFY can bring the event within this deadline.
    let arrived = app
        .nats
        .published("user.registered", 1, Duration::from_secs(60))
        .await;

    assert_eq!(
        arrived.len(),
        1,
        "no event within 60 s with a 10-minute poll"
    );
    assert_eq!(arrived[0].1["data"]["user_id"], reply.data()["user_id"]);
}

#[tokio::test]
async fn logged_in_carries_the_socket_peer_unless_a_trusted_proxy_forwarded_the_client() {
    let direct = spawn_issuer_with(|_| {}).await;
    let email = unique_email();
    direct.register(&email, PASSWORD).await.assert_success(201);
    let login = json!({"email": email, "password": PASSWORD});
    direct
        .post_from("203.0.113.7", "/api/v1/auth/login", login.clone())
        .await
        .assert_success(200);

    let proxied = spawn_issuer_with(|env| {
        env.insert("TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
    })
    .await;
    proxied.register(&email, PASSWORD).await.assert_success(201);
    // The client wrote the left entry itself; our proxy appended the address it saw.
    for forwarded in [
        "198.51.100.1, 203.0.113.7",
        "198.51.100.1, 203.0.113.7, 127.0.0.1",
    ] {
        proxied
            .post_from(forwarded, "/api/v1/auth/login", login.clone())
            .await
            .assert_success(200);
    }

    let untrusted = direct.nats.published("user.logged_in", 1, WAIT).await;
    let trusted = proxied.nats.published("user.logged_in", 2, WAIT).await;
    let ips = |events: &[(String, Value)]| -> Vec<String> {
        events
            .iter()
            .map(|(_, e)| text(&e["data"]["ip_address"]))
            .collect()
    };
    assert_eq!(
        ips(&untrusted),
        ["127.0.0.1"],
        "X-Forwarded-For ignored without TRUSTED_PROXIES"
    );
    assert_eq!(
        ips(&trusted),
        ["203.0.113.7", "203.0.113.7"],
        "the right-most untrusted entry, never the client's own"
    );
}

#[tokio::test]
async fn replaying_a_rotated_refresh_token_publishes_the_revocation_of_its_session() {
    let app = spawn_issuer_with(|env| {
        env.insert("REFRESH_TOKEN_ROTATION".into(), "true".into());
    })
    .await;
    let email = unique_email();
    let login = app.signed_in(&email).await;
    let first_refresh = text(&login["refresh_token"]);
    let first_access = claims(login["access_token"].as_str().unwrap());
    app.state.clock.advance(3600);
    let refreshed = app.refresh(&first_refresh).await;
    refreshed.assert_success(200);
    let later_access = claims(refreshed.data()["access_token"].as_str().unwrap());
    assert!(later_access["exp"].as_i64() > first_access["exp"].as_i64());

    let replay = app.refresh(&first_refresh).await;

    replay.assert_error(401, "INVALID_TOKEN");
    let events = revocations(&app, 1).await;
    assert_eq!(events.len(), 1, "one session.revoked: {events:?}");
    assert_eq!(events[0]["data"]["session_id"], first_access["sid"]);
    assert_eq!(events[0]["data"]["user_id"], login["user_id"]);
    assert_expires_at(&events[0], later_access["exp"].as_i64().unwrap());
    // The session is gone: its newest refresh token no longer works either.
    let newest = text(&refreshed.data()["refresh_token"]);
    app.refresh(&newest)
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[tokio::test]
async fn a_logout_after_a_refresh_names_the_refreshed_tokens_expiry() {
    let app = spawn_issuer_with(|_| {}).await;
    let login = app.signed_in(&unique_email()).await;
    let refresh_token = text(&login["refresh_token"]);
    let first_exp = claims(login["access_token"].as_str().unwrap())["exp"].clone();
    app.state.clock.advance(3600);
    let refreshed = app.refresh(&refresh_token).await;
    refreshed.assert_success(200);
    let refreshed_access = claims(refreshed.data()["access_token"].as_str().unwrap());
    // The wall clock moves on too between the two calls.
    let (refreshed_exp, first_exp) = (refreshed_access["exp"].as_i64(), first_exp.as_i64());
    assert!(
        refreshed_exp >= first_exp.map(|exp| exp + 3600),
        "{refreshed_exp:?} vs {first_exp:?}"
    );

    app.logout(&refresh_token).await.assert_success(200);

    let events = revocations(&app, 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["session_id"], refreshed_access["sid"]);
    assert_expires_at(&events[0], refreshed_access["exp"].as_i64().unwrap());
}

#[tokio::test]
async fn with_nats_unreachable_from_the_start_the_issuer_works_the_verifier_fails_closed_and_both_catch_up(
) {
    let mut nats = TestNats::not_started();
    let url = nats.url.clone();
    let app = spawn_issuer_with(move |env| {
        env.insert("NATS_URL".into(), url);
        env.insert("OUTBOX_POLL_INTERVAL_MS".into(), "100".into());
    })
    .await;
    let email = unique_email();
    let registered = app.register(&email, PASSWORD).await;
    registered.assert_success(201);
    let kept = app.login(&email, PASSWORD).await.data().clone();
    let ended = app.login(&email, PASSWORD).await.data().clone();
    let token = |data: &Value| text(&data["access_token"]);
    let health = app.get("/health", None).await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (200, Some("healthy"))
    );
    assert_eq!(health.body["database"], "connected");
    assert_eq!(health.body["nats"], "disconnected");
    assert_eq!(health.body["outbox_backlog"], 3);

    let follow = app.nats.env();
    let verifier = spawn_unready_verifier_with(move |env| env.extend(follow)).await;
    assert_eq!(verifier.health().await["nats"], "disconnected");
    // It cannot know of any logout yet, so it passes no token at all.
    app.logout(ended["refresh_token"].as_str().unwrap())
        .await
        .assert_success(200);
    for session in [&kept, &ended] {
        let status = verifier.status_for(&token(session)).await;
        assert_eq!(
            status, 503,
            "a verifier that cannot know of revocations passed a token"
        );
    }

    nats.resume().await;

    let events = app.nats.published("*", 4, Duration::from_secs(30)).await;
    let types: Vec<String> = events.iter().map(|(_, e)| text(&e["event_type"])).collect();
    assert_eq!(
        types,
        [
            "user.registered",
            "user.logged_in",
            "user.logged_in",
            "session.revoked"
        ],
        "the whole backlog, in order, once"
    );
    let ids: HashSet<&str> = events.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(events[0].1["data"]["user_id"], registered.data()["user_id"]);
    let rejected = eventually(Duration::from_secs(30), || async {
        verifier.status_for(&token(&ended)).await == 401
    })
    .await;
    assert!(rejected, "the verifier never learnt the revocation");
    assert_eq!(verifier.status_for(&token(&kept)).await, 200);
    assert_eq!(verifier.health().await["nats"], "connected");
    let caught_up = eventually(WAIT, || async {
        let health = app.get("/health", None).await;
        health.body["nats"] == "connected" && health.body["outbox_backlog"] == 0
    })
    .await;
    assert!(
        caught_up,
        "the issuer's health: {}",
        app.get("/health", None).await.body
    );
}

/// On a dual-stack `[::]` listener an IPv4 peer is `::ffff:127.0.0.1`: it still matches an IPv4
/// `TRUSTED_PROXIES` entry, and every address the issuer records is the canonical IPv4 form,
/// whichever spelling the proxy forwarded.
#[tokio::test]
async fn a_dual_stack_listener_trusts_an_ipv4_proxy_and_records_canonical_addresses() {
    let app = spawn_issuer_with(|env| {
        env.insert("ISSUER_ADDR".into(), "[::]:0".into());
        env.insert("TRUSTED_PROXIES".into(), "127.0.0.0/8".into());
    })
    .await;
    assert!(app.addr.is_ipv6(), "the listener is {}", app.addr);
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let url = format!("http://127.0.0.1:{}/api/v1/auth/login", app.addr.port());
    let login = json!({"email": email, "password": PASSWORD});
    for forwarded in [Some("203.0.113.7"), Some("::ffff:198.51.100.9"), None] {
        let mut request = app.http.post(&url).json(&login);
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", forwarded);
        }
        let reply = crate::harness::Reply::read(
            request
                .send()
                .await
                .unwrap_or_else(|err| panic!("login over IPv4: {err}")),
        )
        .await;
        reply.assert_success(200);
    }

    let ips: Vec<String> = app
        .events("user.logged_in")
        .await
        .iter()
        .map(|e| text(&e["data"]["ip_address"]))
        .collect();
    assert_eq!(ips, ["203.0.113.7", "198.51.100.9", "127.0.0.1"]);
    let mut known: Vec<String> = app
        .db
        .query("SELECT host(address) FROM login_known_addresses", &[])
        .await
        .unwrap_or_else(|err| panic!("known addresses: {err}"))
        .iter()
        .map(|row| row.get(0))
        .collect();
    known.sort();
    assert_eq!(known, ["127.0.0.1", "198.51.100.9", "203.0.113.7"]);
}
