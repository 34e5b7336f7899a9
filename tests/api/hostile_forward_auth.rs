//! Hostile requests to `/forward-auth` sent straight to the verifier: forged identity headers,
//! malformed `X-Forwarded-*`, scheme spellings, cookie tricks and rule spellings. The answer
//! is always 200, 401 or 403 with the exact code, a 200 carries only the verifier's values, and
//! the verifier still answers `/health` afterwards.

use common::jwt::AccessClaims;
use serde_json::Value;

use crate::harness::{access_claims as claims, sign_access as sign, spawn_verifier, TestVerifier};
use crate::raw_http::{assert_healthy, exchange, health, RawReply};

const IDENTITY: [&str; 4] = [
    "x-user-id",
    "x-user-email",
    "x-email-verified",
    "x-session-id",
];

struct Answer {
    status: u16,
    code: String,
    headers: reqwest::header::HeaderMap,
}

async fn ask(verifier: &TestVerifier, rules: &str, headers: &[(&str, &str)]) -> Answer {
    let response = verifier.forward_auth(rules, headers).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        code: body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        headers,
    }
}

impl Answer {
    #[track_caller]
    fn is(&self, status: u16, code: &str, case: &str) {
        assert_eq!((self.status, self.code.as_str()), (status, code), "{case}");
        if status == 401 {
            let challenge = self
                .headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok());
            assert!(challenge.is_some_and(|c| c.starts_with("Bearer")), "{case}");
        }
        if status != 200 {
            for name in IDENTITY {
                assert!(
                    self.headers.get(name).is_none(),
                    "{case}: {name} on a {status}"
                );
            }
        }
    }

    /// A 200 whose identity headers are exactly the token's, each once.
    #[track_caller]
    fn identifies(&self, claims: &AccessClaims, case: &str) {
        self.is(200, "", case);
        let expected = [
            claims.sub.to_string(),
            claims.email.clone(),
            claims.email_verified.to_string(),
            claims.sid.to_string(),
        ];
        for (name, value) in IDENTITY.iter().zip(expected) {
            let values: Vec<_> = self.headers.get_all(*name).iter().collect();
            assert_eq!(values.len(), 1, "{case}: {name}");
            assert_eq!(
                values[0].to_str().ok(),
                Some(value.as_str()),
                "{case}: {name}"
            );
        }
    }
}

const FORGED: [(&str, &str); 5] = [
    ("x-user-id", "00000000-0000-0000-0000-000000000000"),
    ("x-user-email", "admin@example.com"),
    ("x-email-verified", "true"),
    ("x-session-id", "00000000-0000-0000-0000-000000000001"),
    ("x-user-role", "admin"),
];

#[tokio::test]
async fn forged_identity_headers_never_reach_the_answer() {
    let verifier = spawn_verifier().await;
    let real = claims(false);
    let bearer = format!("Bearer {}", sign(&real));

    let answer = ask(&verifier, "", &FORGED).await;
    answer.is(401, "INVALID_TOKEN", "forged headers, no token");
    assert!(answer.headers.get("x-user-role").is_none());

    let mut with_token = FORGED.to_vec();
    with_token.push(("authorization", &bearer));
    let answer = ask(&verifier, "", &with_token).await;
    answer.identifies(&real, "forged headers and a real token");
    assert!(answer.headers.get("x-user-role").is_none());

    // A forged "verified" does not satisfy the rule for an unverified token.
    ask(&verifier, "?require_verified=true", &with_token)
        .await
        .is(403, "EMAIL_NOT_VERIFIED", "forged x-email-verified");

    // Forged headers sent twice, or in odd case, change nothing either.
    let doubled = [
        ("X-User-Id", "attacker"),
        ("x-user-id", "attacker-2"),
        ("authorization", bearer.as_str()),
    ];
    ask(&verifier, "", &doubled)
        .await
        .identifies(&real, "doubled x-user-id");
    assert_healthy(health(verifier.addr).await, "verifier");
}

