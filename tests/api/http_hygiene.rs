use std::time::Duration;

use serde_json::json;

use crate::harness::{eventually, spawn_issuer, spawn_issuer_with, unique_email, PASSWORD};
use crate::raw_http::Conn;

const REGISTER: &str = "/api/v1/auth/register";

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
    let app = spawn_issuer().await;
    app.get("/nope", None).await.assert_error(404, "NOT_FOUND");
    app.get("/api/v1/auth/login/", None)
        .await
        .assert_error(404, "NOT_FOUND");

    let reply = app.get("/api/v1/auth/login", None).await;
    reply.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(reply.header("allow"), "POST");
    let reply = app.post("/api/v1/auth/me", json!({})).await;
    reply.assert_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(reply.header("allow"), "GET, DELETE");
}

#[tokio::test]
async fn bodies_must_be_json_objects_of_known_string_fields() {
    let app = spawn_issuer().await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "text/plain",
            br#"{"email":"a@b.co"}"#.to_vec(),
            "content-type",
        ),
        ("application/json", b"{not json".to_vec(), "body"),
        ("application/json", b"".to_vec(), "body"),
        ("application/json", b"[1,2]".to_vec(), "body"),
        ("application/json", b"\"text\"".to_vec(), "body"),
        (
            "application/json",
            b"{\"email\":\"\xff\xfe\"}".to_vec(),
            "body",
        ),
        (
            "application/json",
            br#"{"email":"a@b.co","password":"x","password_confirmation":"x","role":"admin"}"#
                .to_vec(),
            "role",
        ),
        (
            "application/json",
            br#"{"email":"a@b.co","email":"c@d.co","password":"x","password_confirmation":"x"}"#
                .to_vec(),
            "email",
        ),
        (
            "application/json",
            br#"{"email":42,"password":"x","password_confirmation":"x"}"#.to_vec(),
            "email",
        ),
        (
            "application/json",
            br#"{"email":"a@b.co","password_confirmation":"x"}"#.to_vec(),
            "password",
        ),
        (
            "application/json",
            format!("{}{}", "[".repeat(1000), "]".repeat(1000)).into_bytes(),
            "body",
        ),
    ];
    for (content_type, body, field) in cases {
        let reply = app.post_raw(REGISTER, content_type, body.clone()).await;
        reply.assert_error(400, "VALIDATION_ERROR");
        assert_eq!(
            reply.body["error"]["details"]["field"],
            field,
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    let reply = app
        .post_raw(
            REGISTER,
            "application/json; charset=utf-8",
            serde_json::to_vec(&json!({
                "email": unique_email(), "password": PASSWORD, "password_confirmation": PASSWORD
            }))
            .unwrap(),
        )
        .await;
    reply.assert_success(201);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let app = spawn_issuer_with(|env| {
        env.insert("MAX_BODY_BYTES".into(), "1024".into());
    })
    .await;
    let big =
        json!({"email": "a@b.co", "password": "x".repeat(2000), "password_confirmation": "x"});
    app.post(REGISTER, big)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");

    // Without Content-Length (chunked), the limit still holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"{\"email\":\"".to_vec()),
        Ok(vec![b'a'; 4096]),
        Ok(b"\"}".to_vec()),
    ];
    let response = app
        .http
        .post(app.url(REGISTER))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");
    assert_eq!(app.get("/health", None).await.status, 200);
}

#[tokio::test]
async fn the_request_id_is_echoed_or_generated() {
    let app = spawn_issuer().await;
    let echoed = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "req-123");
    let generated = app.http.get(app.url("/health")).send().await.unwrap();
    assert!(generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .parse::<uuid::Uuid>()
        .is_ok());
    // Something unfit for a log line is replaced, not echoed.
    let hostile = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "a b\"c")
        .send()
        .await
        .unwrap();
    assert_ne!(hostile.headers()["x-request-id"], "a b\"c");
    assert_eq!(generated.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish_and_refuses_new_connections() {
    let app = spawn_issuer().await;
    let addr = app.addr;
    let email = unique_email();
    let body = json!({"email": email, "password": PASSWORD, "password_confirmation": PASSWORD})
        .to_string();

    // Arrange: a registration whose head has arrived and whose handler is waiting for the
    // body. hyper answers `100 Continue` only once the handler reads the body, so that
    // interim response proves the request is in flight.
    let mut conn = Conn::open(addr).await;
    let head = format!(
        "POST {REGISTER} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    conn.send(head.as_bytes()).await.expect("send the head");
    let interim = conn.response().await.map(|reply| reply.status);
    assert_eq!(interim, Some(100), "the handler never asked for the body");
    let (first_half, second_half) = body.split_at(body.len() / 2);
    conn.send(first_half.as_bytes())
        .await
        .expect("send half the body");

    // Act: shut down while the request waits for the rest of its body.
    let stopping = tokio::spawn(app.stop());
    let refusing = eventually(Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    assert!(refusing, "still accepting connections after shutdown began");
    assert!(
        !stopping.is_finished(),
        "shutdown did not wait for the request"
    );
    conn.send(second_half.as_bytes())
        .await
        .expect("the connection in flight stays open");

    // Assert: the whole response arrives, then the connection and the server close.
    let reply = conn.response().await.expect("a complete response");
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.body["success"], true, "{reply:?}");
    assert_eq!(reply.body["data"]["email"], email.as_str(), "{reply:?}");
    reply.assert_security_headers();
    assert!(conn.closed_within(Duration::from_secs(5)).await);
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the server stops once the request is answered")
        .expect("the server task ends cleanly");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "accepting again after shutdown"
    );
}
