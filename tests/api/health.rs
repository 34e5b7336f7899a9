use std::time::Duration;

use crate::harness::{eventually, spawn_issuer, spawn_issuer_at, unique_email, TcpProxy, PASSWORD};

#[tokio::test]
async fn health_reports_the_database_connected() {
    let app = spawn_issuer().await;
    let reply = app.get("/health", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["status"], "healthy");
    assert_eq!(reply.body["database"], "connected");
    assert_eq!(reply.body["service"], "auth-service");
    assert_eq!(reply.body["version"], env!("CARGO_PKG_VERSION"));
    crate::harness::assert_timestamp(&reply.body["timestamp"]);
    assert!(
        reply.body.get("success").is_none(),
        "health is not enveloped"
    );

    let live = app.get("/health/live", None).await;
    assert_eq!(live.status, 200);
    assert_eq!(live.body["status"], "alive");
}

#[tokio::test]
async fn without_the_database_health_is_503_and_requests_get_service_unavailable_until_it_returns()
{
    let proxy = TcpProxy::to_postgres().await;
    let app = spawn_issuer_at(Some(proxy.addr), |env| {
        env.insert("DATABASE_TIMEOUT_SECONDS".into(), "1".into());
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);

    proxy.cut();

    let health = app.get("/health", None).await;
    assert_eq!(health.status, 503);
    assert_eq!(health.body["status"], "unhealthy");
    assert_eq!(health.body["database"], "disconnected");
    let login = app.login(&email, PASSWORD).await;
    login.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(!login.header("retry-after").is_empty());
    assert!(!login.body.to_string().to_lowercase().contains("postgres"));
    app.register(&unique_email(), PASSWORD)
        .await
        .assert_error(503, "SERVICE_UNAVAILABLE");
    // Liveness does not depend on the database.
    assert_eq!(app.get("/health/live", None).await.status, 200);

    proxy.restore();

    let recovered = eventually(Duration::from_secs(10), || async {
        app.get("/health", None).await.status == 200
    })
    .await;
    assert!(recovered, "the issuer did not recover by itself");
    app.login(&email, PASSWORD).await.assert_success(200);
}

#[tokio::test]
async fn past_the_hashing_bound_the_issuer_answers_503_instead_of_queueing() {
    let app = crate::harness::spawn_issuer_with(|env| {
        env.insert("ARGON2_MAX_CONCURRENT".into(), "1".into());
        env.insert("ARGON2_MAX_QUEUED".into(), "0".into());
        env.insert("ARGON2_ITERATIONS".into(), "10".into());
    })
    .await;
    let attempts = (0..6).map(|_| {
        let email = unique_email();
        let app = &app;
        async move { app.register(&email, PASSWORD).await }
    });

    let replies = futures::future::join_all(attempts).await;

    let busy: Vec<_> = replies.iter().filter(|r| r.status == 503).collect();
    let created = replies.iter().filter(|r| r.status == 201).count();
    assert!(
        created >= 1 && !busy.is_empty(),
        "created {created}, busy {}",
        busy.len()
    );
    for reply in busy {
        reply.assert_error(503, "SERVICE_UNAVAILABLE");
        assert_eq!(reply.header("retry-after"), "1");
    }
    let rows: i64 = app
        .db
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows as usize, created);
}

#[tokio::test]
async fn an_unexpected_storage_fault_is_a_500_that_tells_nothing_internal() {
    let app = spawn_issuer().await;
    app.db
        .batch_execute("ALTER TABLE outbox RENAME TO outbox_gone")
        .await
        .unwrap();

    let reply = app.register(&unique_email(), PASSWORD).await;

    reply.assert_error(500, "INTERNAL_ERROR");
    assert_eq!(
        reply.body["error"]["message"],
        "An internal error occurred."
    );
    let text = reply.body.to_string().to_lowercase();
    for leak in ["outbox", "relation", "sql", "postgres"] {
        assert!(!text.contains(leak), "leaks {leak}: {text}");
    }
    // The transaction rolled back: no user without its event.
    let users: i64 = app
        .db
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 0);
}
