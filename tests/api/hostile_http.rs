//! Hostile HTTP clients against both services: slow or broken requests, smuggling attempts,
//! odd methods and targets, too many connections. Every case asserts the exact answer and
//! that the service still answers `/health` afterwards.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use test_support::accounts::cheap_argon2;

use crate::harness::{spawn_issuer_with, spawn_verifier_with, TestIssuer, TestVerifier};
use crate::raw_http::{assert_healthy, exchange, health, Conn, RawReply};

const VALIDATE: &str = "/api/v1/auth/validate-token";

/// Both services with the same settings (short timeouts, small header limits).
pub(crate) struct Both {
    issuer: TestIssuer,
    verifier: TestVerifier,
}

impl Both {
    pub(crate) async fn start(settings: &[(&str, &str)]) -> Both {
        let vars: HashMap<String, String> = [
            ("HEADER_READ_TIMEOUT_SECONDS", "1"),
            ("BODY_READ_TIMEOUT_SECONDS", "1"),
            ("KEEP_ALIVE_TIMEOUT_SECONDS", "5"),
            ("MAX_HEADER_BYTES", "8192"),
            ("MAX_HEADERS", "20"),
            ("MAX_BODY_BYTES", "1024"),
        ]
        .iter()
        .chain(settings)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let for_verifier = vars.clone();
        let issuer = spawn_issuer_with(move |env| env.extend(vars)).await;
        let verifier = spawn_verifier_with(move |env| env.extend(for_verifier)).await;
        Both { issuer, verifier }
    }

    pub(crate) fn targets(&self) -> [(&'static str, SocketAddr); 2] {
        [
            ("issuer", self.issuer.addr),
            ("verifier", self.verifier.addr),
        ]
    }

    /// Asserts both services answer `/health`.
    pub(crate) async fn assert_healthy(&self) {
        for (service, addr) in self.targets() {
            assert_healthy(health(addr).await, service);
        }
    }
}

fn request(method: &str, target: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}\r\n{body}")
        .into_bytes()
}

async fn answer(addr: SocketAddr, bytes: &[u8], service: &str) -> RawReply {
    exchange(addr, bytes)
        .await
        .unwrap_or_else(|| panic!("{service}: no response"))
}

