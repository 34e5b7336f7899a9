//! The JSON bodies of the contract's envelope. Nothing else serialises a success or error body.

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use http::{header, HeaderValue, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use crate::error::{ApiError, Details, ErrorCode};

/// The response type of every handler in both services.
pub type Response = http::Response<Full<Bytes>>;

/// RFC 3339 UTC with second precision, as the contract's examples show.
pub fn timestamp() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Serialize)]
struct SuccessBody<'a, T: Serialize> {
    success: bool,
    data: &'a T,
    timestamp: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    success: bool,
    error: ErrorFields<'a>,
    timestamp: String,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    code: ErrorCode,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Details>,
}

/// `{"success": true, "data": …, "timestamp": …}` with the given status.
pub fn success<T: Serialize>(status: StatusCode, data: &T) -> Response {
    let body = SuccessBody {
        success: true,
        data,
        timestamp: timestamp(),
    };
    match serde_json::to_vec(&body) {
        Ok(bytes) => json(status, bytes),
        Err(err) => error(&ApiError::internal(err)),
    }
}

/// `{"success": false, "error": {…}, "timestamp": …}` with the code's status and the headers the
/// error carries. Token failures always get the RFC 6750 challenge.
pub fn error(err: &ApiError) -> Response {
    let body = ErrorBody {
        success: false,
        error: ErrorFields {
            code: err.code,
            message: &err.message,
            details: err.details.as_ref(),
        },
        timestamp: timestamp(),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| FALLBACK_ERROR_BODY.to_vec());
    let mut response = json(err.status(), bytes);
    let headers = response.headers_mut();
    for (name, value) in &err.headers {
        headers.append(name.clone(), value.clone());
    }
    if matches!(err.code, ErrorCode::InvalidToken | ErrorCode::ExpiredToken)
        && !headers.contains_key(header::WWW_AUTHENTICATE)
    {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="invalid_token""#),
        );
    }
    response
}

/// Serialising an error body cannot fail in practice; this is what goes out if it ever does.
const FALLBACK_ERROR_BODY: &[u8] =
    br#"{"success":false,"error":{"code":"INTERNAL_ERROR","message":"An internal error occurred."}}"#;

/// A response with a JSON body that is not an envelope (the health endpoints).
pub fn bare_json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => json(status, bytes),
        Err(err) => error(&ApiError::internal(err)),
    }
}

/// A JSON document compiled into the binary (the OpenAPI description), sent as it is.
pub fn static_json(body: &'static str) -> Response {
    let mut response = http::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `GET /health/live`: the process answers; no dependency is checked.
pub fn liveness(service: &str, version: &str) -> Response {
    bare_json(
        StatusCode::OK,
        &serde_json::json!({
            "status": "alive",
            "service": service,
            "version": version,
            "timestamp": timestamp(),
        }),
    )
}

/// The `/health/ready` body: 200 `ready`, or 503 `not_ready` with the `reason`, beside the
/// service's name and version and what the service adds about its dependencies (`fields`, a
/// JSON object).
pub fn readiness(
    service: &str,
    version: &str,
    reason: Option<&str>,
    fields: serde_json::Value,
) -> Response {
    let (status, word) = match reason {
        None => (StatusCode::OK, "ready"),
        Some(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
    };
    let mut body = match fields {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    for (key, value) in [
        ("status", serde_json::json!(word)),
        ("service", serde_json::json!(service)),
        ("version", serde_json::json!(version)),
        ("reason", serde_json::json!(reason)),
        ("timestamp", serde_json::json!(timestamp())),
    ] {
        body.insert(key.to_owned(), value);
    }
    bare_json(status, &serde_json::Value::Object(body))
}

fn json(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut response = http::Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or_default()
    }

    #[tokio::test]
    async fn error_body_has_code_message_details_and_no_source() {
        let err = ApiError::validation("email", "is required")
            .with_source(std::io::Error::other("secret internals"));
        let response = error(&err);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = body_json(response).await;
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"]["field"], "email");
        assert!(!body.to_string().contains("secret internals"));
        assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[tokio::test]
    async fn token_errors_carry_the_bearer_challenge() {
        let response = error(&ApiError::new(ErrorCode::ExpiredToken, "expired"));
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
    }
}
