//! Events keep flowing after Postgres comes back from a cut: the outbox relay (its LISTEN
//! connection and its pool connections) recovers by itself.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{eventually, spawn_issuer_at, unique_email, TcpProxy, PASSWORD};

const WAIT: Duration = Duration::from_secs(30);

fn emails(events: &[(String, Value)]) -> Vec<String> {
    events
        .iter()
        .map(|(_, e)| e["data"]["email"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Fails if the relay does not reconnect after the cut (the last registration's event stays
/// in the outbox and never reaches the stream), or if a registration refused during the cut
/// leaves a row or an event behind.
#[tokio::test]
async fn a_registration_after_the_database_returns_from_a_cut_reaches_nats() {
    let proxy = TcpProxy::to_postgres().await;
    let app = spawn_issuer_at(Some(proxy.addr), |env| {
        env.insert("DATABASE_TIMEOUT_SECONDS".into(), "1".into());
    })
    .await;
    let before = unique_email();
    app.register(&before, PASSWORD).await.assert_success(201);
    let published = app.nats.published("user.registered", 1, WAIT).await;
    assert_eq!(emails(&published), vec![before.clone()]);

    proxy.cut();
    let during = unique_email();
    app.register(&during, PASSWORD)
        .await
        .assert_error(503, "SERVICE_UNAVAILABLE");
    proxy.restore();

    // A fresh address per attempt: an attempt answered 503 while the pool reconnects is
    // simply not counted.
    let mut after = String::new();
    let registered = eventually(WAIT, || {
        let email = unique_email();
        after.clone_from(&email);
        let app = &app;
        async move {
            let reply = app.register(&email, PASSWORD).await;
            assert!(
                [201, 503].contains(&reply.status),
                "register after the cut: {}",
                reply.body
            );
            reply.status == 201
        }
    })
    .await;
    assert!(registered, "registration did not work again after the cut");
    let row = app
        .db
        .query_one(
            "SELECT id::text FROM users WHERE email = $1",
            &[&after.as_str()],
        )
        .await
        .unwrap_or_else(|err| panic!("users: {err}"));
    let user_id: String = row.get(0);

    let published = app.nats.published("user.registered", 2, WAIT).await;
    assert_eq!(emails(&published), vec![before, after.clone()]);
    assert_eq!(published[1].1["data"]["user_id"], user_id.as_str());
    // The message is the outbox row's event, and the row is marked sent.
    let outbox = app.events("user.registered").await;
    assert_eq!(outbox.len(), 2);
    assert_eq!(
        published[1].0,
        outbox[1]["event_id"].as_str().unwrap_or("?")
    );
    let drained = eventually(WAIT, || async { app.unsent_events().await == 0 }).await;
    assert!(drained, "the outbox still holds unsent events");

    // The registration refused during the cut left nothing behind.
    let rows = app
        .db
        .query_one(
            "SELECT count(*) FROM users WHERE email = $1",
            &[&during.as_str()],
        )
        .await
        .unwrap_or_else(|err| panic!("users: {err}"))
        .get::<_, i64>(0);
    assert_eq!(rows, 0);
    assert!(!emails(&published).contains(&during));
}
