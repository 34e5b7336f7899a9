//! Hyper glue shared by the services: bounded body reading and strict JSON decoding.
//!
//! Every request body in the contract is a flat JSON object of string fields, so decoding is
//! done here once, with our own messages: a client never sees a parser's wording.

use bytes::Bytes;
use http::{header, HeaderMap, Request, Version};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::de::{self, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{ApiError, ErrorCode};
use crate::jwt::TokenError;
use crate::limits::BodyLimits;

/// Reads the whole body within `limits`: more than `max_bytes` is 413 PAYLOAD_TOO_LARGE; a
/// body that has not fully arrived after `timeout` is 400 VALIDATION_ERROR (the contract has no
/// timeout code; the request is refused as not received) and the connection is closed.
pub async fn read_body(
    req: Request<Incoming>,
    limits: impl Into<BodyLimits>,
) -> Result<Bytes, ApiError> {
    let BodyLimits { max_bytes, timeout } = limits.into();
    if declared_length(req.headers()).is_some_and(|len| len > max_bytes as u64) {
        return Err(payload_too_large(max_bytes));
    }
    let collect = Limited::new(req.into_body(), max_bytes).collect();
    match tokio::time::timeout(timeout, collect).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => {
            Err(payload_too_large(max_bytes))
        }
        Ok(Err(err)) => {
            Err(ApiError::validation("body", "the body could not be read").with_source(err))
        }
        Err(_) => Err(
            ApiError::validation("body", "the body did not arrive in time")
                .with_header(header::CONNECTION, "close"),
        ),
    }
}

/// Checks the content type, reads the body and parses it as a flat JSON object whose keys are
/// all in `allowed`.
pub async fn read_json_object(
    req: Request<Incoming>,
    limits: impl Into<BodyLimits>,
    allowed: &[&str],
) -> Result<JsonObject, ApiError> {
    require_json_content_type(req.headers())?;
    let body = read_body(req, limits).await?;
    JsonObject::parse(&body, allowed)
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

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn payload_too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("The request body is larger than {limit} bytes."),
    )
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

/// A decoded JSON object: keys in the order sent, each at most once.
#[derive(Debug)]
pub struct JsonObject {
    fields: Vec<(String, Value)>,
}

impl JsonObject {
    pub fn parse(bytes: &[u8], allowed: &[&str]) -> Result<Self, ApiError> {
        let parsed: Result<Fields, _> = serde_json::from_slice(bytes);
        let fields = match parsed {
            Ok(Fields(fields)) => fields,
            Err(err) if err.is_data() => {
                // Our visitor's own messages: "must be a JSON object" or "appears twice".
                return Err(decode_error(&err));
            }
            Err(_) => {
                return Err(ApiError::validation("body", "the body is not valid JSON"));
            }
        };
        if let Some((key, _)) = fields
            .iter()
            .find(|(key, _)| !allowed.contains(&key.as_str()))
        {
            // The client's own key, cut short: an error never echoes kilobytes back.
            let shown: String = key.chars().take(64).collect();
            return Err(ApiError::validation(shown, "is not a known field"));
        }
        Ok(JsonObject { fields })
    }

    /// The string value of a required field.
    pub fn required_str(&self, name: &str) -> Result<&str, ApiError> {
        match self.fields.iter().find(|(key, _)| key == name) {
            Some((_, Value::String(value))) => Ok(value),
            Some(_) => Err(ApiError::validation(name, "must be a string")),
            None => Err(ApiError::validation(name, "is required")),
        }
    }
}

fn decode_error(err: &serde_json::Error) -> ApiError {
    let text = err.to_string();
    if let Some(key) = text
        .strip_prefix(DUPLICATE_PREFIX)
        .and_then(|rest| rest.split('`').next())
    {
        return ApiError::validation(key, "appears more than once");
    }
    ApiError::validation("body", "the body must be a JSON object")
}

const DUPLICATE_PREFIX: &str = "duplicate key `";

struct Fields(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields: Vec<(String, Value)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.iter().any(|(seen, _)| *seen == key) {
                // The key is cut at a backtick so the message can be split back apart safely.
                let shown: String = key.chars().take_while(|c| *c != '`').take(64).collect();
                return Err(de::Error::custom(format!("{DUPLICATE_PREFIX}{shown}`")));
            }
            let value: Value = map.next_value()?;
            fields.push((key, value));
        }
        Ok(Fields(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(result: Result<JsonObject, ApiError>) -> (Option<String>, String) {
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
    fn accepts_a_flat_object_of_known_fields() {
        let object = JsonObject::parse(br#"{"email":"a@b.co"}"#, &["email"]);
        assert!(matches!(
            object.as_ref().map(|o| o.required_str("email")),
            Ok(Ok("a@b.co"))
        ));
    }

    #[test]
    fn names_the_field_at_fault() {
        let allowed = &["email", "password"];
        assert_eq!(
            issue(JsonObject::parse(br#"{"email":"x","admin":true}"#, allowed)),
            (Some("admin".into()), "is not a known field".into())
        );
        assert_eq!(
            issue(JsonObject::parse(br#"{"email":"x","email":"y"}"#, allowed)),
            (Some("email".into()), "appears more than once".into())
        );
        assert_eq!(
            issue(JsonObject::parse(br#"{"email":"x""#, allowed)),
            (Some("body".into()), "the body is not valid JSON".into())
        );
        assert_eq!(
            issue(JsonObject::parse(br#"["email"]"#, allowed)),
            (Some("body".into()), "the body must be a JSON object".into())
        );
        assert_eq!(
            issue(JsonObject::parse(b"{\"email\":\"\xff\"}", allowed)),
            (Some("body".into()), "the body is not valid JSON".into())
        );
    }

    #[test]
    fn reports_missing_and_mistyped_fields() -> Result<(), ApiError> {
        let object = JsonObject::parse(br#"{"email":42}"#, &["email", "password"])?;
        let err = object.required_str("email").err().and_then(|e| e.details);
        assert_eq!(err.map(|d| d.issue), Some("must be a string".to_string()));
        let err = object
            .required_str("password")
            .err()
            .and_then(|e| e.details);
        assert_eq!(err.map(|d| d.issue), Some("is required".to_string()));
        Ok(())
    }
}
