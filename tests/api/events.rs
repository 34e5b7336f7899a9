//! Events through the outbox to real NATS JetStream, and revocations reaching verifiers.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind};
use issuer::db::outbox::Pending;
use issuer::metrics::OutboxMetrics;
use issuer::relay::Relay;
use serde_json::{json, Value};
use test_support::accounts::cheap_argon2;
use uuid::Uuid;

use crate::harness::{
    assert_timestamp, claims, eventually, nats_url, spawn_issuer, spawn_issuer_with,
    spawn_verifier_for, unique_email, TestIssuer, TestNats, PASSWORD,
};
use crate::metrics::{delta, Scrape};

const WAIT: Duration = Duration::from_secs(10);

/// An issuer whose own relay never publishes (its NATS_URL is a port nobody listens on), and
/// a relay on the same database, stream and subjects that only the test drives, so nothing is
/// published behind the test's back.
struct ManualRelay {
    app: TestIssuer,
    relay: Arc<Relay>,
    js: jetstream::Context,
}

async fn spawn_with_manual_relay(batch_size: i64) -> ManualRelay {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| format!("nats://{addr}"))
        .unwrap();
    let mut app = spawn_issuer_with(move |env| {
        env.insert("NATS_URL".into(), closed);
    })
    .await;
    // The test's view of NATS (and the stream clean-up when `app` drops) uses the real server.
    app.nats.url = nats_url();
    let mut config = app.state.config.clone();
    config.common.shared.events.nats_url = nats_url();
    config.settings.outbox_batch_size = batch_size;
    let client = async_nats::connect(nats_url()).await.unwrap();
    let relay = Arc::new(Relay::new(
        app.state.pool.clone(),
        client.clone(),
        config,
        OutboxMetrics::default(),
    ));
    ManualRelay {
        app,
        relay,
        js: jetstream::new(client),
    }
}

impl ManualRelay {
    async fn stream(&self) -> jetstream::stream::Stream {
        self.js.get_stream(&self.app.nats.stream).await.unwrap()
    }

    /// How many messages the stream holds, from its own state.
    async fn stream_messages(&self) -> u64 {
        self.stream().await.info().await.unwrap().state.messages
    }