#[tokio::test]
async fn malformed_forwarded_headers_change_nothing() {
    let verifier = spawn_verifier().await;
    let real = claims(true);
    let bearer = format!("Bearer {}", sign(&real));
    let long = "a".repeat(4000);
    let cases: [(&str, &str); 10] = [
        ("x-forwarded-method", "G E T"),
        ("x-forwarded-method", "G\u{c9}T"),
        ("x-forwarded-method", &long),
        ("x-forwarded-uri", "/forward-auth?require_verified=false"),
        ("x-forwarded-uri", "http://[::1]:99999/%zz/../.."),
        ("x-forwarded-proto", "javascript"),
        ("x-forwarded-proto", "HTTPS, http"),
        ("x-forwarded-host", "evil.example\u{9}x"),
        ("x-forwarded-host", ""),
        ("x-forwarded-for", "127.0.0.1, ::1, unknown"),
    ];
    for (name, value) in cases {
        let case = format!("{name}: {value:.40}");
        ask(&verifier, "", &[(name, value)])
            .await
            .is(401, "INVALID_TOKEN", &case);
        ask(&verifier, "", &[(name, value), ("authorization", &bearer)])
            .await
            .identifies(&real, &case);
    }
    // All of them malformed at once, as a confused or hostile proxy would send them.
    let all_at_once = [
        ("x-forwarded-method", "GET\tPOST"),
        ("x-forwarded-uri", "/../../admin?%zz"),
        ("x-forwarded-host", "evil.example:99999"),
        ("x-forwarded-for", "not-an-ip, 999.1.1.1"),
        ("x-forwarded-proto", "gopher"),
    ];
    ask(&verifier, "", &all_at_once)
        .await
        .is(401, "INVALID_TOKEN", "all malformed at once");
    let mut with_token = all_at_once.to_vec();
    with_token.push(("authorization", &bearer));
    ask(&verifier, "", &with_token)
        .await
        .identifies(&real, "all malformed at once, with a token");
    assert_healthy(health(verifier.addr).await, "verifier");
}

#[tokio::test]
async fn the_scheme_is_case_insensitive_and_everything_else_is_exact() {
    let verifier = spawn_verifier().await;
    let real = claims(true);
    let token = sign(&real);
    for value in [
        format!("Bearer {token}"),
        format!("BEARER {token}"),
        format!("bearer {token}"),
        format!("bEaReR    {token}   "),
        format!("  bEaReR   {token}  "),
    ] {
        ask(&verifier, "", &[("authorization", &value)])
            .await
            .identifies(&real, &value[..10]);
    }
    for (value, code) in [
        (" Bearer  x ", "INVALID_TOKEN"),
        ("Bearer", "INVALID_TOKEN"),
        ("Bearer: x", "INVALID_TOKEN"),
        ("Token abc", "INVALID_TOKEN"),
    ] {
        ask(&verifier, "", &[("authorization", value)])
            .await
            .is(401, code, value);
    }
    assert_healthy(health(verifier.addr).await, "verifier");
}

