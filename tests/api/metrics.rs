//! `/metrics` on both services: counters move by exactly what the requests did, labels stay
//! bounded, and the gauges describe the present.

use std::collections::HashMap;
use std::time::Duration;

use common::jwt::{AccessClaims, TokenType};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{codec, eventually, spawn_issuer, spawn_verifier_for, unique_email, PASSWORD};

const WAIT: Duration = Duration::from_secs(10);

/// One scrape: every sample line as `name{labels}` → value.
pub(crate) struct Scrape(HashMap<String, f64>);

impl Scrape {
    pub(crate) async fn of(http: &reqwest::Client, base: &str) -> Scrape {
        let response = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = response.text().await.unwrap();
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').unwrap();
                (series.to_owned(), value.parse::<f64>().unwrap())
            })
            .collect();
        Scrape(samples)
    }

    /// The value of `series` (exactly as exposed), 0 when it does not exist yet.
    pub(crate) fn get(&self, series: &str) -> f64 {
        self.0.get(series).copied().unwrap_or(0.0)
    }

    fn has(&self, series: &str) -> bool {
        self.0.contains_key(series)
    }
}

/// How much each series moved between two scrapes.
pub(crate) fn delta(before: &Scrape, after: &Scrape, series: &str) -> f64 {
    after.get(series) - before.get(series)
}