    /// The outbox event ids, in id order.
    async fn event_ids(&self) -> Vec<String> {
        self.app
            .db
            .query("SELECT event_id::text FROM outbox ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    async fn unsent(&self) -> i64 {
        self.app.unsent_events().await
    }
}

/// Waits for the issuer's NATS connection, then runs a relay round, which sets the stream up.
async fn set_up_stream(app: &TestIssuer) {
    assert!(eventually(WAIT, || async { app.state.relay.nats_connected() }).await);
    app.state
        .relay
        .drain()
        .await
        .unwrap_or_else(|err| panic!("relay round: {err}"));
}

/// An event the issuer never wrote, for publishing by hand.
fn stray_event() -> Pending {
    let event_id = Uuid::new_v4();
    Pending {
        id: 0,
        event_id,
        event_type: "user.email_verified".into(),
        payload: json!({
            "event_id": event_id,
            "event_type": "user.email_verified",
            "timestamp": "2026-01-15T10:30:00.000Z",
            "data": {"user_id": Uuid::new_v4(), "email": "stray@example.com"},
        }),
        trace: None,
    }
}

#[tokio::test]
async fn each_event_type_arrives_once_with_the_right_data() {
    let app = spawn_issuer().await;
    let (ada, bob) = (unique_email(), unique_email());
    let ada_id = app.register(&ada, PASSWORD).await.data()["user_id"].clone();
    let bob_id = app.register(&bob, PASSWORD).await.data()["user_id"].clone();
    let token = app.verification_token(&ada).await;
    app.verify_email(&token).await.assert_success(200);
    app.post(
        "/api/v1/auth/resend-verification",
        serde_json::json!({"email": bob}),
    )
    .await
    .assert_success(202);
    let login = app.login(&ada, PASSWORD).await;
    app.logout(login.data()["refresh_token"].as_str().unwrap())
        .await
        .assert_success(200);
    let sid = claims(login.data()["access_token"].as_str().unwrap())["sid"].clone();

    let events = app.nats.published("*", 6, WAIT).await;

    let types: Vec<&str> = events
        .iter()
        .map(|(_, e)| e["event_type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        types,
        [
            "user.registered",
            "user.registered",
            "user.email_verified",
            "user.verification_requested",
            "user.logged_in",
            "session.revoked"
        ]
    );
    for (msg_id, event) in &events {
        assert_eq!(
            msg_id,
            event["event_id"].as_str().unwrap(),
            "Nats-Msg-Id is the event id"
        );
        crate::harness::assert_timestamp(&serde_json::json!(event["timestamp"]
            .as_str()
            .unwrap()
            .replace(".000Z", "Z")));
    }
    assert_eq!(events[0].1["data"]["user_id"], ada_id);
    assert_eq!(events[0].1["data"]["email"], ada.as_str());
    assert!(events[0].1["data"]["email_verification_token"]
        .as_str()
        .is_some_and(|t| t.len() >= 43));
    assert_eq!(events[1].1["data"]["user_id"], bob_id);
    assert_eq!(
        events[2].1["data"],
        serde_json::json!({"user_id": ada_id, "email": ada})
    );
    assert_eq!(events[3].1["data"]["email"], bob.as_str());
    assert_eq!(events[4].1["data"]["session_id"], sid);
    assert_eq!(events[4].1["data"]["ip_address"], "127.0.0.1");
    assert_eq!(events[5].1["data"]["session_id"], sid);
    assert_eq!(events[5].1["data"]["user_id"], ada_id);
    // What went out is what the outbox holds, and every row is marked sent.
    let outbox: Vec<Value> = app.events("user.registered").await;
    assert_eq!(outbox[0]["event_id"], events[0].1["event_id"]);
    assert_eq!(app.unsent_events().await, 0);
}

/// NATS crashes under running services: the issuer keeps answering and queues its events (the
/// backlog shows in `/health` and `/metrics`), the verifier keeps validating with what it knows
/// and stays ready; once NATS returns the whole backlog arrives in order, once, and the verifier
/// learns the revocation that waited.
#[tokio::test]
async fn with_nats_down_the_services_keep_working_and_the_backlog_arrives_in_order_once_it_is_back()
{
    const USERS: usize = 50;
    let mut nats = TestNats::start().await;
    let url = nats.url.clone();
    let app = spawn_issuer_with(move |env| {
        env.insert("NATS_URL".into(), url);
        env.insert("OUTBOX_POLL_INTERVAL_MS".into(), "100".into());
        cheap_argon2(env);
    })
    .await;
    let (kept, ended) = two_sessions(&app).await;
    let verifier = spawn_verifier_for(&app).await;
    assert!(
        eventually(WAIT, || async {
            verifier.state.revocations.replay_complete()
        })
        .await
    );
    // The relay is connected and has published what was there.
    assert!(
        eventually(WAIT, || async {
            let health = app.get("/health", None).await;
            health.body["nats"] == "connected" && health.body["outbox_backlog"] == 0
        })
        .await
    );
    let verifier_nats = || async {
        verifier.health().await["nats"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    nats.stop().await;
    assert!(
        eventually(WAIT, || async {
            app.get("/health", None).await.body["nats"] == "disconnected"
        })
        .await
    );
    assert!(eventually(WAIT, || async { verifier_nats().await == "disconnected" }).await);
    let before = Scrape::of(&app.http, &app.url("")).await;
    assert_eq!(before.get("nats_connected"), 0.0);

    // The logout commits and its event waits in the outbox; the verifier cannot know yet.
    app.logout(ended["refresh_token"].as_str().unwrap())
        .await
        .assert_success(200);
    let mut emails = Vec::new();
    for _ in 0..USERS {
        let email = unique_email();
        app.register(&email, PASSWORD).await.assert_success(201);
        emails.push(email);
    }
    let backlog = USERS + 1;
    let health = app.get("/health", None).await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (200, Some("healthy"))
    );
    assert_eq!(health.body["nats"], "disconnected");
    assert_eq!(health.body["outbox_backlog"], backlog);
    let waiting = Scrape::of(&app.http, &app.url("")).await;
    assert_eq!(waiting.get("outbox_backlog"), backlog as f64);
    assert_eq!(delta(&before, &waiting, "outbox_published_total"), 0.0);
    for session in [&kept, &ended] {
        assert_eq!(
            verifier.status_for(&token(session)).await,
            200,
            "the verifier keeps validating with what it knows"
        );
    }
    assert_eq!(
        verifier.ready().await.status,
        200,
        "once ready, a verifier stays ready while NATS is away"
    );

    nats.resume().await;

    let events = app
        .nats
        .published("user.registered", USERS + 1, Duration::from_secs(30))
        .await;
    let arrived: Vec<&str> = events
        .iter()
        .skip(1) // the first user's, published before NATS went away
        .map(|(_, e)| e["data"]["email"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        arrived,
        emails.iter().map(String::as_str).collect::<Vec<_>>(),
        "all of them, in order, none twice"
    );
    let rejected = eventually(Duration::from_secs(30), || async {
        verifier.status_for(&token(&ended)).await == 401
    })
    .await;
    assert!(
        rejected,
        "the revocation never reached the verifier after NATS returned"
    );
    assert_eq!(verifier.status_for(&token(&kept)).await, 200);
    assert_eq!(verifier_nats().await, "connected");
    let drained = eventually(WAIT, || async {
        let now = Scrape::of(&app.http, &app.url("")).await;
        now.get("outbox_backlog") == 0.0 && now.get("nats_connected") == 1.0
    })
    .await;
    assert!(drained, "the backlog did not drain after NATS came back");
    assert_eq!(app.get("/health", None).await.body["outbox_backlog"], 0);
    let after = Scrape::of(&app.http, &app.url("")).await;
    assert_eq!(
        delta(&before, &after, "outbox_published_total"),
        backlog as f64
    );
}

#[tokio::test]
async fn an_event_published_again_after_a_crash_before_marking_is_seen_once() {
    // Only the test publishes: a background round cannot re-send the rows before it does.
    let manual = spawn_with_manual_relay(500).await;
    for _ in 0..3 {
        manual
            .app
            .register(&unique_email(), PASSWORD)
            .await
            .assert_success(201);
    }
    assert_eq!(manual.relay.drain().await.unwrap(), 3);
    assert_eq!(manual.stream_messages().await, 3);

    // As if the issuer died after publishing and before committing the mark.
    let reset = manual
        .app
        .db
        .execute("UPDATE outbox SET published_at = NULL", &[])
        .await
        .unwrap();
    assert_eq!(reset, 3);
    let republished = manual.relay.drain().await.unwrap();
    assert_eq!(republished, 3, "all three were sent again and acknowledged");

    assert_eq!(
        manual.stream_messages().await,
        3,
        "the stream dropped the re-sent copies"
    );
    let seen = manual.app.nats.published("user.registered", 3, WAIT).await;
    let seen: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(seen, manual.event_ids().await);
    assert_eq!(manual.unsent().await, 0);
}

/// Registers a user and logs in twice: the login data of the session a test keeps, and of the
/// one it ends.
async fn two_sessions(app: &TestIssuer) -> (Value, Value) {
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let kept = app.login(&email, PASSWORD).await.data().clone();
    let ended = app.login(&email, PASSWORD).await.data().clone();
    (kept, ended)
}

/// A session's access token.
fn token(login: &Value) -> String {
    login["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn logout_reaches_running_and_newly_started_verifiers_and_spares_other_sessions() {
    let app = spawn_issuer().await;
    let (kept, ended) = two_sessions(&app).await;
    let verifier = spawn_verifier_for(&app).await;
    assert_eq!(verifier.status_for(&token(&ended)).await, 200);

    app.logout(ended["refresh_token"].as_str().unwrap())
        .await
        .assert_success(200);

    // A generous deadline: the time it takes is a figure for the bench, not a test.
    let rejected = eventually(Duration::from_secs(30), || async {
        verifier.status_for(&token(&ended)).await == 401
    })
    .await;
    assert!(
        rejected,
        "the running verifier still accepts the logged-out session after 30 s"
    );
    let revoked =
        r#"Bearer error="invalid_token", error_description="the token's session has been revoked""#;
    let response = verifier
        .forward_auth(
            "",
            &[("authorization", &format!("Bearer {}", token(&ended)))],
        )
        .await;
    assert_eq!(response.headers()["www-authenticate"], revoked);
    assert_eq!(verifier.status_for(&token(&kept)).await, 200);

    // validate-token says why, in the envelope, and the issuer (which asks Postgres) agrees;
    // the session's refresh token and `/me` are refused too.
    let at_verifier = verifier.validate(&token(&ended)).await;
    assert_eq!(at_verifier.status, 401);
    assert_eq!(at_verifier.header("www-authenticate"), revoked);
    let body = at_verifier.body;
    let expected_error = json!({
        "code": "INVALID_TOKEN",
        "message": "The token is invalid.",
        "details": {"issue": "the token's session has been revoked"},
    });
    assert_eq!(
        body,
        json!({"success": false, "error": expected_error, "timestamp": body["timestamp"]})
    );
    assert_timestamp(&body["timestamp"]);
    let at_issuer = app.validate(&token(&ended)).await;
    assert_eq!(at_issuer.status, 401);
    assert_eq!(at_issuer.body["error"], expected_error);
    app.get("/api/v1/auth/me", Some(&token(&ended)))
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.refresh(ended["refresh_token"].as_str().unwrap())
        .await
        .assert_error(401, "INVALID_TOKEN");

    let late = spawn_verifier_for(&app).await;
    assert!(eventually(WAIT, || async { late.state.revocations.replay_complete() }).await);
    assert_eq!(late.status_for(&token(&ended)).await, 401);
    assert_eq!(late.status_for(&token(&kept)).await, 200);
    let health = late.health().await;
    assert_eq!(health["nats"], "connected");
    assert_eq!(health["revoked_sessions"], 1);
    assert_eq!(health["revocation_replay_complete"], true);
}

#[tokio::test]
async fn pruning_deletes_only_events_published_before_the_retention_cut() {
    let app = spawn_issuer().await;
    for _ in 0..3 {
        app.register(&unique_email(), PASSWORD)
            .await
            .assert_success(201);
    }
    assert_eq!(
        app.nats.published("user.registered", 3, WAIT).await.len(),
        3
    );
    // Row 1 published long ago; row 2 published just now; row 3 old but never published.
    let outbox_ids = || async {
        let rows = app
            .db
            .query("SELECT id FROM outbox ORDER BY id", &[])
            .await
            .unwrap();
        rows.iter().map(|row| row.get(0)).collect::<Vec<i64>>()
    };
    let rows = outbox_ids().await;
    assert_eq!(rows.len(), 3);
    app.db
        .execute(
            "UPDATE outbox SET published_at = now() - interval '200 hours' WHERE id = $1",
            &[&rows[0]],
        )
        .await
        .unwrap();
    app.db
        .execute(
            "UPDATE outbox SET published_at = NULL, created_at = now() - interval '200 hours' WHERE id = $1",
            &[&rows[2]],
        )
        .await
        .unwrap();

    let client = app.state.pool.get().await.unwrap();
    let cut = chrono::Utc::now() - chrono::TimeDelta::hours(168);
    let deleted = issuer::db::outbox::prune(&client, cut).await.unwrap();

    assert_eq!(deleted, 1);
    assert_eq!(outbox_ids().await, rows[1..].to_vec());
}

#[tokio::test]
async fn a_message_expecting_another_last_event_is_refused_by_the_stream() {
    let manual = spawn_with_manual_relay(500).await;
    manual
        .app
        .register(&unique_email(), PASSWORD)
        .await
        .assert_success(201);
    assert_eq!(manual.relay.drain().await.unwrap(), 1);
    let last = manual.event_ids().await[0].parse::<Uuid>().unwrap();

    let refused = manual
        .relay
        .publish(&stray_event(), Some(Uuid::new_v4()))
        .await
        .unwrap()
        .await;

    let err = refused.expect_err("the stream stored a message that expected another last one");
    assert_eq!(err.kind(), PublishErrorKind::WrongLastMessageId);
    assert_eq!(manual.stream_messages().await, 1);
    // Expecting the event that really is last, the same kind of message is stored.
    let ack = manual
        .relay
        .publish(&stray_event(), Some(last))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!((ack.sequence, ack.duplicate), (2, false));
    assert_eq!(manual.stream_messages().await, 2);
}

#[tokio::test]
async fn a_re_sent_event_is_acked_as_a_duplicate_whatever_it_expects() {
    let manual = spawn_with_manual_relay(500).await;
    manual
        .relay
        .drain()
        .await
        .unwrap_or_else(|err| panic!("stream set-up: {err}"));
    let first = stray_event();
    manual
        .relay
        .publish(&first, None)
        .await
        .unwrap()
        .await
        .unwrap();
    manual
        .relay
        .publish(&stray_event(), Some(first.event_id))
        .await
        .unwrap()
        .await
        .unwrap();

    // `first` is no longer the stream's last message, and the expectation names neither.
    let ack = manual
        .relay
        .publish(&first, Some(Uuid::new_v4()))
        .await
        .unwrap()
        .await
        .unwrap_or_else(|err| panic!("a re-sent event was refused: {err}"));

    assert_eq!((ack.sequence, ack.duplicate), (1, true));
    assert_eq!(manual.stream_messages().await, 2);
}

#[tokio::test]
async fn when_one_event_of_a_round_is_not_stored_the_ones_behind_it_wait_and_order_holds() {
    let manual = spawn_with_manual_relay(500).await;
    assert_eq!(manual.relay.drain().await.unwrap(), 0, "creates the stream");
    // NATS misbehaves for one message: the stream refuses anything over 2 KiB.
    let mut settings = manual.stream().await.info().await.unwrap().config.clone();
    settings.max_message_size = 2048;
    manual.js.update_stream(settings.clone()).await.unwrap();
    for _ in 0..3 {
        manual
            .app
            .register(&unique_email(), PASSWORD)
            .await
            .assert_success(201);
    }
    let ids = manual.event_ids().await;
    manual
        .app
        .db
        .execute(
            "UPDATE outbox SET payload = jsonb_set(payload, '{data,padding}', \
             to_jsonb(repeat('x', 4096))) WHERE event_id = $1::text::uuid",
            &[&ids[1]],
        )
        .await
        .unwrap();

    // The first is stored, the second refused, and the third, expecting the second, too.
    assert_eq!(manual.relay.drain().await.unwrap(), 1);
    let stored = manual.app.nats.published("*", 1, WAIT).await;
    let stored: Vec<&str> = stored.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        stored,
        [ids[0].as_str()],
        "nothing overtook the refused event"
    );
    assert_eq!(manual.unsent().await, 2);

    settings.max_message_size = -1;
    manual.js.update_stream(settings).await.unwrap();
    assert_eq!(manual.relay.drain().await.unwrap(), 2);

    let stored = manual.app.nats.published("*", 3, WAIT).await;
    let stored: Vec<&str> = stored.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(stored, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(manual.unsent().await, 0);
}

#[tokio::test]
async fn the_stream_is_set_up_with_our_subjects_storage_retention_and_duplicate_window() {
    let app = spawn_issuer().await;

    set_up_stream(&app).await;

    let js = jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let mut stream = js.get_stream(&app.nats.stream).await.unwrap();
    let settings = stream.info().await.unwrap().config.clone();
    assert_eq!(settings.subjects, [format!("{}.>", app.nats.prefix)]);
    assert_eq!(settings.storage, jetstream::stream::StorageType::File);
    assert!(Some(settings.max_age) >= app.state.config.common.tokens.refresh_ttl.to_std().ok());
    assert_eq!(settings.duplicate_window, Duration::from_secs(120));
}

#[tokio::test]
async fn an_operators_stream_settings_survive_an_issuer_restart() {
    let first = spawn_issuer().await;
    set_up_stream(&first).await;
    let js = jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let mut stream = js.get_stream(&first.nats.stream).await.unwrap();
    let mut tuned = stream.info().await.unwrap().config.clone();
    tuned.max_bytes = 64 << 20;
    tuned.max_messages = 100_000;
    tuned.description = Some("tuned by the operator".into());
    tuned.max_age = Duration::from_secs(30 * 86_400);
    // One of ours drifted too: the next start brings it back.
    tuned.duplicate_window = Duration::from_secs(30);
    js.update_stream(tuned.clone()).await.unwrap();

    let nats = first.nats.clone();
    let second = spawn_issuer_with(move |env| env.extend(nats.env())).await;
    set_up_stream(&second).await;

    let settings = stream.info().await.unwrap().config.clone();
    assert_eq!(settings.duplicate_window, Duration::from_secs(120));
    assert_eq!(
        jetstream::stream::Config {
            duplicate_window: tuned.duplicate_window,
            ..settings
        },
        tuned,
        "the restart changed a setting that is not ours"
    );
}

#[tokio::test]
async fn the_relay_sets_a_deleted_stream_up_again_and_delivers_what_comes_next() {
    let app = spawn_issuer().await;
    app.register(&unique_email(), PASSWORD)
        .await
        .assert_success(201);
    assert_eq!(
        app.nats.published("user.registered", 1, WAIT).await.len(),
        1
    );
    let js = jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    js.delete_stream(&app.nats.stream).await.unwrap();

    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);

    let events = app.nats.published("user.registered", 1, WAIT).await;
    let emails: Vec<&str> = events
        .iter()
        .map(|(_, e)| e["data"]["email"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(emails, [email.as_str()]);
    assert!(
        eventually(WAIT, || async {
            app.get("/health", None).await.body["outbox_backlog"] == 0
        })
        .await
    );
}

#[tokio::test]
async fn once_an_event_is_published_its_outbox_row_no_longer_holds_the_verification_token() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    app.post("/api/v1/auth/resend-verification", json!({"email": email}))
        .await
        .assert_success(202);

    let published = app.nats.published("*", 2, WAIT).await;

    let tokens: Vec<&str> = published
        .iter()
        .map(|(_, e)| e["data"]["email_verification_token"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(tokens.len(), 2);
    assert!(tokens.iter().all(|t| t.len() >= 43), "{tokens:?}");
    let marked = eventually(WAIT, || async { app.unsent_events().await == 0 }).await;
    assert!(marked, "the relay never marked the events sent");
    let rows = app
        .db
        .query("SELECT payload, payload::text FROM outbox ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for ((msg_id, sent), row) in published.iter().zip(&rows) {
        let (stored, text): (Value, String) = (row.get(0), row.get(1));
        assert_eq!(stored["event_id"].as_str(), Some(msg_id.as_str()));
        assert_eq!(stored["data"]["email"], email.as_str());
        assert_eq!(stored["data"]["user_id"], sent["data"]["user_id"]);
        assert!(stored["data"].get("email_verification_token").is_none());
        for token in &tokens {
            assert!(!text.contains(token), "a token is still in {text}");
        }
    }
}

#[tokio::test]
async fn on_shutdown_a_long_drain_stops_at_the_end_of_a_round() {
    let manual = spawn_with_manual_relay(5).await;
    let backlog: i64 = 10_000;
    manual
        .app
        .db
        .execute(
            "INSERT INTO outbox (event_id, event_type, payload) \
             SELECT id, 'user.email_verified', jsonb_build_object('event_id', id, \
                 'event_type', 'user.email_verified', 'timestamp', now(), \
                 'data', jsonb_build_object('user_id', gen_random_uuid(), 'email', 'x@example.com')) \
             FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, $1::bigint)) AS rows",
            &[&backlog],
        )
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(Arc::clone(&manual.relay).run(async {
        let _ = stopped.await;
    }));
    assert!(eventually(WAIT, || async { manual.unsent().await < backlog }).await);

    stop.send(()).unwrap();

    tokio::time::timeout(WAIT, relay)
        .await
        .expect("the relay did not stop")
        .unwrap();
    let published = backlog - manual.unsent().await;
    assert!(
        published < backlog,
        "the relay drained all {backlog} events before stopping"
    );
    assert_eq!(published % 5, 0, "it stopped between two rounds of 5");
    assert_eq!(
        manual.stream_messages().await,
        u64::try_from(published).unwrap(),
        "everything published was marked"
    );
}