#[tokio::test]
async fn the_header_wins_over_the_cookie_and_cookies_are_read_exactly() {
    let verifier = spawn_verifier().await;
    let real = claims(true);
    let other = claims(true);
    let token = sign(&real);
    let other_token = sign(&other);
    let bearer = format!("Bearer {token}");
    let cookie = |value: &str| format!("theme=dark; access_token={value}; lang=en");

    // A bearer header is used even when a cookie is present, valid or not.
    ask(
        &verifier,
        "",
        &[("authorization", &bearer), ("cookie", &cookie("garbage"))],
    )
    .await
    .identifies(&real, "header and garbage cookie");
    ask(
        &verifier,
        "",
        &[
            ("authorization", &bearer),
            ("cookie", &cookie(&other_token)),
        ],
    )
    .await
    .identifies(&real, "header and another user's cookie");
    // A bad bearer header is not rescued by a good cookie.
    ask(
        &verifier,
        "",
        &[
            ("authorization", "Bearer x.y.z"),
            ("cookie", &cookie(&token)),
        ],
    )
    .await
    .is(401, "INVALID_TOKEN", "bad header, good cookie");
    // Another scheme is not a token: the cookie is read.
    ask(
        &verifier,
        "",
        &[
            ("authorization", "Basic dXNlcjpwYXNz"),
            ("cookie", &cookie(&token)),
        ],
    )
    .await
    .identifies(&real, "basic header, good cookie");

    // Cookie spellings.
    ask(
        &verifier,
        "",
        &[("cookie", &cookie(&format!("\"{token}\"")))],
    )
    .await
    .identifies(&real, "quoted cookie");
    // The name twice is refused even with one value: which one an upstream reads is its choice.
    let twice_same = format!("access_token={token}; access_token={token}");
    ask(&verifier, "", &[("cookie", &twice_same)]).await.is(
        401,
        "INVALID_TOKEN",
        "the same cookie twice",
    );
    let twice_different = format!("access_token={token}; access_token={other_token}");
    ask(&verifier, "", &[("cookie", &twice_different)])
        .await
        .is(
            401,
            "INVALID_TOKEN",
            "two different cookies of the same name",
        );
    let split = [
        ("cookie", format!("access_token={token}")),
        ("cookie", format!("access_token={other_token}")),
    ];
    let split: Vec<(&str, &str)> = split.iter().map(|(n, v)| (*n, v.as_str())).collect();
    ask(&verifier, "", &split).await.is(
        401,
        "INVALID_TOKEN",
        "two Cookie headers with different tokens",
    );
    ask(&verifier, "", &[("cookie", "access_token=")]).await.is(
        401,
        "INVALID_TOKEN",
        "empty cookie",
    );
    ask(&verifier, "", &[("cookie", "access_token=\"\"")])
        .await
        .is(401, "INVALID_TOKEN", "empty quoted cookie");
    for name in [
        "xaccess_token",
        "access_token_old",
        "ACCESS_TOKEN",
        "access-token",
    ] {
        ask(&verifier, "", &[("cookie", &format!("{name}={token}"))])
            .await
            .is(401, "INVALID_TOKEN", name);
    }
    assert_healthy(health(verifier.addr).await, "verifier");
}