#[tokio::test]
async fn dripped_headers_are_cut_off_at_the_header_timeout() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        let mut conn = Conn::open(addr).await;
        let request = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let mut cut_off = false;
        for byte in request.iter() {
            if conn.send(&[*byte]).await.is_err() {
                cut_off = true;
                break;
            }
            // A byte every 100 ms: the 1 s header timeout passes long before the headers end.
            if conn.closed_within(Duration::from_millis(100)).await {
                cut_off = true;
                break;
            }
        }
        assert!(cut_off, "{service}: a dripping client was not cut off");
        // As documented: the connection is closed, with no answer (hyper sends none).
        assert_eq!(conn.response().await.map(|r| r.status), None, "{service}");
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn a_connection_that_never_sends_a_byte_is_closed() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        let mut conn = Conn::open(addr).await;
        let started = Instant::now();
        assert!(
            conn.closed_within(Duration::from_secs(30)).await,
            "{service}: a silent connection stayed open"
        );
        assert!(started.elapsed() >= Duration::from_millis(800), "{service}");
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn a_body_slower_than_the_body_timeout_is_400_and_the_connection_closes() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        let mut conn = Conn::open(addr).await;
        let head = request(
            "POST",
            VALIDATE,
            "Content-Type: application/json\r\nContent-Length: 200\r\n",
            r#"{"token":"#,
        );
        conn.send(&head).await.unwrap_or_else(|err| panic!("{err}"));
        let reply = conn
            .response()
            .await
            .unwrap_or_else(|| panic!("{service}: no answer to a stalled body"));
        reply.assert_envelope(400, "VALIDATION_ERROR");
        assert_eq!(reply.body["error"]["details"]["field"], "body", "{service}");
        assert_eq!(reply.header("connection"), "close", "{service}");
        assert!(
            conn.closed_within(Duration::from_secs(30)).await,
            "{service}"
        );
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn a_missing_or_repeated_host_is_400_on_every_route_and_403_at_forward_auth() {
    let both = Both::start(&[]).await;
    let routes = [
        ("GET", "/health"),
        ("GET", "/health/live"),
        ("POST", VALIDATE),
        ("GET", "/no-such-route"),
        ("GET", "/forward-auth"),
        ("GET", "/api/v1/auth/me"),
    ];
    for (service, addr) in both.targets() {
        for (method, path) in routes {
            // Forward-auth answers only 200, 401 or 403, whatever the client sends.
            let (status, code) = if service == "verifier" && path == "/forward-auth" {
                (403, "FORBIDDEN")
            } else {
                (400, "VALIDATION_ERROR")
            };
            let without = format!("{method} {path} HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
            let reply = answer(addr, without.as_bytes(), service).await;
            reply.assert_envelope(status, code);
            assert_eq!(
                reply.body["error"]["details"]["field"], "host",
                "{service} {path}"
            );

            let twice = format!(
                "{method} {path} HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nContent-Length: 0\r\n\r\n"
            );
            let reply = answer(addr, twice.as_bytes(), service).await;
            reply.assert_envelope(status, code);
            assert_eq!(
                reply.body["error"]["details"]["field"], "host",
                "{service} {path}"
            );
        }
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn oversized_headers_and_too_many_headers_get_431() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        let big = format!("X-Big: {}\r\n", "a".repeat(10_000));
        let reply = answer(addr, &request("GET", "/health", &big, ""), service).await;
        assert_eq!(reply.status, 431, "{service}: oversized header");

        let many: String = (0..30).map(|i| format!("X-H{i}: v\r\n")).collect();
        let reply = answer(addr, &request("GET", "/health", &many, ""), service).await;
        assert_eq!(reply.status, 431, "{service}: too many headers");

        // Just under both limits is fine.
        let fine: String = (0..15).map(|i| format!("X-H{i}: v\r\n")).collect();
        let reply = answer(addr, &request("GET", "/health", &fine, ""), service).await;
        assert_eq!(reply.status, 200, "{service}");
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        let mut conn = Conn::open(addr).await;
        let mut pipeline = request("GET", "/health/live", "X-Request-Id: first\r\n", "");
        pipeline.extend(request("GET", "/nope", "X-Request-Id: second\r\n", ""));
        pipeline.extend(request(
            "GET",
            "/health/live",
            "X-Request-Id: third\r\n",
            "",
        ));
        conn.send(&pipeline)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        let mut seen = Vec::new();
        for _ in 0..3 {
            let reply = conn
                .response()
                .await
                .unwrap_or_else(|| panic!("{service}: a pipelined request went unanswered"));
            seen.push((reply.status, reply.header("x-request-id").to_owned()));
        }
        assert_eq!(
            seen,
            [
                (200, "first".to_owned()),
                (404, "second".to_owned()),
                (200, "third".to_owned())
            ],
            "{service}"
        );
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn odd_methods_get_405_or_404_and_never_a_5xx() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        for method in ["FOO", "TRACE", "PATCH", "DELETE", "PUT"] {
            for (path, allow) in [("/health", "GET"), (VALIDATE, "POST")] {
                let reply = answer(addr, &request(method, path, "", ""), service).await;
                reply.assert_envelope(405, "METHOD_NOT_ALLOWED");
                assert_eq!(reply.header("allow"), allow, "{service} {method} {path}");
            }
        }
        // CONNECT names an authority, not a path: no route has it.
        let reply = answer(
            addr,
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            service,
        )
        .await;
        reply.assert_envelope(404, "NOT_FOUND");
    }
    // Forward-auth answers any method, an odd one included: without a token that is 401.
    let reply = answer(
        both.verifier.addr,
        &request("FOO", "/forward-auth", "", ""),
        "verifier",
    )
    .await;
    reply.assert_envelope(401, "INVALID_TOKEN");
    both.assert_healthy().await;
}

#[tokio::test]
async fn absolute_form_targets_are_routed_by_their_path() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        let reply = answer(
            addr,
            b"GET http://elsewhere.example/health/live HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n",
            service,
        )
        .await;
        assert_eq!(reply.status, 200, "{service}");
        assert_eq!(reply.body["status"], "alive", "{service}");
        let reply = answer(
            addr,
            b"GET http://elsewhere.example/nope HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n",
            service,
        )
        .await;
        reply.assert_envelope(404, "NOT_FOUND");
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn overlong_uris_are_404_within_the_header_limit_and_431_past_it() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        let long = format!("/{}", "a".repeat(6_000));
        let reply = answer(addr, &request("GET", &long, "", ""), service).await;
        reply.assert_envelope(404, "NOT_FOUND");

        let too_long = format!("/{}", "a".repeat(20_000));
        let reply = answer(addr, &request("GET", &too_long, "", ""), service).await;
        assert_eq!(reply.status, 431, "{service}");
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn invalid_percent_encoding_in_the_path_is_404() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        for path in [
            "/health%zz",
            "/api/v1/auth/validate-token%",
            "/%c0%af%",
            "/health%2",
        ] {
            let reply = answer(addr, &request("GET", path, "", ""), service).await;
            reply.assert_envelope(404, "NOT_FOUND");
        }
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn a_broken_chunked_body_is_400() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        for body in [
            "zz\r\n{}\r\n0\r\n\r\n",
            "ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
            "2\r\n{}XX0\r\n\r\n",
        ] {
            let raw = request(
                "POST",
                VALIDATE,
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
                body,
            );
            let reply = answer(addr, &raw, service).await;
            reply.assert_envelope(400, "VALIDATION_ERROR");
            assert_eq!(reply.body["error"]["details"]["field"], "body", "{service}");
        }
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn content_length_with_transfer_encoding_closes_the_connection_and_nothing_is_smuggled() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        // Classic CL.TE: a proxy honouring Content-Length would forward the smuggled request as
        // the body. hyper reads the chunked framing only and closes the connection after it.
        let smuggled = "0\r\n\r\nGET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n";
        let raw = request(
            "POST",
            VALIDATE,
            &format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n",
                smuggled.len()
            ),
            smuggled,
        );
        let mut conn = Conn::open(addr).await;
        conn.send(&raw).await.unwrap_or_else(|err| panic!("{err}"));
        let reply = conn
            .response()
            .await
            .unwrap_or_else(|| panic!("{service}: no answer"));
        // hyper lets Transfer-Encoding win and drops Content-Length (RFC 9112 section 6.1), so the
        // body is the empty chunked one: not JSON.
        reply.assert_envelope(400, "VALIDATION_ERROR");
        assert_eq!(reply.body["error"]["details"]["field"], "body", "{service}");
        assert_eq!(reply.header("connection"), "close", "{service}");
        // The connection is closed after it: the smuggled request is never answered.
        assert!(
            conn.response().await.is_none(),
            "{service}: a request was smuggled"
        );
        assert!(
            conn.closed_within(Duration::from_secs(2)).await,
            "{service}"
        );

        // The same on a route that reads no body: answered, then closed, nothing smuggled.
        let mut conn = Conn::open(addr).await;
        let raw = request(
            "GET",
            "/health/live",
            &format!(
                "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
                smuggled.len()
            ),
            smuggled,
        );
        conn.send(&raw).await.unwrap_or_else(|err| panic!("{err}"));
        let reply = conn
            .response()
            .await
            .map(|r| (r.status, r.header("connection").to_owned()));
        assert_eq!(reply, Some((200, "close".to_owned())), "{service}");
        assert!(
            conn.response().await.is_none(),
            "{service}: a request was smuggled"
        );
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn negative_garbage_or_conflicting_content_lengths_are_400() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        for lengths in [
            "Content-Length: -1\r\n",
            "Content-Length: abc\r\n",
            "Content-Length: 1e3\r\n",
            "Content-Length: 2\r\nContent-Length: 3\r\n",
        ] {
            let raw = request(
                "POST",
                VALIDATE,
                &format!("Content-Type: application/json\r\n{lengths}"),
                "{}",
            );
            let reply = answer(addr, &raw, service).await;
            assert_eq!(reply.status, 400, "{service}: {lengths}");
        }
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn http_1_0_requests_are_answered_and_closed() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        let mut conn = Conn::open(addr).await;
        conn.send(b"GET /health/live HTTP/1.0\r\n\r\n")
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        let reply = conn
            .response()
            .await
            .unwrap_or_else(|| panic!("{service}: no answer"));
        assert_eq!(reply.status, 200, "{service}");
        assert!(
            conn.closed_within(Duration::from_secs(2)).await,
            "{service}"
        );

        let reply = answer(addr, b"GET /nope HTTP/1.0\r\n\r\n", service).await;
        reply.assert_envelope(404, "NOT_FOUND");
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn garbage_instead_of_a_request_is_400() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        for garbage in [
            &b"HELLO\r\n\r\n"[..],
            b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n",
            b"GET /health HTTP/1.1\r\nBad Header: x\r\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
        ] {
            let status = exchange(addr, garbage).await.map(|r| r.status);
            assert_eq!(
                status,
                Some(400),
                "{service}: {}",
                String::from_utf8_lossy(garbage)
            );
        }
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn past_the_connection_cap_clients_get_503_and_service_recovers() {
    let both = Both::start(&[("MAX_CONNECTIONS", "2")]).await;
    for (service, addr) in both.targets() {
        // Two kept-alive connections take both places.
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut conn = Conn::open(addr).await;
            conn.send(&request("GET", "/health/live", "", ""))
                .await
                .unwrap_or_else(|err| panic!("{err}"));
            let reply = conn.response().await.map(|r| r.status);
            assert_eq!(reply, Some(200), "{service}");
            held.push(conn);
        }
        let reply = answer(addr, &request("GET", "/health", "", ""), service).await;
        reply.assert_envelope(503, "SERVICE_UNAVAILABLE");
        assert_eq!(reply.header("connection"), "close", "{service}");
        assert_eq!(reply.header("retry-after"), "1", "{service}");

        drop(held);
        let recovered = crate::harness::eventually(Duration::from_secs(30), || async {
            health(addr).await.is_some_and(|r| r.status == 200)
        })
        .await;
        assert!(
            recovered,
            "{service} did not recover after connections closed"
        );
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let both = Both::start(&[
        ("HEADER_READ_TIMEOUT_SECONDS", "10"),
        ("KEEP_ALIVE_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    for (service, addr) in both.targets() {
        let mut conn = Conn::open(addr).await;
        conn.send(&request("GET", "/health/live", "", ""))
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(conn.response().await.map(|r| r.status), Some(200));
        let started = Instant::now();
        assert!(
            conn.closed_within(Duration::from_secs(4)).await,
            "{service}: an idle keep-alive connection stayed open"
        );
        assert!(started.elapsed() >= Duration::from_millis(800), "{service}");

        // A connection in use is not idle: requests one after another keep it open.
        let mut conn = Conn::open(addr).await;
        for _ in 0..4 {
            conn.send(&request("GET", "/health/live", "", ""))
                .await
                .unwrap_or_else(|err| panic!("{service}: {err}"));
            assert_eq!(conn.response().await.map(|r| r.status), Some(200));
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    }
    both.assert_healthy().await;
}

#[tokio::test]
async fn error_responses_carry_the_security_headers() {
    let both = Both::start(&[]).await;
    for (service, addr) in both.targets() {
        answer(addr, &request("GET", "/nope", "", ""), service)
            .await
            .assert_envelope(404, "NOT_FOUND");
        answer(addr, &request("GET", VALIDATE, "", ""), service)
            .await
            .assert_envelope(405, "METHOD_NOT_ALLOWED");
        let big = "x".repeat(2048);
        answer(
            addr,
            &request(
                "POST",
                VALIDATE,
                &format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n",
                    big.len()
                ),
                &big,
            ),
            service,
        )
        .await
        .assert_envelope(413, "PAYLOAD_TOO_LARGE");
        let reply = answer(addr, &request("GET", "/health", "", ""), service).await;
        assert_eq!(reply.status, 200);
        reply.assert_security_headers();
    }
    both.assert_healthy().await;
}

/// Pings every 100 ms on an HTTP/2 connection until it closes; the time it stayed open, or
/// `None` if it was still open after `within`.
async fn http2_open_while_pinging(
    addr: SocketAddr,
    within: Duration,
    request_first: bool,
) -> Option<Duration> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|err| panic!("connect: {err}"));
    let (mut client, mut connection) = h2::client::handshake(tcp)
        .await
        .unwrap_or_else(|err| panic!("HTTP/2 handshake: {err}"));
    let mut pings = connection.ping_pong().expect("the first ping_pong handle");
    let driver = tokio::spawn(connection);
    let started = Instant::now();
    if request_first {
        let request = http::Request::get(format!("http://{addr}/health/live"))
            .body(())
            .expect("a request");
        let (response, _) = client
            .send_request(request, true)
            .unwrap_or_else(|err| panic!("send: {err}"));
        let response = response
            .await
            .unwrap_or_else(|err| panic!("response: {err}"));
        assert_eq!(response.status(), 200);
    }
    while started.elapsed() < within {
        let pong =
            tokio::time::timeout(Duration::from_secs(1), pings.ping(h2::Ping::opaque())).await;
        if !matches!(pong, Ok(Ok(_))) || driver.is_finished() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver.abort();
    None
}

#[tokio::test]
async fn an_http2_client_dripping_frames_cannot_hold_a_connection_open() {
    let both = Both::start(&[
        ("HEADER_READ_TIMEOUT_SECONDS", "1"),
        ("KEEP_ALIVE_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    for (service, addr) in both.targets() {
        // Before any request: the header timeout bounds it, PINGs or not.
        let open = http2_open_while_pinging(addr, Duration::from_secs(6), false).await;
        assert!(
            open.is_some_and(|open| open >= Duration::from_millis(800)),
            "{service}: a pinging HTTP/2 connection without requests stayed open {open:?}"
        );
        // After a request: the keep-alive timeout bounds it, PINGs or not.
        let open = http2_open_while_pinging(addr, Duration::from_secs(6), true).await;
        assert!(
            open.is_some_and(|open| open >= Duration::from_millis(800)),
            "{service}: a pinging idle HTTP/2 connection stayed open {open:?}"
        );
    }
    both.assert_healthy().await;
}

/// An issuer on a dual-stack `[::]` listener behind an IPv4 proxy (the test, from 127.0.0.1,
/// which the listener sees as `::ffff:127.0.0.1`), and `X-Forwarded-For` in every spelling:
/// each login succeeds and its `user.logged_in` event carries the canonical client address.
#[tokio::test]
async fn forwarded_addresses_in_any_spelling_are_canonical_on_a_dual_stack_listener() {
    let issuer = spawn_issuer_with(|env| {
        env.insert("ISSUER_ADDR".into(), "[::]:0".into());
        env.insert("TRUSTED_PROXIES".into(), "127.0.0.0/8".into());
        cheap_argon2(env);
    })
    .await;
    let email = crate::harness::unique_email();
    let password = crate::harness::PASSWORD;
    issuer.register(&email, password).await.assert_success(201);
    let url = format!("http://127.0.0.1:{}/api/v1/auth/login", issuer.addr.port());
    let login = serde_json::json!({"email": email, "password": password});
    // (X-Forwarded-For, the client address the issuer must record)
    let cases = [
        ("0:0:0:0:0:ffff:cb00:7107", "203.0.113.7"),
        ("::FFFF:203.0.113.8", "203.0.113.8"),
        // A trusted hop in mapped form is skipped like its IPv4 form.
        ("203.0.113.9, ::ffff:127.0.0.1", "203.0.113.9"),
        ("198.51.100.1, 203.0.113.10, 127.0.0.5", "203.0.113.10"),
        // Unparsable: the walk stops at the proxy, recorded as IPv4.
        ("[::ffff:203.0.113.11]", "127.0.0.1"),
        ("::ffff:203.0.113.12:443", "127.0.0.1"),
        // A real IPv6 client stays IPv6.
        ("2001:db8::7", "2001:db8::7"),
    ];
    for (index, (forwarded, expected)) in cases.iter().enumerate() {
        let response = issuer
            .http
            .post(&url)
            .header("x-forwarded-for", *forwarded)
            .json(&login)
            .send()
            .await
            .unwrap_or_else(|err| panic!("{forwarded}: {err}"));
        crate::harness::Reply::read(response)
            .await
            .assert_success(200);
        let events = issuer.events("user.logged_in").await;
        assert_eq!(events.len(), index + 1, "{forwarded}");
        assert_eq!(
            events[index]["data"]["ip_address"], *expected,
            "X-Forwarded-For: {forwarded}"
        );
    }
    let health = exchange(
        SocketAddr::from(([127, 0, 0, 1], issuer.addr.port())),
        b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_healthy(health, "issuer");
}
