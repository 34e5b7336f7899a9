//! The mailer end to end: a real issuer (own database and stream) publishes the email events,
//! the mailer binary follows them, and a real SMTP server (aiosmtpd) receives the emails. The
//! link in an email carries a token the issuer accepts; an email waits for an SMTP server that
//! is down and then arrives exactly once; a refused recipient is given up without blocking the
//! next one; and no token or link reaches the mailer's logs.

pub mod fixtures;

use serde_json::{json, Value};

use crate::harness::{spawn_issuer, unique_email, NatsSettings, TestIssuer, TestNats, PASSWORD};
use fixtures::{link_and_token, SmtpSink, TestMailer, MAIL_FROM};

const VERIFY_LINK: &str = "https://app.example.com/verify-email?source=mail&token=";
const RESET_LINK: &str = "https://app.example.com/reset-password#token=";

async fn mailer_for(app: &TestIssuer, sink: &SmtpSink, log_level: &str) -> TestMailer {
    TestMailer::start(&app.nats, &sink.url(), log_level)
        .await
        .until_ready()
        .await
}

/// Asserts the shape every email has: our sender, the recipient, both parts, and the link in
/// the HTML part escaped as an attribute value.
#[track_caller]
fn assert_well_formed(message: &Value, to: &str, subject: &str, link: &str) {
    assert_eq!(message["rcpt_tos"], json!([to]));
    assert_eq!(message["to"], to);
    assert_eq!(message["from"], MAIL_FROM);
    assert_eq!(message["subject"], subject);
    assert_eq!(message["content_type"], "multipart/alternative");
    let html = message["html"].as_str().unwrap_or_default();
    let escaped = link.replace('&', "&amp;");
    assert!(
        html.contains(&format!("href=\"{escaped}\"")),
        "no escaped link in the HTML part:\n{html}"
    );
}

