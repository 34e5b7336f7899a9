//! Hyper glue shared by the services: bounded body reading and strict JSON decoding.
//!
//! Every request body in the contract is a JSON object decoded into a type of [`crate::api`];
//! decoding is done here once, with our own messages: a client never sees a parser's wording.

use http::{header, HeaderMap, Request, Version};
use hyper::body::Incoming;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::error::ApiError;
use crate::jwt::TokenError;

mod body;

pub use body::{read_body, Body};

/// How much of a request body a handler reads, for how long it waits for it, and the
/// process-wide budget its bytes are held against.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: std::time::Duration,
    pub budget: crate::body_budget::BodyBudget,
}

impl BodyLimits {
    pub fn new(
        max_bytes: usize,
        timeout: std::time::Duration,
        budget: crate::body_budget::BodyBudget,
    ) -> Self {
        BodyLimits {
            max_bytes,
            timeout,
            budget,
        }
    }
}

/// Checks the content type, reads the body within `limits` and decodes it as `T`.
pub async fn read_json<T: DeserializeOwned>(
    req: Request<Incoming>,
    limits: impl Into<BodyLimits>,
) -> Result<T, ApiError> {
    require_json_content_type(req.headers())?;
    let body = read_body(req, limits).await?;
    parse_json(&body)
}

/// Exactly one `Host` header, as HTTP/1.1 requires (RFC 9112 section 3.2). HTTP/1.0 may omit
/// it, and HTTP/2 carries the authority in the request line instead; two are refused always.
pub fn require_one_host<B>(req: &Request<B>) -> Result<(), ApiError> {
    let hosts = req.headers().get_all(header::HOST).iter().count();
    let may_omit = req.version() <= Version::HTTP_10
        || (req.version() >= Version::HTTP_2 && req.uri().authority().is_some());
    match hosts {
        1 => Ok(()),
        0 if may_omit => Ok(()),
        0 => Err(ApiError::validation("host", "the Host header is required")),
        _ => Err(ApiError::validation(
            "host",
            "the Host header must appear exactly once",
        )),
    }
}

/// `application/json`, optionally with parameters such as `charset=utf-8`.
pub fn require_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::validation(
            "content-type",
            "the body must be sent as application/json",
        ))
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive and
/// spaces around the token are tolerated.
///
/// `Ok(None)` when there is no `Authorization` header or it uses another scheme (`Basic`, …).
/// Refused: two or more `Authorization` headers (which one a proxy or an upstream reads is
/// anyone's guess), a value that is not visible ASCII, and the Bearer scheme with no token.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, TokenError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return match headers.contains_key(header::AUTHORIZATION) {
            true => Err(TokenError::Ambiguous),
            false => Ok(None),
        };
    };
    let value = value.to_str().map_err(|_| TokenError::Malformed)?.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    match token.trim() {
        "" => Err(TokenError::Malformed),
        token => Ok(Some(token)),
    }
}

/// Decodes a request body as `T`, a struct of the contract with `deny_unknown_fields`.
///
/// Only a JSON object is accepted (serde would also map an array onto a struct by position).
/// The decoder stops at the first unknown or repeated key, so the cost is linear in the size of
/// the body. Every failure is VALIDATION_ERROR naming the field at fault, in our own words.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<IgnoredAny>(bytes) {
            Ok(_) => ApiError::validation("body", "the body must be a JSON object"),
            Err(_) => not_json(),
        });
    }
    let mut decoder = serde_json::Deserializer::from_slice(bytes);
    let decoded = serde_path_to_error::deserialize(&mut decoder).map_err(|err| {
        let path = err.path().to_string();
        decode_error(&path, err.inner())
    })?;
    decoder.end().map_err(|_| not_json())?;
    Ok(decoded)
}

fn not_json() -> ApiError {
    ApiError::validation("body", "the body is not valid JSON")
}

/// serde's data errors name the field in their message (unknown, missing, repeated) or in the
/// path (wrong type); nothing of the client's input is echoed but a key cut short.
fn decode_error(path: &str, err: &serde_json::Error) -> ApiError {
    if !err.is_data() {
        return not_json();
    }
    let text = err.to_string();
    let named = |prefix: &str| {
        text.strip_prefix(prefix).map(|rest| {
            let key = rest.split('`').next().unwrap_or_default();
            key.chars().take(64).collect::<String>()
        })
    };
    if let Some(key) = named("unknown field `") {
        return ApiError::validation(key, "is not a known field");
    }
    if let Some(key) = named("missing field `") {
        return ApiError::validation(key, "is required");
    }
    if let Some(key) = named("duplicate field `") {
        return ApiError::validation(key, "appears more than once");
    }
    let field = match path {
        "" | "." => "body".to_owned(),
        path => path.chars().take(64).collect(),
    };
    if text.contains("expected a string") {
        ApiError::validation(field, "must be a string")
    } else {
        ApiError::validation(field, "has the wrong type")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{LoginRequest, TokenRequest};

    fn issue<T>(result: Result<T, ApiError>) -> (Option<String>, String) {
        match result {
            Ok(_) => (None, "ok".into()),
            Err(err) => {
                let details = err.details.unwrap_or(crate::error::Details {
                    field: None,
                    issue: String::new(),
                });
                (details.field, details.issue)
            }
        }
    }

    #[test]
    fn accepts_an_object_of_known_fields() {
        let decoded = parse_json::<TokenRequest>(br#" {"token":"a.b.c"} "#);
        assert_eq!(decoded.ok().map(|t| t.token), Some("a.b.c".to_string()));
    }

    #[test]
    fn names_the_field_at_fault() {
        let cases: [(&[u8], &str, &str); 9] = [
            (
                br#"{"email":"x","admin":true}"#,
                "admin",
                "is not a known field",
            ),
            (
                br#"{"email":"x","email":"y"}"#,
                "email",
                "appears more than once",
            ),
            (br#"{"email":"x""#, "body", "the body is not valid JSON"),
            (
                br#"{"email":"x","password":"y"} x"#,
                "body",
                "the body is not valid JSON",
            ),
            (br#"["x","y"]"#, "body", "the body must be a JSON object"),
            (
                b"{\"email\":\"\xff\"}",
                "body",
                "the body is not valid JSON",
            ),
            (
                br#"{"email":42,"password":"y"}"#,
                "email",
                "must be a string",
            ),
            (br#"{"email":"x"}"#, "password", "is required"),
            (b"", "body", "the body is not valid JSON"),
        ];
        for (body, field, expected) in cases {
            assert_eq!(
                issue(parse_json::<LoginRequest>(body)),
                (Some(field.into()), expected.into()),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn an_unknown_key_is_echoed_cut_short() {
        let key = "k".repeat(500);
        let body = format!(r#"{{"{key}":1}}"#);
        let (field, _) = issue(parse_json::<TokenRequest>(body.as_bytes()));
        assert_eq!(field.map(|f| f.len()), Some(64));
    }
}
