//! Events through the outbox to real NATS JetStream, and revocations reaching verifiers.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{
    claims, eventually, spawn_issuer, spawn_issuer_with, unique_email, TestNats, PASSWORD,
};
use crate::services::spawn_verifier_for;

const WAIT: Duration = Duration::from_secs(10);

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
    let unsent: i64 = app
        .db
        .query_one(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unsent, 0);
}

#[tokio::test]
async fn with_nats_down_the_api_works_and_the_backlog_arrives_in_order_once_it_is_back() {
    let mut nats = TestNats::start().await;
    let url = nats.url.clone();
    let app = spawn_issuer_with(move |env| {
        env.insert("NATS_URL".into(), url);
        env.insert("OUTBOX_POLL_INTERVAL_MS".into(), "100".into());
        env.insert("ARGON2_MEMORY_KIB".into(), "1024".into());
        env.insert("ARGON2_ITERATIONS".into(), "1".into());
    })
    .await;
    // The relay is connected and has created the stream.
    assert!(
        eventually(WAIT, || async {
            app.get("/health", None).await.body["nats"] == "connected"
        })
        .await
    );

    nats.stop().await;
    assert!(
        eventually(WAIT, || async {
            app.get("/health", None).await.body["nats"] == "disconnected"
        })
        .await
    );
    let mut emails = Vec::new();
    for _ in 0..50 {
        let email = unique_email();
        app.register(&email, PASSWORD).await.assert_success(201);
        emails.push(email);
    }
    let health = app.get("/health", None).await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (200, Some("healthy"))
    );
    assert_eq!(health.body["nats"], "disconnected");
    assert_eq!(health.body["outbox_backlog"], 50);

    nats.resume().await;

    let events = app
        .nats
        .published("user.registered", 50, Duration::from_secs(30))
        .await;
    let arrived: Vec<&str> = events
        .iter()
        .map(|(_, e)| e["data"]["email"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        arrived,
        emails.iter().map(String::as_str).collect::<Vec<_>>(),
        "all 50, in order, none twice"
    );
    assert!(
        eventually(WAIT, || async {
            app.get("/health", None).await.body["outbox_backlog"] == 0
        })
        .await
    );
}

#[tokio::test]
async fn an_event_published_again_after_a_crash_before_marking_is_seen_once() {
    let app = spawn_issuer().await;
    for _ in 0..3 {
        app.register(&unique_email(), PASSWORD)
            .await
            .assert_success(201);
    }
    let first = app.nats.published("user.registered", 3, WAIT).await;
    assert_eq!(first.len(), 3);

    // As if the issuer died after publishing and before committing the mark.
    let reset = app
        .db
        .execute("UPDATE outbox SET published_at = NULL", &[])
        .await
        .unwrap();
    assert_eq!(reset, 3);
    let republished = app.state.relay.drain().await.unwrap();
    assert_eq!(republished, 3);

    let seen = app
        .nats
        .published("user.registered", 4, Duration::from_secs(2))
        .await;
    let ids: HashSet<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        (seen.len(), ids.len()),
        (3, 3),
        "the stream dropped the re-sent copies"
    );
}

#[tokio::test]
async fn logout_reaches_running_and_newly_started_verifiers_and_spares_other_sessions() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let kept = app.login(&email, PASSWORD).await.data().clone();
    let ended = app.login(&email, PASSWORD).await.data().clone();
    let token = |data: &Value| data["access_token"].as_str().unwrap().to_owned();
    let verifier = spawn_verifier_for(&app).await;
    assert_eq!(verifier.status_for(&token(&ended)).await, 200);

    app.logout(ended["refresh_token"].as_str().unwrap())
        .await
        .assert_success(200);

    let rejected = eventually(Duration::from_secs(1), || async {
        verifier.status_for(&token(&ended)).await == 401
    })
    .await;
    assert!(
        rejected,
        "the running verifier still accepts the logged-out session after 1 s"
    );
    let response = verifier
        .forward_auth(
            "",
            &[("authorization", &format!("Bearer {}", token(&ended)))],
        )
        .await;
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("revoked"));
    assert_eq!(verifier.status_for(&token(&kept)).await, 200);

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
async fn with_nats_down_the_verifier_keeps_validating_and_catches_up_when_it_returns() {
    let mut nats = TestNats::start().await;
    let url = nats.url.clone();
    let app = spawn_issuer_with(move |env| {
        env.insert("NATS_URL".into(), url);
        env.insert("OUTBOX_POLL_INTERVAL_MS".into(), "100".into());
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let kept = app.login(&email, PASSWORD).await.data().clone();
    let ended = app.login(&email, PASSWORD).await.data().clone();
    let token = |data: &Value| data["access_token"].as_str().unwrap().to_owned();
    let verifier = spawn_verifier_for(&app).await;
    assert!(
        eventually(WAIT, || async {
            verifier.state.revocations.replay_complete()
        })
        .await
    );
    let nats_state = || async {
        verifier.health().await["nats"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    nats.stop().await;
    assert!(eventually(WAIT, || async { nats_state().await == "disconnected" }).await);
    // The logout commits and its event waits in the outbox; the verifier cannot know yet.
    app.logout(ended["refresh_token"].as_str().unwrap())
        .await
        .assert_success(200);
    for session in [&kept, &ended] {
        assert_eq!(
            verifier.status_for(&token(session)).await,
            200,
            "the verifier keeps validating with what it knows"
        );
    }

    nats.resume().await;
    let rejected = eventually(Duration::from_secs(30), || async {
        verifier.status_for(&token(&ended)).await == 401
    })
    .await;
    assert!(
        rejected,
        "the revocation never reached the verifier after NATS returned"
    );
    assert_eq!(verifier.status_for(&token(&kept)).await, 200);
    assert_eq!(nats_state().await, "connected");
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