#[tokio::test]
async fn the_verification_email_arrives_and_its_link_verifies_the_account() {
    let app = spawn_issuer().await;
    let sink = SmtpSink::started().await;
    let mailer = mailer_for(&app, &sink, "info").await;
    let email = unique_email();

    app.register(&email, PASSWORD).await.assert_success(201);

    let message = sink.wait_for(&email).await;
    let (link, token) = link_and_token(&message, VERIFY_LINK, "token=");
    assert_well_formed(&message, &email, "Verify your email address", &link);
    assert!(!app.email_verified(&email).await);
    app.verify_email(&token).await.assert_success(200);
    assert!(app.email_verified(&email).await);
    mailer.until_metric_at_least("emails_sent_total", 1.0).await;
    mailer.until_caught_up().await;
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn an_email_waits_for_the_smtp_server_and_arrives_exactly_once() {
    let app = spawn_issuer().await;
    let mut sink = SmtpSink::reserved();
    let mailer = mailer_for(&app, &sink, "info").await;
    let email = unique_email();

    app.register(&email, PASSWORD).await.assert_success(201);
    // Tried while nothing listens, and given back to be retried.
    mailer
        .until_metric_at_least("email_retries_total", 1.0)
        .await;
    assert_eq!(mailer.metric("emails_sent_total").await, 0.0);
    sink.start().await;

    let message = sink.wait_for(&email).await;
    let (_, token) = link_and_token(&message, VERIFY_LINK, "token=");
    mailer.until_metric_at_least("emails_sent_total", 1.0).await;
    mailer.until_caught_up().await;
    assert_eq!(sink.messages_to(&email).len(), 1, "{:?}", sink.messages());
    assert_eq!(sink.messages().len(), 1);
    assert_eq!(mailer.metric("emails_sent_total").await, 1.0);
    assert_eq!(mailer.metric("emails_failed_total").await, 0.0);
    app.verify_email(&token).await.assert_success(200);
}

#[tokio::test]
async fn a_refused_recipient_is_given_up_and_the_next_email_still_goes() {
    let app = spawn_issuer().await;
    let sink = SmtpSink::started().await;
    let mailer = mailer_for(&app, &sink, "info").await;
    let refused = format!("refused-{}", unique_email());
    let accepted = unique_email();

    app.register(&refused, PASSWORD).await.assert_success(201);
    mailer
        .until_metric_at_least("emails_failed_total", 1.0)
        .await;
    app.register(&accepted, PASSWORD).await.assert_success(201);

    sink.wait_for(&accepted).await;
    mailer.until_caught_up().await;
    assert!(sink.messages_to(&refused).is_empty());
    assert_eq!(sink.messages().len(), 1);
    assert_eq!(mailer.metric("emails_failed_total").await, 1.0);
    assert_eq!(mailer.metric("email_retries_total").await, 0.0);
    assert_eq!(mailer.metric("emails_sent_total").await, 1.0);
    assert!(mailer.log().contains("rejected"), "{}", mailer.log());
}

#[tokio::test]
async fn the_password_reset_email_carries_a_link_that_resets_the_password() {
    let app = spawn_issuer().await;
    let sink = SmtpSink::started().await;
    let _mailer = mailer_for(&app, &sink, "info").await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    sink.wait_for(&email).await;

    app.post(
        "/api/v1/auth/password-reset/request",
        json!({"email": email}),
    )
    .await
    .assert_success(202);

    let reset = crate::harness::eventually(fixtures::WAIT, || async {
        sink.messages_to(&email).len() == 2
    })
    .await;
    assert!(reset, "no reset email: {:?}", sink.messages());
    let message = sink.messages_to(&email).remove(1);
    let (link, token) = link_and_token(&message, RESET_LINK, "#token=");
    assert_well_formed(&message, &email, "Reset your password", &link);
    assert!(message["text"]
        .as_str()
        .is_some_and(|text| text.contains(" UTC")));
    let new_password = "Another-Horse-7";
    app.post(
        "/api/v1/auth/password-reset/confirm",
        json!({"token": token, "password": new_password, "password_confirmation": new_password}),
    )
    .await
    .assert_success(200);
    app.login(&email, new_password).await.assert_success(200);
}

#[tokio::test]
async fn the_mailer_logs_name_events_but_never_a_token_or_a_link() {
    let app = spawn_issuer().await;
    let sink = SmtpSink::started().await;
    let mailer = mailer_for(&app, &sink, "trace").await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    app.post(
        "/api/v1/auth/password-reset/request",
        json!({"email": email}),
    )
    .await
    .assert_success(202);
    let both = crate::harness::eventually(fixtures::WAIT, || async {
        sink.messages_to(&email).len() == 2
    })
    .await;
    assert!(both, "emails: {:?}", sink.messages());
    mailer.until_metric_at_least("emails_sent_total", 2.0).await;

    let messages = sink.messages_to(&email);
    let (verify_link, verify_token) = link_and_token(&messages[0], VERIFY_LINK, "token=");
    let (reset_link, reset_token) = link_and_token(&messages[1], RESET_LINK, "#token=");
    let log = mailer.log();
    for secret in [&verify_link, &verify_token, &reset_link, &reset_token] {
        assert!(
            !log.contains(secret.as_str()),
            "{secret} in the log:\n{log}"
        );
    }
    assert!(!log.contains(&email), "the address is in the log:\n{log}");
    // The lines are there and name what happened, so the search above could fail.
    for event_type in ["user.registered", "user.password_reset_requested"] {
        let events = app.events(event_type).await;
        let event_id = events[0]["event_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!event_id.is_empty());
        assert!(
            log.lines()
                .any(|l| l.contains(&event_id) && l.contains("sent") && l.contains(event_type)),
            "no `sent` line for {event_type} {event_id}:\n{log}"
        );
    }
}

/// NATS refuses the mailer's token: it keeps running and retrying, its readiness answers 503
/// with `nats: refused` and the reason, and its log names the variable, never the token.
#[tokio::test]
async fn refused_nats_credentials_make_the_mailer_not_ready_and_say_why() {
    let nats = TestNats::start_configured("authorization { token: \"right-token-0123\" }").await;
    let settings = NatsSettings {
        url: nats.url.clone(),
        ..NatsSettings::unique()
    };
    let sink = SmtpSink::started().await;
    let mailer = TestMailer::start_with(
        &settings,
        &sink.url(),
        "info",
        &[("NATS_TOKEN", "wrong-token-0123")],
    )
    .await;
    let refused = crate::harness::eventually(fixtures::WAIT, || async {
        let (status, body) = mailer.get("/health/ready").await;
        let body: Value = serde_json::from_str(&body).unwrap_or_default();
        status == 503 && body["nats"] == "refused"
    })
    .await;
    let (status, body) = mailer.get("/health/ready").await;
    assert!(
        refused,
        "readiness never reported the refusal: {status} {body}"
    );
    let body: Value = serde_json::from_str(&body).unwrap_or_default();
    assert_eq!(body["status"], "not_ready", "{body}");
    assert_eq!(
        body["reason"], "NATS refused the credentials (authorization violation)",
        "{body}"
    );
    let log = mailer.log();
    assert!(log.contains("NATS_TOKEN"), "{log}");
    assert!(
        !log.contains("wrong-token-0123"),
        "the token is in the log:\n{log}"
    );
}
