//! One mailbox is one account, however its address is spelt (UTS-46 domains, NFC local parts),
//! and one account has one live verification token, however many resends race.

use futures::future::join_all;
use serde_json::json;
use uuid::Uuid;

use crate::harness::{spawn_issuer, Reply, TestIssuer, PASSWORD};

const RESEND: &str = "/api/v1/auth/resend-verification";

fn tag() -> String {
    Uuid::new_v4().simple().to_string()
}

/// The contract's code, never a 5xx, and the service still answers afterwards.
#[track_caller]
fn assert_refused(case: &str, reply: &Reply, status: u16, code: &str) {
    assert!(reply.status < 500, "{case}: {}", reply.body);
    assert_eq!(
        (reply.status, reply.code()),
        (status, code),
        "{case}: {}",
        reply.body
    );
}

async fn user_count(app: &TestIssuer) -> i64 {
    app.db
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .map(|row| row.get(0))
        .unwrap_or(-1)
}

async fn logs_in_as(app: &TestIssuer, email: &str) -> String {
    let login = app.login(email, PASSWORD).await;
    login.assert_success(200);
    login.data()["user_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_unicode_domain_and_its_punycode_are_one_account() {
    let app = spawn_issuer().await;
    let tag = tag();
    let unicode = format!("ada-{tag}@exämple.de");
    let stored = format!("ada-{tag}@xn--exmple-cua.de");

    let first = app.register(&unicode, PASSWORD).await;

    first.assert_success(201);
    assert_eq!(first.data()["email"], stored.as_str());
    let row = app
        .db
        .query_one("SELECT email FROM users", &[])
        .await
        .map(|row| row.get::<_, String>(0));
    assert_eq!(row.ok(), Some(stored.clone()));
    let spellings = [
        ("punycode", stored.clone()),
        ("punycode in capitals", stored.to_uppercase()),
        ("unicode in capitals", unicode.to_uppercase()),
        ("fullwidth letters", format!("ada-{tag}@ｅｘäｍｐｌｅ.ｄｅ")),
        ("ideographic full stop", format!("ada-{tag}@exämple。de")),
        ("decomposed ä", format!("ada-{tag}@exa\u{308}mple.de")),
    ];
    for (case, spelling) in &spellings {
        let reply = app.register(spelling, PASSWORD).await;
        assert_refused(case, &reply, 400, "DUPLICATE_EMAIL");
    }
    assert_eq!(user_count(&app).await, 1);
    let user_id = first.data()["user_id"].as_str().unwrap_or_default();
    for spelling in [&unicode, &stored] {
        assert_eq!(logs_in_as(&app, spelling).await, user_id, "{spelling}");
    }
    app.assert_healthy().await;
}

#[tokio::test]
async fn composed_and_decomposed_local_parts_are_one_account() {
    let app = spawn_issuer().await;
    let tag = tag();
    let composed = format!("jos\u{e9}-{tag}@example.com");
    let decomposed = format!("jose\u{301}-{tag}@example.com");

    let first = app.register(&decomposed, PASSWORD).await;

    first.assert_success(201);
    assert_eq!(first.data()["email"], composed.as_str());
    let second = app.register(&composed, PASSWORD).await;
    assert_refused("NFC after NFD", &second, 400, "DUPLICATE_EMAIL");
    let shouted = app
        .register(&format!("JOSE\u{301}-{tag}@EXAMPLE.COM"), PASSWORD)
        .await;
    assert_refused("NFD in capitals", &shouted, 400, "DUPLICATE_EMAIL");
    assert_eq!(user_count(&app).await, 1);
    let user_id = first.data()["user_id"].as_str().unwrap_or_default();
    assert_eq!(logs_in_as(&app, &composed).await, user_id);
    assert_eq!(logs_in_as(&app, &decomposed).await, user_id);
    app.assert_healthy().await;
}

#[tokio::test]
async fn a_domain_uts46_refuses_is_an_invalid_email() {
    let app = spawn_issuer().await;
    let cases = [
        ("zero-width joiner in the domain", "ada@ex\u{200d}ample.de"),
        (
            "replacement character in the domain",
            "ada@exa\u{fffd}mple.de",
        ),
        ("broken punycode label", "ada@xn--ab-.de"),
        (
            "left-to-right and right-to-left in one label",
            "ada@a\u{5d0}.de",
        ),
        ("underscore in the domain", "ada@exam_ple.de"),
    ];
    for (case, email) in cases {
        let reply = app.register(email, PASSWORD).await;
        assert_refused(case, &reply, 400, "INVALID_EMAIL");
        assert_eq!(reply.body["error"]["details"]["field"], "email", "{case}");
    }
    assert_eq!(user_count(&app).await, 0);
    app.assert_healthy().await;
}

#[tokio::test]
async fn resend_in_another_spelling_reaches_the_same_account() {
    let app = spawn_issuer().await;
    let tag = tag();
    let stored = format!("ada-{tag}@xn--exmple-cua.de");
    app.register(&format!("ada-{tag}@exämple.de"), PASSWORD)
        .await
        .assert_success(201);

    let reply = app.post(RESEND, json!({ "email": stored })).await;

    reply.assert_success(202);
    assert_eq!(app.events("user.verification_requested").await.len(), 1);
    let token = app.verification_token(&stored).await;
    app.verify_email(&token).await.assert_success(200);
}

#[tokio::test]
async fn ten_concurrent_resends_leave_exactly_one_live_verification_token() {
    let app = spawn_issuer().await;
    let email = format!("ada-{}@example.com", tag());
    let registered = app.register(&email, PASSWORD).await;
    registered.assert_success(201);
    let user_id: Uuid = registered.data()["user_id"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .unwrap_or_default();

    let replies = join_all((0..10).map(|_| app.post(RESEND, json!({ "email": email })))).await;

    for reply in &replies {
        reply.assert_success(202);
    }
    let live: i64 = app
        .db
        .query_one(
            "SELECT count(*) FROM email_verification_tokens WHERE user_id = $1 AND used_at IS NULL",
            &[&user_id],
        )
        .await
        .map(|row| row.get(0))
        .unwrap_or(-1);
    assert_eq!(live, 1);
    // Every resend was sent; the last one's token is the live one.
    let requested = app.events("user.verification_requested").await;
    assert_eq!(requested.len(), 10);
    let tokens: Vec<&str> = requested
        .iter()
        .map(|e| {
            e["data"]["email_verification_token"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    if tokens.iter().all(|t| !t.is_empty()) {
        for stale in &tokens[..9] {
            let reply = app.verify_email(stale).await;
            assert_refused("a replaced token", &reply, 401, "INVALID_TOKEN");
        }
        app.verify_email(tokens[9]).await.assert_success(200);
    } else {
        // The relay already stripped tokens from the rows: the latest is in the stream.
        let token = app.verification_token(&email).await;
        app.verify_email(&token).await.assert_success(200);
    }
    app.assert_healthy().await;
}