fn validations(endpoint: &str, outcome: &str) -> String {
    format!(r#"token_validations_total{{endpoint="{endpoint}",outcome="{outcome}"}}"#)
}

fn expired_token() -> String {
    let now = chrono::Utc::now().timestamp();
    codec()
        .sign_access(&AccessClaims {
            iss: "auth-service".into(),
            sub: Uuid::new_v4(),
            email: unique_email(),
            email_verified: false,
            typ: TokenType::Access,
            sid: Uuid::new_v4(),
            jti: Uuid::new_v4(),
            iat: now - 7200,
            exp: now - 3600,
        })
        .unwrap()
}

#[tokio::test]
async fn issuer_counters_move_by_exactly_what_the_requests_did() {
    let app = spawn_issuer().await;
    let base = app.url("");
    let before = Scrape::of(&app.http, &base).await;

    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let login = app.login(&email, PASSWORD).await;
    login.assert_success(200);
    app.login(&email, "Wrong-Horse-9")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let access = login.data()["access_token"].as_str().unwrap().to_owned();
    let refresh = login.data()["refresh_token"].as_str().unwrap().to_owned();

    app.validate(&access).await.assert_success(200);
    app.validate("not-a-token")
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.validate(&expired_token())
        .await
        .assert_error(401, "EXPIRED_TOKEN");
    app.logout(&refresh).await.assert_success(200);
    app.validate(&access)
        .await
        .assert_error(401, "INVALID_TOKEN");
    // A request body the endpoint refuses is no verdict on a token.
    app.post("/api/v1/auth/validate-token", json!({"token": 1}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    let unknown = app.http.get(app.url("/nope/12345")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);

    let after = Scrape::of(&app.http, &base).await;
    let moved = |series: &str| delta(&before, &after, series);
    assert_eq!(moved("registrations_total"), 1.0);
    assert_eq!(moved(r#"logins_total{outcome="success"}"#), 1.0);
    assert_eq!(moved(r#"logins_total{outcome="invalid_credentials"}"#), 1.0);
    assert_eq!(moved(r#"logins_total{outcome="rate_limited"}"#), 0.0);
    assert!(after.has(r#"logins_total{outcome="rate_limited"}"#));
    for (outcome, count) in [
        ("valid", 1.0),
        ("invalid", 1.0),
        ("expired", 1.0),
        ("revoked", 1.0),
    ] {
        assert_eq!(
            moved(&validations("validate-token", outcome)),
            count,
            "{outcome}"
        );
    }

    let login_series = r#"route="/api/v1/auth/login",method="POST""#;
    assert_eq!(
        moved(r#"http_requests_total{route="/api/v1/auth/login",method="POST",status="200"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"http_requests_total{route="/api/v1/auth/login",method="POST",status="401"}"#),
        1.0
    );
    for status in ["200", "401"] {
        let series = format!(r#"{login_series},status="{status}""#);
        assert_eq!(
            moved(&format!("http_request_duration_seconds_count{{{series}}}")),
            1.0,
            "{status}"
        );
        for le in ["0.0005", "0.01", "0.1", "1", "10", "+Inf"] {
            assert!(
                after.has(&format!(
                    r#"http_request_duration_seconds_bucket{{{series},le="{le}"}}"#
                )),
                "bucket {le}"
            );
        }
        assert_eq!(
            after.get(&format!(
                r#"http_request_duration_seconds_bucket{{{series},le="+Inf"}}"#
            )),
            after.get(&format!("http_request_duration_seconds_count{{{series}}}"))
        );
    }
    assert_eq!(
        moved(r#"http_requests_total{route="unknown",method="GET",status="404"}"#),
        1.0
    );
    assert!(
        !after.0.keys().any(|series| series.contains("/nope")),
        "a raw path became a label"
    );
    // The first scrape is counted by the second.
    assert_eq!(
        moved(r#"http_requests_total{route="/metrics",method="GET",status="200"}"#),
        1.0
    );

    // Three events (registered, logged in, session revoked) leave through the relay.
    let published = eventually(WAIT, || async {
        let now = Scrape::of(&app.http, &base).await;
        delta(&before, &now, "outbox_published_total") == 3.0 && now.get("outbox_backlog") == 0.0
    })
    .await;
    assert!(published, "the relay did not publish the three events");
    let now = Scrape::of(&app.http, &base).await;
    assert_eq!(delta(&before, &now, "outbox_publish_failures_total"), 0.0);
    assert_eq!(now.get("nats_connected"), 1.0);
    assert!(now.get("db_pool_size") >= 1.0);
    assert!(now.get("db_pool_available") >= 1.0);
    assert_eq!(now.get("db_pool_waiting"), 0.0);
}

#[tokio::test]
async fn verifier_counts_each_validation_outcome_and_reports_revoked_sessions() {
    let app = spawn_issuer().await;
    let verifier = spawn_verifier_for(&app).await;
    let base = verifier.url("");
    let http = reqwest::Client::new();
    let email = unique_email();
    let session = app.signed_in(&email).await;
    let access = session["access_token"].as_str().unwrap().to_owned();
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();
    let before = Scrape::of(&http, &base).await;
    assert_eq!(before.get("revoked_sessions"), 0.0);

    assert_eq!(verifier.status_for(&access).await, 200);
    assert_eq!(verifier.status_for("garbage").await, 401);
    assert_eq!(verifier.forward_auth("", &[]).await.status(), 401);
    assert_eq!(verifier.status_for(&expired_token()).await, 401);
    let validate = |token: String| {
        let http = http.clone();
        let url = verifier.url("/api/v1/auth/validate-token");
        async move {
            http.post(url)
                .json(&json!({ "token": token }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(validate(access.clone()).await, 200);
    assert_eq!(validate(expired_token()).await, 401);
    assert_eq!(validate("x.y.z".into()).await, 401);

    app.logout(&refresh).await.assert_success(200);
    // Wait on the verifier's own state, not on requests that would be counted.
    assert!(eventually(WAIT, || async { verifier.state.revocations.len() == 1 }).await);
    assert_eq!(verifier.status_for(&access).await, 401);
    assert_eq!(validate(access.clone()).await, 401);

    let after = Scrape::of(&http, &base).await;
    let moved = |series: &str| delta(&before, &after, series);
    for (endpoint, outcome, count) in [
        ("forward-auth", "valid", 1.0),
        ("forward-auth", "invalid", 2.0),
        ("forward-auth", "expired", 1.0),
        ("forward-auth", "revoked", 1.0),
        ("validate-token", "valid", 1.0),
        ("validate-token", "invalid", 1.0),
        ("validate-token", "expired", 1.0),
        ("validate-token", "revoked", 1.0),
    ] {
        assert_eq!(
            moved(&validations(endpoint, outcome)),
            count,
            "{endpoint} {outcome}"
        );
    }
    assert_eq!(
        moved(r#"http_requests_total{route="/forward-auth",method="GET",status="200"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"http_requests_total{route="/forward-auth",method="GET",status="401"}"#),
        4.0
    );
    assert_eq!(
        moved(
            r#"http_request_duration_seconds_count{route="/forward-auth",method="GET",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        moved(
            r#"http_request_duration_seconds_count{route="/forward-auth",method="GET",status="401"}"#
        ),
        4.0
    );
    assert!(after.has(
        r#"http_request_duration_seconds_bucket{route="/forward-auth",method="GET",status="200",le="0.0005"}"#
    ));
    assert_eq!(after.get("revoked_sessions"), 1.0);
    assert_eq!(after.get("nats_connected"), 1.0);

    // Unknown paths and made-up methods share one series each.
    let brew = reqwest::Method::from_bytes(b"BREW").unwrap();
    for path in ["/a", "/b/c", "/forward-auth/extra"] {
        let response = http
            .request(brew.clone(), verifier.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }
    let last = Scrape::of(&http, &base).await;
    assert_eq!(
        delta(
            &after,
            &last,
            r#"http_requests_total{route="unknown",method="other",status="404"}"#
        ),
        3.0
    );
    assert!(!last.0.keys().any(|series| series.contains("BREW")));
}

#[tokio::test]
async fn metrics_answer_get_only_and_in_plain_text() {
    let app = spawn_issuer().await;
    let response = app.http.post(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "METHOD_NOT_ALLOWED");
    let text = app.metrics_text().await;
    assert!(
        text.contains("# TYPE http_requests_total counter"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE http_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        !text.contains("# EOF"),
        "OpenMetrics trailer in the 0.0.4 format"
    );
}