/// Status and code.
type Expected = (u16, &'static str);

#[tokio::test]
async fn require_verified_spellings_do_what_the_rules_say() {
    let verifier = spawn_verifier().await;
    let verified = claims(true);
    let unverified = claims(false);
    let yes = format!("Bearer {}", sign(&verified));
    let no = format!("Bearer {}", sign(&unverified));
    // (query, answer for a verified email, answer for an unverified one)
    let cases: [(&str, Expected, Expected); 13] = [
        (
            "?require_verified=true",
            (200, ""),
            (403, "EMAIL_NOT_VERIFIED"),
        ),
        (
            "?require_verified=1",
            (200, ""),
            (403, "EMAIL_NOT_VERIFIED"),
        ),
        ("?require_verified=false", (200, ""), (200, "")),
        ("?require_verified=0", (200, ""), (200, "")),
        // Values are exact: anything else is a misconfiguration and fails closed.
        (
            "?require_verified=TRUE",
            (403, "FORBIDDEN"),
            (403, "FORBIDDEN"),
        ),
        ("?require_verified=", (403, "FORBIDDEN"), (403, "FORBIDDEN")),
        (
            "?require_verified=maybe",
            (403, "FORBIDDEN"),
            (403, "FORBIDDEN"),
        ),
        ("?require_verified", (403, "FORBIDDEN"), (403, "FORBIDDEN")),
        // Unknown names, including other spellings of the rule's name, are ignored.
        ("?require_admin=true", (200, ""), (200, "")),
        ("?REQUIRE_VERIFIED=true", (200, ""), (200, "")),
        ("?page=2&sort=desc", (200, ""), (200, "")),
        // A client-appended value cannot loosen a rule.
        (
            "?require_verified=true&require_verified=false",
            (200, ""),
            (403, "EMAIL_NOT_VERIFIED"),
        ),
        (
            "?require_verified=false&require_verified=true&x=1",
            (200, ""),
            (403, "EMAIL_NOT_VERIFIED"),
        ),
    ];
    for (query, for_verified, for_unverified) in cases {
        let answer = ask(&verifier, query, &[("authorization", &yes)]).await;
        if for_verified.0 == 200 {
            answer.identifies(&verified, query);
        } else {
            answer.is(for_verified.0, for_verified.1, query);
        }
        let answer = ask(&verifier, query, &[("authorization", &no)]).await;
        if for_unverified.0 == 200 {
            answer.identifies(&unverified, query);
        } else {
            answer.is(for_unverified.0, for_unverified.1, query);
        }
    }
    // A rule never turns a missing token into anything but 401.
    ask(&verifier, "?require_verified=false", &[])
        .await
        .is(401, "INVALID_TOKEN", "no token");
    assert_healthy(health(verifier.addr).await, "verifier");
}

/// `GET /forward-auth` with `headers` as raw bytes (reqwest sends no obs-text), one connection.
async fn ask_raw(verifier: &TestVerifier, headers: &[&[u8]]) -> RawReply {
    let mut request =
        b"GET /forward-auth HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n".to_vec();
    for header in headers {
        request.extend_from_slice(header);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    exchange(verifier.addr, &request)
        .await
        .unwrap_or_else(|| panic!("no answer to {}", String::from_utf8_lossy(&request)))
}

/// A `Cookie` header we cannot read may carry the cookie for an upstream that reads bytes
/// (`access_token=A; t=<obs-text>` beside `access_token=B`): any unreadable one is 401, and so
/// is the name seen twice across all `Cookie` headers, whatever the values.
#[tokio::test]
async fn an_unreadable_or_repeated_cookie_is_refused() {
    let verifier = spawn_verifier().await;
    let real = claims(true);
    let token = sign(&real);
    let other = sign(&claims(true));
    let good = format!("Cookie: access_token={token}").into_bytes();
    let bearer = format!("Authorization: Bearer {token}").into_bytes();
    let with_tail = |value: &str, tail: &[u8]| {
        let mut header = format!("Cookie: access_token={value}; t=").into_bytes();
        header.extend_from_slice(tail);
        header
    };
    let refused: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "another token beside UTF-8, then the good cookie",
            vec![with_tail(&other, "é".as_bytes()), good.clone()],
        ),
        (
            "the good cookie, then another token beside obs-text",
            vec![good.clone(), with_tail(&other, b"\xff")],
        ),
        (
            "the good cookie and obs-text in one header",
            vec![with_tail(&token, b"\x80\x81")],
        ),
        (
            "an unreadable header holding no token at all",
            vec![b"Cookie: \xc3\xa9=\xe2\x82\xac".to_vec(), good.clone()],
        ),
        (
            "the name in Latin-1 bytes beside the good cookie",
            vec![good.clone(), b"Cookie: access_token\xa0=x".to_vec()],
        ),
        (
            "the same token in two Cookie headers",
            vec![good.clone(), good.clone()],
        ),
        (
            "an empty cookie of the name beside the good one",
            vec![format!("Cookie: access_token=; access_token={token}").into_bytes()],
        ),
        (
            "the name again with a space before `=`, which lenient parsers read",
            vec![format!("Cookie: access_token ={other}; access_token={token}").into_bytes()],
        ),
        (
            "the name again, quoted, in a second header",
            vec![
                good.clone(),
                format!("Cookie: x=1; access_token=\"{token}\"").into_bytes(),
            ],
        ),
    ];
    for (case, headers) in &refused {
        let headers: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
        let reply = ask_raw(&verifier, &headers).await;
        reply.assert_envelope(401, "INVALID_TOKEN");
        assert!(
            reply.header("www-authenticate").starts_with("Bearer"),
            "{case}"
        );
        for name in IDENTITY {
            assert_eq!(reply.header(name), "", "{case}: {name} on a 401");
        }
    }
    // A bearer header is the token: the cookies are not read, readable or not.
    let reply = ask_raw(&verifier, &[&bearer, &with_tail(&other, b"\xff")]).await;
    assert_eq!(reply.status, 200, "bearer beside an unreadable cookie");
    assert_eq!(reply.header("x-user-id"), real.sub.to_string());
    // One readable header with the name once still works.
    let reply = ask_raw(&verifier, &[&good, b"Cookie: theme=dark"]).await;
    assert_eq!(reply.status, 200, "the good cookie and another header");
    assert_eq!(reply.header("x-user-id"), real.sub.to_string());
    assert_healthy(health(verifier.addr).await, "verifier");
}
