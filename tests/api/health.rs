use std::time::Duration;

use crate::harness::{
    eventually, spawn_issuer, spawn_issuer_at, unique_email, Reply, TcpProxy, TestIssuer, PASSWORD,
};

/// How long a request may take to give up on a stalled database, with DATABASE_TIMEOUT_SECONDS=1:
/// a pool wait, then a statement's bound (timeout plus a second of grace), with room to spare.
const GIVE_UP: Duration = Duration::from_secs(6);

/// `request`, failing the test if it does not answer within `GIVE_UP`.
async fn answered<F: std::future::Future<Output = Reply>>(what: &str, request: F) -> Reply {
    tokio::time::timeout(GIVE_UP, request)
        .await
        .unwrap_or_else(|_| panic!("{what} hung for more than {GIVE_UP:?} on a stalled database"))
}

/// An issuer reaching Postgres through `proxy`, with a one-second database bound, one user,
/// and its whole pool open and idle: a stall then catches connections that look healthy.
async fn issuer_behind(proxy: &TcpProxy) -> (TestIssuer, String) {
    let app = spawn_issuer_at(Some(proxy.addr), |env| {
        env.insert("DATABASE_TIMEOUT_SECONDS".into(), "1".into());
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let size = app.state.pool.status().max_size;
    let open = futures::future::join_all((0..size).map(|_| app.state.pool.get())).await;
    assert!(open.iter().all(Result::is_ok), "the pool did not fill");
    drop(open);
    (app, email)
}

#[track_caller]
fn assert_unavailable(reply: &Reply) {
    reply.assert_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(reply.header("retry-after"), "1");
    assert_eq!(
        reply.body["error"]["message"],
        "The service is temporarily unavailable; retry later."
    );
}

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
async fn with_the_database_stalled_health_answers_503_in_bounded_time_and_200_once_it_moves_again()
{
    let proxy = TcpProxy::to_postgres().await;
    let (app, _) = issuer_behind(&proxy).await;
    assert_eq!(app.get("/health", None).await.status, 200);

    proxy.stall();

    for _ in 0..3 {
        let health = answered("/health", app.get("/health", None)).await;
        assert_eq!(health.status, 503, "body: {}", health.body);
        assert_eq!(health.body["status"], "unhealthy");
        assert_eq!(health.body["database"], "disconnected");
    }
    assert_eq!(app.get("/health/live", None).await.status, 200);

    proxy.unstall();

    let recovered = eventually(Duration::from_secs(15), || async {
        answered("/health", app.get("/health", None)).await.status == 200
    })
    .await;
    assert!(recovered, "the issuer did not recover by itself");
    let health = app.get("/health", None).await;
    assert_eq!(health.body["database"], "connected");
}

#[tokio::test]
async fn with_the_database_stalled_requests_answer_service_unavailable_in_bounded_time_then_work_again(
) {
    let proxy = TcpProxy::to_postgres().await;
    let (app, email) = issuer_behind(&proxy).await;

    proxy.stall();

    // More requests than the pool has connections: each stalled one is given up, not queued for ever.
    for _ in 0..3 {
        let login = answered("login", app.login(&email, PASSWORD)).await;
        assert_unavailable(&login);
        let register = answered("register", app.register(&unique_email(), PASSWORD)).await;
        assert_unavailable(&register);
    }
    proxy.unstall();

    let late = unique_email();
    let registered = eventually(Duration::from_secs(15), || async {
        answered("register", app.register(&late, PASSWORD))
            .await
            .status
            == 201
    })
    .await;
    assert!(registered, "register did not work again after the stall");
    answered("login", app.login(&late, PASSWORD))
        .await
        .assert_success(200);
    answered("login", app.login(&email, PASSWORD))
        .await
        .assert_success(200);
}

#[tokio::test]
async fn a_statement_stuck_behind_a_lock_is_cancelled_by_the_server_and_answers_503() {
    let app = crate::harness::spawn_issuer_with(|env| {
        env.insert("DATABASE_TIMEOUT_SECONDS".into(), "1".into());
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let (mut holder, connection) = {
        let config: tokio_postgres::Config = app.database_url.parse().unwrap();
        config.connect(tokio_postgres::NoTls).await.unwrap()
    };
    tokio::spawn(connection);
    let lock = holder.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let login = answered("login", app.login(&email, PASSWORD)).await;

    assert_unavailable(&login);
    lock.rollback().await.unwrap();
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
