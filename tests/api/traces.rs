//! Traces over OTLP, against a real OTLP/HTTP receiver started here: the issuer binary, given
//! an endpoint, exports the request span (a child of the caller's `traceparent`), its database
//! spans and its password-hash span, and the event the request caused carries the trace in its
//! NATS headers, which the mailer continues as far as the SMTP send. Without an endpoint, events
//! carry no trace headers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use serde_json::json;
use tokio::net::TcpListener;
use uuid::Uuid;

use test_support::accounts::register_body;
use test_support::binary::{command, listening};
use test_support::database::{drop_database, unique_name};

use crate::harness::binaries::{issuer_env, service_binary, start_service, Running};
use crate::harness::{eventually, spawn_issuer, unique_email, NatsSettings, PASSWORD, SECRET};
use crate::mailer::fixtures::{link_and_token, SmtpSink, TestMailer, VERIFY_URL};

const WAIT: Duration = Duration::from_secs(60);

/// One exported span, as the receiver decoded it.
#[derive(Debug, Clone)]
struct ExportedSpan {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
}

/// An OTLP/HTTP receiver on a port of its own: `POST /v1/traces` with a protobuf
/// `ExportTraceServiceRequest`, as a collector takes it. Anything else gets 404 or 400.
struct Receiver {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<ExportedSpan>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|err| panic!("bind: {err}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("address: {err}"));
        let spans: Arc<Mutex<Vec<ExportedSpan>>> = Arc::default();
        let store = Arc::clone(&spans);
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let store = Arc::clone(&store);
                        async move { Ok::<_, Infallible>(receive(req, &store).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            spans,
            server,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn spans_of(&self, trace_id: &str) -> Vec<ExportedSpan> {
        self.spans
            .lock()
            .map(|all| {
                all.iter()
                    .filter(|s| s.trace_id == trace_id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The spans of `trace_id`, once every name in `names` is among them (or `WAIT` passed).
    async fn wait_for(&self, trace_id: &str, names: &[&str]) -> Vec<ExportedSpan> {
        let complete = || {
            let spans = self.spans_of(trace_id);
            names
                .iter()
                .all(|name| spans.iter().any(|s| s.name == *name))
        };
        eventually(WAIT, || async { complete() }).await;
        self.spans_of(trace_id)
    }
}

async fn receive(
    req: Request<hyper::body::Incoming>,
    store: &Mutex<Vec<ExportedSpan>>,
) -> Response<Full<Bytes>> {
    let status = |code: u16| {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or_default();
        response
    };
    let protobuf = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/x-protobuf");
    if req.method() != hyper::Method::POST || req.uri().path() != "/v1/traces" {
        return status(404);
    }
    if !protobuf {
        return status(415);
    }
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return status(400);
    };
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return status(400);
    };
    let mut decoded = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
            .unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
            decoded.push(ExportedSpan {
                service: service.clone(),
                name: span.name,
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                attributes: span
                    .attributes
                    .iter()
                    .map(|kv| {
                        (
                            kv.key.clone(),
                            text(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                        )
                    })
                    .collect(),
            });
        }
    }
    if let Ok(mut all) = store.lock() {
        all.extend(decoded);
    }
    let mut response = Response::new(Full::new(Bytes::from(
        ExportTraceServiceResponse::default().encode_to_vec(),
    )));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-protobuf"),
    );
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: Option<&AnyValue>) -> String {
    match value {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

/// A fresh trace id and parent span id, and the `traceparent` naming them (sampled).
fn caller() -> (String, String, String) {
    let trace_id = Uuid::new_v4().simple().to_string();
    let parent = Uuid::new_v4().simple().to_string()[..16].to_owned();
    let header = format!("00-{trace_id}-{parent}-01");
    (trace_id, parent, header)
}

/// Registers a new email with the issuer in a trace of the test's own: the email, the trace id
/// and the caller's span id.
async fn register_traced(issuer: &Issuer) -> (String, String, String) {
    let email = unique_email();
    let (trace_id, caller_span, traceparent) = caller();
    let body = register_body(&email, PASSWORD);
    let status = post(
        issuer.process.addr,
        "/api/v1/auth/register",
        &traceparent,
        body,
    )
    .await;
    assert_eq!(status, 201);
    (email, trace_id, caller_span)
}

/// The issuer binary with its own database and stream; killed (and its database dropped) on
/// drop.
struct Issuer {
    process: Running,
    database: String,
    nats: NatsSettings,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.process.child.kill();
        let _ = self.process.child.wait();
        drop_database(&self.database);
    }
}

async fn start_issuer(otel: &[(&str, &str)]) -> Issuer {
    let binary = service_binary("issuer").await;
    let database = unique_name();
    let nats = NatsSettings::unique();
    let mut env = issuer_env(&database, &nats);
    env.extend(otel.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Issuer {
        process: start_service(&binary, "issuer", &env),
        database,
        nats,
    }
}

async fn post(addr: SocketAddr, path: &str, traceparent: &str, body: serde_json::Value) -> u16 {
    reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header("traceparent", traceparent)
        .header("tracestate", "vendor=opaque")
        .json(&body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|err| panic!("POST {path}: {err}"))
}

/// The NATS headers of the first `event_type` message on the test's stream.
async fn event_headers(nats: &NatsSettings, event_type: &str) -> Option<async_nats::HeaderMap> {
    use futures::StreamExt;
    let filter = format!("{}.{event_type}", nats.prefix);
    let mut messages = test_support::nats::ordered(&nats.url, &nats.stream, filter, WAIT).await?;
    let message = tokio::time::timeout(WAIT, messages.next())
        .await
        .ok()??
        .ok()?;
    Some(message.headers.clone().unwrap_or_default())
}

/// Whether `span` descends from the span `ancestor` within `spans`.
fn descends(span: &ExportedSpan, ancestor: &str, spans: &[ExportedSpan]) -> bool {
    let mut parent = span.parent_span_id.clone();
    for _ in 0..spans.len() {
        if parent == ancestor {
            return true;
        }
        match spans.iter().find(|s| s.span_id == parent) {
            Some(up) => parent = up.parent_span_id.clone(),
            None => return false,
        }
    }
    false
}

#[tokio::test]
async fn a_traced_request_exports_its_request_database_and_hash_spans_and_its_event_carries_the_trace(
) {
    let receiver = Receiver::start().await;
    let endpoint = receiver.endpoint();
    let issuer = start_issuer(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_SERVICE_NAME", "issuer-under-test"),
    ])
    .await;
    let (email, trace_id, caller_span) = register_traced(&issuer).await;

    let spans = receiver
        .wait_for(&trace_id, &["request", "users.insert", "password.hash"])
        .await;
    let request = spans
        .iter()
        .find(|s| s.name == "request")
        .unwrap_or_else(|| panic!("no request span in {spans:#?}"));
    assert_eq!(request.parent_span_id, caller_span, "{request:#?}");
    assert_eq!(request.service, "issuer-under-test");
    assert_eq!(
        request.attributes.get("route").map(String::as_str),
        Some("/api/v1/auth/register")
    );
    let insert = spans
        .iter()
        .find(|s| s.name == "users.insert")
        .unwrap_or_else(|| panic!("no users.insert span in {spans:#?}"));
    assert_eq!(
        insert.attributes.get("db.system").map(String::as_str),
        Some("postgresql")
    );
    assert_eq!(
        insert
            .attributes
            .get("db.operation.name")
            .map(String::as_str),
        Some("users.insert")
    );
    for name in ["users.insert", "password.hash", "outbox.insert"] {
        let span = spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} span in {spans:#?}"));
        assert!(
            descends(span, &request.span_id, &spans),
            "{name} is not under the request span: {spans:#?}"
        );
    }
    // No span carries a parameter: neither the address nor the password.
    for span in &spans {
        for value in span.attributes.values() {
            assert!(
                !value.contains(&email) && !value.contains(PASSWORD),
                "{span:#?}"
            );
        }
    }

    // The event continues the trace: its NATS headers name the same trace id.
    let headers = event_headers(&issuer.nats, "user.registered")
        .await
        .unwrap_or_else(|| panic!("no user.registered event"));
    let header = headers
        .get("traceparent")
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    assert_eq!(
        header.split('-').nth(1),
        Some(trace_id.as_str()),
        "{header}"
    );
    assert_eq!(
        headers.get("tracestate").map(|v| v.as_str()),
        Some("vendor=opaque")
    );

    // A login is traced with its password verification.
    let (login_trace, _, traceparent) = caller();
    let body = json!({"email": email, "password": PASSWORD});
    let status = post(
        issuer.process.addr,
        "/api/v1/auth/login",
        &traceparent,
        body,
    )
    .await;
    assert!(matches!(status, 200 | 403), "login answered {status}");
    let spans = receiver
        .wait_for(
            &login_trace,
            &["request", "password.verify", "users.find_by_email"],
        )
        .await;
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    for name in ["request", "password.verify", "users.find_by_email"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    drop(issuer);
}

#[tokio::test]
async fn without_an_otlp_endpoint_events_carry_no_trace_headers_and_rows_no_context() {
    let issuer = spawn_issuer().await;
    let (_, _, traceparent) = caller();
    let email = unique_email();
    let body = register_body(&email, PASSWORD);
    let status = post(issuer.addr, "/api/v1/auth/register", &traceparent, body).await;
    assert_eq!(status, 201);

    let headers = event_headers(&issuer.nats, "user.registered")
        .await
        .unwrap_or_else(|| panic!("no user.registered event"));
    assert!(
        headers.get("Nats-Msg-Id").is_some(),
        "the headers were read"
    );
    assert!(headers.get("traceparent").is_none());
    assert!(headers.get("tracestate").is_none());
    let stored = issuer
        .db
        .query_one(
            "SELECT count(*) FROM outbox WHERE traceparent IS NOT NULL OR tracestate IS NOT NULL",
            &[],
        )
        .await
        .unwrap_or_else(|err| panic!("outbox: {err}"))
        .get::<_, i64>(0);
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn the_verifier_continues_the_callers_trace_under_its_own_service_name() {
    let receiver = Receiver::start().await;
    let endpoint = receiver.endpoint();
    let binary = service_binary("verifier").await;
    let env = [
        ("JWT_SECRET_KEY", SECRET),
        ("VERIFIER_ADDR", "127.0.0.1:0"),
        // Nothing listens there: the verifier serves with NATS unreachable.
        ("NATS_URL", "nats://127.0.0.1:9"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            &format!("{endpoint}/v1/traces"),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let (mut child, addr) = listening(&mut command(&binary, &env), "verifier listening")
        .unwrap_or_else(|err| panic!("the verifier binary: {err}"));

    let (trace_id, caller_span, traceparent) = caller();
    let status = post(
        addr,
        "/api/v1/auth/validate-token",
        &traceparent,
        json!({"token": "not-a-token"}),
    )
    .await;
    let spans = receiver.wait_for(&trace_id, &["request"]).await;
    let _ = child.kill();
    let _ = child.wait();
    // Without NATS it answers 503 (not ready); traced all the same.
    assert!(matches!(status, 401 | 503), "{status}");
    let request = spans
        .iter()
        .find(|s| s.name == "request")
        .unwrap_or_else(|| panic!("no request span in {spans:#?}"));
    assert_eq!(request.parent_span_id, caller_span, "{request:#?}");
    assert_eq!(request.service, "verifier");
    assert_eq!(
        request.attributes.get("status").map(String::as_str),
        Some(status.to_string().as_str())
    );
}

#[tokio::test]
async fn the_mailer_continues_the_trace_of_the_request_whose_email_it_sends() {
    let receiver = Receiver::start().await;
    let endpoint = receiver.endpoint();
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let issuer = start_issuer(&otel).await;
    let sink = SmtpSink::started().await;
    let mailer = TestMailer::start_with(&issuer.nats, &sink.url(), "info", &otel)
        .await
        .until_ready()
        .await;
    let (email, trace_id, _) = register_traced(&issuer).await;
    let message = sink.wait_for(&email).await;

    let spans = receiver
        .wait_for(&trace_id, &["request", "email event", "smtp.send"])
        .await;
    let of = |service: &str, name: &str| {
        spans
            .iter()
            .find(|s| s.service == service && s.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "no {name} span of the {service} in trace {trace_id}: {spans:#?}\nmailer:\n{}",
                    mailer.log()
                )
            })
    };
    let (request, event) = (of("issuer", "request"), of("mailer", "email event"));
    assert!(
        descends(event, &request.span_id, &spans),
        "the mailer's span is not under the request's: {spans:#?}"
    );
    assert_eq!(
        event.attributes.get("event_type").map(String::as_str),
        Some("user.registered")
    );
    assert_eq!(
        event.attributes.get("outcome").map(String::as_str),
        Some("sent")
    );
    assert_eq!(of("mailer", "smtp.send").parent_span_id, event.span_id);
    // No span of the mailer names the address or the token of the email's link.
    let link = VERIFY_URL.split("{token}").next().unwrap_or_default();
    let (_, token) = link_and_token(&message, link, "token=");
    for span in spans.iter().filter(|s| s.service == "mailer") {
        for value in span.attributes.values() {
            assert!(
                !value.contains(&email) && !value.contains(&token),
                "{span:#?}"
            );
        }
    }
}
