//! `/forward-auth`: what Traefik `forwardAuth`, nginx `auth_request` and Caddy `forward_auth`
//! call on every request. Any method; the body is never read. It answers 200 with the identity
//! headers, 401 or 403 — nothing else for anything a client controls.

use bytes::Bytes;
use common::envelope::Response;
use common::error::ApiError;
use common::jwt::{AccessClaims, TokenError};
use common::metrics::Validation;
use http::{header, HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::Full;

use crate::rules::Rules;
use crate::state::AppState;

pub const X_USER_ID: HeaderName = HeaderName::from_static("x-user-id");
pub const X_USER_EMAIL: HeaderName = HeaderName::from_static("x-user-email");
pub const X_EMAIL_VERIFIED: HeaderName = HeaderName::from_static("x-email-verified");
pub const X_SESSION_ID: HeaderName = HeaderName::from_static("x-session-id");

pub fn forward_auth<B>(state: &AppState, req: &Request<B>) -> Result<Response, ApiError> {
    let rules = Rules::parse(req.uri().query())?;
    let verdict = token(req.headers(), &state.config.settings.cookie_name)
        .and_then(|token| token.ok_or(TokenError::Missing))
        .and_then(|token| state.verify(token));
    state.metrics.forward_auth.record(Validation::of(&verdict));
    let claims = verdict?;
    rules.check(&claims)?;
    identity_response(&claims)
}

/// The bearer token, else the configured cookie. A request that names its token twice (two
/// `Authorization` headers, the cookie twice across all `Cookie` headers, even with one value)
/// or carries a `Cookie` header that is not visible ASCII is refused rather than guessed at: a
/// proxy or an upstream might read another token than the one we checked.
fn token<'a>(headers: &'a HeaderMap, cookie_name: &str) -> Result<Option<&'a str>, TokenError> {
    match common::http::bearer_token(headers)? {
        Some(token) => Ok(Some(token)),
        None => cookie(headers, cookie_name),
    }
}

/// The value of the cookie `name` (quotes removed; `None` when absent or empty). Every `Cookie`
/// header is read: one we cannot read (obs-text, control bytes) may hold the name for an
/// upstream, and the name twice leaves the choice to whoever reads it: both are `Ambiguous`.
/// Spaces around a name are ignored, as lenient parsers (Go's `net/http`, …) ignore them, so
/// `access_token =A` counts as the name too.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, TokenError> {
    let mut found: Option<&str> = None;
    let mut seen = false;
    for value in headers.get_all(header::COOKIE) {
        let value = value.to_str().map_err(|_| TokenError::Ambiguous)?;
        let named = value
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(key, _)| key.trim_end() == name);
        for (_, value) in named {
            if std::mem::replace(&mut seen, true) {
                return Err(TokenError::Ambiguous);
            }
            found = Some(value.trim().trim_matches('"')).filter(|value| !value.is_empty());
        }
    }
    Ok(found)
}

/// 200, empty body, and all four identity headers, always: a proxy that copies only the
/// headers we return would otherwise let a client-sent one through.
fn identity_response(claims: &AccessClaims) -> Result<Response, ApiError> {
    let mut response = http::Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(X_USER_ID, uuid_value(claims.sub));
    // Emails may hold UTF-8 letters; they travel as obs-text bytes, which every proxy passes.
    let email =
        HeaderValue::from_bytes(claims.email.as_bytes()).map_err(|_| TokenError::Malformed)?;
    headers.insert(X_USER_EMAIL, email);
    headers.insert(
        X_EMAIL_VERIFIED,
        HeaderValue::from_static(if claims.email_verified {
            "true"
        } else {
            "false"
        }),
    );
    headers.insert(X_SESSION_ID, uuid_value(claims.sid));
    Ok(response)
}

fn uuid_value(id: uuid::Uuid) -> HeaderValue {
    let mut buffer = uuid::Uuid::encode_buffer();
    // A hyphenated UUID is always a valid header value.
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buffer))
        .unwrap_or(HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_bearer_header_wins_and_its_scheme_is_case_insensitive() {
        for value in ["Bearer abc", "bearer abc", "BEARER   abc  ", "  Bearer abc"] {
            let map = headers(&[("authorization", value), ("cookie", "access_token=cookie")]);
            assert_eq!(token(&map, "access_token"), Ok(Some("abc")), "{value:?}");
        }
    }

    #[test]
    fn the_cookie_is_read_when_there_is_no_bearer_token() {
        let map = headers(&[("cookie", "theme=dark; access_token=xyz; other=1")]);
        assert_eq!(token(&map, "access_token"), Ok(Some("xyz")));
        let map = headers(&[
            ("authorization", "Basic dXNlcjpwYXNz"),
            ("cookie", "session=s1"),
        ]);
        assert_eq!(token(&map, "session"), Ok(Some("s1")));
        assert_eq!(token(&map, "access_token"), Ok(None));
        let map = headers(&[("cookie", "a=1"), ("cookie", "access_token=second")]);
        assert_eq!(token(&map, "access_token"), Ok(Some("second")));
        let map = headers(&[("cookie", "x=1;  access_token \t=spaced")]);
        assert_eq!(token(&map, "access_token"), Ok(Some("spaced")));
        assert_eq!(
            token(&headers(&[("cookie", "access_token=")]), "access_token"),
            Ok(None)
        );
    }

    #[test]
    fn a_token_named_twice_or_an_empty_bearer_is_refused() {
        let map = headers(&[("authorization", "Bearer a"), ("authorization", "Bearer a")]);
        assert_eq!(token(&map, "access_token"), Err(TokenError::Ambiguous));
        let map = headers(&[("cookie", "access_token=a; access_token=b")]);
        assert_eq!(token(&map, "access_token"), Err(TokenError::Ambiguous));
        for pairs in [
            &[
                ("cookie", "access_token=a"),
                ("cookie", "access_token=\"a\""),
            ][..],
            &[("cookie", "access_token=a; access_token=a")],
            &[("cookie", "access_token=; access_token=a")],
            &[
                ("cookie", "access_token=a"),
                ("cookie", "x=1; access_token="),
            ],
            &[("cookie", "access_token =a; access_token=b")],
        ] {
            assert_eq!(
                token(&headers(pairs), "access_token"),
                Err(TokenError::Ambiguous),
                "{pairs:?}"
            );
        }
        for value in ["Bearer ", "Bearer", "bearer    "] {
            let map = headers(&[("authorization", value), ("cookie", "access_token=c")]);
            assert_eq!(
                token(&map, "access_token"),
                Err(TokenError::Malformed),
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_cookie_header_that_is_not_visible_ascii_is_refused() {
        for bytes in [
            &b"t=\xc3\xa9"[..],
            b"t=\x80",
            b"access_token=\xff",
            b"t=a\x01b",
        ] {
            let mut map = headers(&[("cookie", "access_token=a")]);
            let value = HeaderValue::from_bytes(bytes);
            if let Ok(value) = value {
                map.append(header::COOKIE, value);
                assert_eq!(
                    token(&map, "access_token"),
                    Err(TokenError::Ambiguous),
                    "{bytes:?}"
                );
            }
        }
        // With a bearer token the cookies are not read at all.
        let mut map = headers(&[("authorization", "Bearer abc")]);
        map.append(header::COOKIE, HeaderValue::from_static("t=1"));
        map.append(header::COOKIE, HeaderValue::from_bytes(b"t=\xff").unwrap());
        assert_eq!(token(&map, "access_token"), Ok(Some("abc")));
    }
}
