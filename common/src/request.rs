//! The wrapper every request goes through: request id, span, the one log line, the HTTP
//! metrics, and the single place where an [`ApiError`] becomes a response.

use std::future::Future;
use std::time::Instant;

use http::{header, HeaderName, HeaderValue, Request};
use tracing::{field, Instrument};
use uuid::Uuid;

use crate::envelope::{self, Response};
use crate::error::{error_chain, ApiError};
use crate::metrics::Endpoint;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How loudly a request's completion is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLog {
    /// Every request at `info`.
    Info,
    /// Successes at `debug`, everything else at `info`: for endpoints called on every request
    /// of a whole system (forward-auth), whose proxies keep access logs already.
    QuietSuccess,
}

/// Runs `handler` inside a request span, turns its error into the envelope, logs one line with
/// method, path, status, latency and request id, records the request under `endpoint`'s route,
/// and adds the headers every response carries.
pub async fn handle<B, F, Fut>(req: Request<B>, endpoint: Endpoint<'_>, handler: F) -> Response
where
    F: FnOnce(Request<B>) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    handle_with(req, AccessLog::Info, endpoint, handler).await
}

/// [`handle`] with a choice of access-log level.
pub async fn handle_with<B, F, Fut>(
    req: Request<B>,
    log: AccessLog,
    endpoint: Endpoint<'_>,
    handler: F,
) -> Response
where
    F: FnOnce(Request<B>) -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let request_id = request_id(&req);
    // Only visible ASCII passes `request_id`, so the text is always there.
    let request_id_text = request_id.to_str().unwrap_or_default();
    let method = req.method().clone();
    let uri = req.uri().clone();
    // A quiet route's span is at debug: with the usual `info` filter it costs next to nothing.
    let span = match log {
        AccessLog::Info => tracing::info_span!(
            "request",
            method = %method,
            route = endpoint.route(),
            path = %loggable_path(&uri),
            request_id = %request_id_text,
            status = field::Empty,
            latency_ms = field::Empty,
        ),
        AccessLog::QuietSuccess => tracing::debug_span!(
            "request",
            method = %method,
            route = endpoint.route(),
            path = %loggable_path(&uri),
            request_id = %request_id_text,
            status = field::Empty,
            latency_ms = field::Empty,
        ),
    };
    crate::telemetry::trace_context::continue_from_http(&span, req.headers());
    async move {
        let started = Instant::now();
        tracing::debug!("request received");
        let mut response = match handler(req).await {
            Ok(response) => response,
            Err(err) => {
                log_error(&err);
                envelope::error(&err)
            }
        };
        endpoint.record(&method, response.status(), started.elapsed());
        let status = response.status().as_u16();
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record("status", status);
            span.record("latency_ms", started.elapsed().as_secs_f64() * 1000.0);
        }
        if log == AccessLog::QuietSuccess && response.status().is_success() {
            tracing::debug!("request completed");
        } else if span.is_disabled() {
            // The span is filtered out, so this line carries its fields itself.
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            let request_id = request_id.to_str().unwrap_or_default();
            tracing::info!(%method, route = endpoint.route(), path = %loggable_path(&uri), %request_id, status, latency_ms, "request completed");
        } else {
            tracing::info!("request completed");
        }

        let headers = response.headers_mut();
        headers.insert(REQUEST_ID, request_id);
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        // Bodies carry tokens and identities: no cache may keep them.
        headers
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
        response
    }
    .instrument(span)
    .await
}

/// The client's `X-Request-Id` when it is short and printable (it goes into logs), else a new one.
fn request_id<B>(req: &Request<B>) -> HeaderValue {
    req.headers()
        .get(REQUEST_ID)
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.as_bytes()
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
        })
        .cloned()
        .unwrap_or_else(new_request_id)
}

fn new_request_id() -> HeaderValue {
    let mut buffer = Uuid::encode_buffer();
    let id = Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    // A hyphenated UUID is always a valid header value.
    HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("unknown"))
}

/// The path as logged: cut to [`LOGGED_PATH_CHARS`] characters, since a client chooses it and
/// unknown paths up to the header limit would otherwise go into the logs whole.
fn loggable_path(uri: &http::Uri) -> &str {
    let path = uri.path();
    match path.char_indices().nth(LOGGED_PATH_CHARS) {
        Some((cut, _)) => &path[..cut],
        None => path,
    }
}

const LOGGED_PATH_CHARS: usize = 256;

/// 5xx at `error` with the whole cause chain; client errors at `debug` without it.
fn log_error(err: &ApiError) {
    if err.status().is_server_error() {
        tracing::error!(code = %err.code, cause = %error_chain(err), "request failed");
    } else {
        tracing::debug!(code = %err.code, "request refused");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_paths_are_cut_to_a_bounded_length_on_a_character_boundary() {
        let short: http::Uri = "/api/v1/auth/login?x=1".parse().unwrap();
        assert_eq!(loggable_path(&short), "/api/v1/auth/login");
        let long: http::Uri = format!("/{}", "%C3%A9".repeat(1000)).parse().unwrap();
        assert_eq!(loggable_path(&long).chars().count(), LOGGED_PATH_CHARS);
    }

    #[test]
    fn a_sane_request_id_is_kept_and_anything_else_replaced() {
        let with = |id: &str| {
            let req = Request::builder().header(REQUEST_ID, id).body(()).unwrap();
            request_id(&req)
        };
        assert_eq!(with("abc-123_x.y:z"), "abc-123_x.y:z");
        for hostile in ["a b", "a\"b", &"x".repeat(129)] {
            let replaced = with(hostile);
            assert_ne!(replaced, hostile);
            assert_eq!(replaced.len(), 36, "a new UUID");
        }
    }
}
