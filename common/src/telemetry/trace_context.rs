//! The W3C trace context (`traceparent`, `tracestate`) across process boundaries: read from the
//! headers of incoming HTTP requests, captured with an event when it is written, and put into
//! the event's NATS headers, where a consumer reads it back with [`continue_from_nats`].
//!
//! Only while spans are exported does any of this do work: otherwise incoming headers are not
//! parsed and events carry no trace headers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C header naming the caller's trace and span.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header with vendor-specific trace state, passed on as it came.
pub const TRACESTATE: &str = "tracestate";

static EXPORTING: AtomicBool = AtomicBool::new(false);

pub(super) fn set_exporting() {
    EXPORTING.store(true, Ordering::Relaxed);
}

/// Whether this process exports spans (an OTLP endpoint was configured).
pub fn is_exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Makes `span` (a request's span) a child of the caller's span named by the request's
/// `traceparent`. Nothing is parsed unless spans are exported and the header is there; a
/// malformed header is ignored, and the request starts a trace of its own.
pub fn continue_from_http(span: &tracing::Span, headers: &http::HeaderMap) {
    if !is_exporting() || !headers.contains_key(TRACEPARENT) {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HttpHeaders(headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// For a consumer of the events: makes `span` continue the trace whose context the event's
/// NATS headers carry. Returns whether they carried a valid one. Nothing is parsed, and `false`
/// returned, unless this process exports spans.
///
/// ```no_run
/// # fn handle(message: &async_nats::jetstream::Message) {
/// let span = tracing::info_span!("handle event");
/// common::telemetry::trace_context::continue_from_nats(&span, message.headers.as_ref());
/// let _entered = span.enter();
/// # }
/// ```
pub fn continue_from_nats(span: &tracing::Span, headers: Option<&async_nats::HeaderMap>) -> bool {
    if !is_exporting() {
        return false;
    }
    let Some(context) = headers.and_then(TraceContext::from_nats_headers) else {
        return false;
    };
    let parent = TraceContextPropagator::new().extract(&context.fields());
    let valid = parent.span().span_context().is_valid();
    if valid {
        let _ = span.set_parent(parent);
    }
    valid
}

/// A trace context as carried between processes: the `traceparent` and `tracestate` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub traceparent: String,
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// The context of the current span, when spans are exported and there is one; `None`
    /// otherwise.
    pub fn current() -> Option<TraceContext> {
        if !is_exporting() {
            return None;
        }
        let context = tracing::Span::current().context();
        if !context.span().span_context().is_valid() {
            return None;
        }
        let mut fields = HashMap::new();
        TraceContextPropagator::new().inject_context(&context, &mut fields);
        Some(TraceContext {
            traceparent: fields.remove(TRACEPARENT)?,
            tracestate: fields.remove(TRACESTATE).filter(|s| !s.is_empty()),
        })
    }

    /// The context an event's NATS headers carry, if any.
    pub fn from_nats_headers(headers: &async_nats::HeaderMap) -> Option<TraceContext> {
        let traceparent = headers.get(TRACEPARENT)?.as_str().to_owned();
        let tracestate = headers
            .get(TRACESTATE)
            .map(|v| v.as_str().to_owned())
            .filter(|s| !s.is_empty());
        Some(TraceContext {
            traceparent,
            tracestate,
        })
    }

    /// Adds `traceparent` (and `tracestate`) to an event's NATS headers.
    pub fn write_nats_headers(&self, headers: &mut async_nats::HeaderMap) {
        headers.insert(TRACEPARENT, self.traceparent.as_str());
        if let Some(state) = &self.tracestate {
            headers.insert(TRACESTATE, state.as_str());
        }
    }

    /// The 32 hex digits of the trace id, when `traceparent` is well formed.
    pub fn trace_id(&self) -> Option<&str> {
        let mut parts = self.traceparent.split('-');
        let (_version, trace_id) = (parts.next()?, parts.next()?);
        let well_formed = trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit());
        well_formed.then_some(trace_id)
    }

    fn fields(&self) -> HashMap<String, String> {
        let mut fields = HashMap::from([(TRACEPARENT.to_owned(), self.traceparent.clone())]);
        if let Some(state) = &self.tracestate {
            fields.insert(TRACESTATE.to_owned(), state.clone());
        }
        fields
    }
}

struct HttpHeaders<'a>(&'a http::HeaderMap);

impl Extractor for HttpHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_headers_carry_the_context_both_ways() {
        let context = TraceContext {
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            tracestate: Some("vendor=x".into()),
        };
        let mut headers = async_nats::HeaderMap::new();
        context.write_nats_headers(&mut headers);
        assert_eq!(
            TraceContext::from_nats_headers(&headers).as_ref(),
            Some(&context)
        );
        assert_eq!(context.trace_id(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(TraceContext::from_nats_headers(&async_nats::HeaderMap::new()).is_none());
    }

    #[test]
    fn nothing_is_captured_or_read_while_spans_are_not_exported() {
        // No test in this crate installs the exporter.
        assert!(!is_exporting());
        assert_eq!(TraceContext::current(), None);
        let span = tracing::info_span!("request");
        let mut headers = http::HeaderMap::new();
        headers.insert(
            TRACEPARENT,
            http::HeaderValue::from_static(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        );
        continue_from_http(&span, &headers);
        let context = TraceContext {
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            tracestate: None,
        };
        let mut nats = async_nats::HeaderMap::new();
        context.write_nats_headers(&mut nats);
        assert!(!continue_from_nats(&span, Some(&nats)));
    }
}
