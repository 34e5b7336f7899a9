//! `bench ladder [--seconds N] [--path forward-auth|validate-token]`: the verifier's cost, layer
//! by layer. Each step is a server that does what the step before it does and one thing more,
//! from hyper's hello world to the real verifier; each is loaded the way `bench verifier` loads
//! (server on core 0, wrk -t1 -c64 on core 1, the valid forward-auth request, or the valid
//! validate-token POST), and the table shows its requests/s and the server's CPU per request,
//! so every layer's cost is known.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use common::cors::AllowedOrigins;
use common::envelope::Response;
use common::error::ApiError;
use common::jwt::{TokenCodec, TokenError};
use common::metrics::HttpMetrics;
use common::request::AccessLog;
use common::server::ServerLimits;
use http::{HeaderName, HeaderValue, Request};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use verifier::rules::Rules;

use crate::servers::Server;
use crate::verifier_bench::{bench_codec, valid_token, verifier_env, wait_ready, Case, PINNED};

/// The steps, cheapest first: (name, what it adds).
const STEPS: [(&str, &str); 9] = [
    ("bare", "bare hyper, HTTP/1 only (hello world)"),
    (
        "auto",
        "hyper-util auto builder (HTTP/1 or HTTP/2 by preface)",
    ),
    ("timer", "+ header-read timer (hyper's HTTP/1 timer)"),
    (
        "idle",
        "+ the shared accept loop: connection cap, graceful watcher, idle tracking",
    ),
    (
        "wrapper",
        "+ request wrapper: request id, span, metrics, security headers",
    ),
    ("cors", "+ CORS decision"),
    ("rules", "+ route lookup, rule parsing"),
    (
        "token",
        "+ token read and HS256 verification, identity headers",
    ),
    (
        "verifier",
        "the real verifier (+ Host check, readiness, revocation list, validation metrics)",
    ),
];

/// The validate-token path's steps, cheapest first; `wrapper` is the forward-auth ladder's.
const POST_STEPS: [(&str, &str); 7] = [
    (
        "bare",
        "bare hyper, HTTP/1 only (hello world, the body left to hyper)",
    ),
    (
        "wrapper",
        "+ the shared accept loop and the request wrapper (as above)",
    ),
    (
        "post-body",
        "+ body read within the size limit, time limit and body budget",
    ),
    (
        "post-parse",
        "+ content-type check, JSON decoding into the request type",
    ),
    ("post-verify", "+ HS256 verification of the token"),
    (
        "post-envelope",
        "+ the success envelope with the validation data",
    ),
    (
        "verifier",
        "the real verifier (+ route table, Host check, CORS, readiness, validation metrics)",
    ),
];

/// Index of each layered step in [`STEPS`].
const WRAPPER: usize = 4;
const CORS: usize = 5;
const RULES: usize = 6;
const TOKEN: usize = 7;

pub async fn run(args: &[String]) -> Result<(), anyhow::Error> {
    let mut seconds = 5;
    let mut post = false;
    for (flag, value) in crate::flags::pairs(args, &["--seconds", "--path"])? {
        match (flag, value) {
            ("--seconds", _) => seconds = value.parse().context("--seconds")?,
            (_, "forward-auth") => post = false,
            (_, "validate-token") => post = true,
            _ => bail!("--path is forward-auth or validate-token"),
        }
    }
    let token = valid_token()?;
    let valid = [format!("Authorization: Bearer {token}")];
    let json = ["Content-Type: application/json".to_owned()];
    let body = format!("{{\"token\":\"{token}\"}}");
    let script_dir = std::env::temp_dir().join(format!("bench-ladder-{}", std::process::id()));
    let script = crate::verifier_bench::post_script(&script_dir, &body)?;
    let (steps, path, headers, post_body): (&[(&str, &str)], _, &[String], _) = match post {
        false => (&STEPS, "/forward-auth", &valid, None),
        true => (
            &POST_STEPS,
            "/api/v1/auth/validate-token",
            &json,
            Some((body.as_str(), script.as_path())),
        ),
    };
    println!(
        "the verifier's cost ladder: each server on core 0, wrk -t1 -c64 -d{seconds}s on core 1, the valid {} request; load average before: {}\n",
        if post { "validate-token" } else { "forward-auth" },
        crate::verifier_bench::load_average()
    );
    println!("| step | what it adds | requests/s | server CPU per request | added |");
    println!("|---|---|---:|---:|---:|");
    let mut previous: Option<f64> = None;
    for &(name, what) in steps {
        let server = match name {
            "bare" => Server::start_on(PINNED.server, "serve-bare", &[], None, &[])?,
            "verifier" => Server::start_on(
                PINNED.server,
                "serve-verifier",
                &[],
                Some("VERIFIER_ADDR"),
                &verifier_env(),
            )?,
            step => Server::start_on(PINNED.server, "serve-step", &[step], None, &[])?,
        };
        if name == "verifier" {
            wait_ready(&server)?;
        }
        let case = Case {
            name,
            server: &server,
            path,
            headers,
            body: post_body,
            expect: 200,
        };
        case.load(PINNED, 2, 64)?;
        let before = server.cpu_time()?;
        let load = case.load(PINNED, seconds, 64)?;
        let cpu = server.cpu_time()?.since(&before);
        let per_request = cpu.as_secs_f64() * 1e6 / load.requests.max(1) as f64;
        let added = previous.map_or_else(String::new, |p| format!("{:+.2} µs", per_request - p));
        println!(
            "| {name} | {what} | {:.0} | {per_request:.2} µs | {added} |",
            load.requests_per_second
        );
        previous = Some(per_request);
    }
    let _ = std::fs::remove_dir_all(&script_dir);
    Ok(())
}

/// Serves one step of the ladder: `serve-step <step> <address>`.
pub async fn serve_step(args: &[String]) -> Result<(), anyhow::Error> {
    let (Some(step), Some(addr)) = (args.first(), args.get(1)) else {
        bail!("serve-step needs a step and an address");
    };
    let listener = TcpListener::bind(addr.as_str()).await?;
    if let Some(depth) = POST_STEPS.iter().position(|(name, _)| name == step) {
        if step.starts_with("post-") {
            return serve_post(listener, depth).await;
        }
    }
    let depth = STEPS
        .iter()
        .position(|(name, _)| name == step)
        .with_context(|| format!("no step {step}"))?;
    match step.as_str() {
        "auto" => serve_auto(listener, false).await,
        "timer" => serve_auto(listener, true).await,
        "bare" | "verifier" => bail!("{step} is served by its own mode"),
        _ => {
            let mut registry = prometheus_client::registry::Registry::default();
            let layers = Arc::new(Layers {
                depth,
                metrics: HttpMetrics::register(
                    &mut registry,
                    &verifier::routes::ROUTES.metric_routes(),
                ),
                cors: AllowedOrigins::default(),
                codec: bench_codec()?,
            });
            common::server::serve(
                listener,
                move |req, peer| Arc::clone(&layers).answer(req, peer),
                std::future::pending(),
                Duration::from_secs(1),
            )
            .await;
            Ok(())
        }
    }
}

fn empty() -> Response {
    http::Response::new(Full::new(Bytes::new()))
}

/// The auto builder, with or without the HTTP/1 header-read timer, answering an empty 200.
async fn serve_auto(listener: TcpListener, timer: bool) -> Result<(), anyhow::Error> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if timer {
        let limits = ServerLimits::default();
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_header_bytes);
    }
    let builder = Arc::new(builder);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let builder = Arc::clone(&builder);
        tokio::spawn(async move {
            let service =
                service_fn(|_req: Request<Incoming>| async { Ok::<_, Infallible>(empty()) });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The layers from the request wrapper on, up to `depth`.
struct Layers {
    depth: usize,
    metrics: HttpMetrics,
    cors: AllowedOrigins,
    codec: TokenCodec,
}

impl Layers {
    async fn answer(self: Arc<Self>, req: Request<Incoming>, _peer: SocketAddr) -> Response {
        if self.depth < WRAPPER {
            return empty();
        }
        let cors = (self.depth >= CORS).then(|| self.cors.decide(req.uri().path(), req.headers()));
        let route = match self.depth >= RULES {
            true => verifier::routes::ROUTES.route_name(req.uri().path()),
            false => verifier::routes::FORWARD_AUTH,
        };
        let endpoint = self.metrics.endpoint(route);
        let response =
            common::request::handle_with(req, AccessLog::QuietSuccess, endpoint, |req| {
                std::future::ready(self.innermost(&req))
            });
        match cors {
            Some(cors) => common::cors::around(cors, response).await,
            None => response.await,
        }
    }

    fn innermost(&self, req: &Request<Incoming>) -> Result<Response, ApiError> {
        if self.depth < RULES {
            return Ok(empty());
        }
        let rules = Rules::parse(req.uri().query())?;
        if self.depth < TOKEN {
            return Ok(empty());
        }
        let token = common::http::bearer_token(req.headers())?.ok_or(TokenError::Missing)?;
        let claims = self
            .codec
            .verify_access(token, chrono::Utc::now().timestamp())?;
        rules.check(&claims)?;
        let mut response = empty();
        let headers = response.headers_mut();
        let id = |id: uuid::Uuid| {
            HeaderValue::from_str(&id.hyphenated().to_string())
                .unwrap_or(HeaderValue::from_static(""))
        };
        headers.insert(HeaderName::from_static("x-user-id"), id(claims.sub));
        let email =
            HeaderValue::from_bytes(claims.email.as_bytes()).map_err(|_| TokenError::Malformed)?;
        headers.insert(HeaderName::from_static("x-user-email"), email);
        headers.insert(
            HeaderName::from_static("x-email-verified"),
            HeaderValue::from_static(if claims.email_verified {
                "true"
            } else {
                "false"
            }),
        );
        headers.insert(HeaderName::from_static("x-session-id"), id(claims.sid));
        Ok(response)
    }
}

/// Index of each validate-token step in [`POST_STEPS`].
const POST_PARSE: usize = 3;
const POST_VERIFY: usize = 4;
const POST_ENVELOPE: usize = 5;

/// The validate-token layers, up to `depth`, behind the shared accept loop and request wrapper.
async fn serve_post(listener: TcpListener, depth: usize) -> Result<(), anyhow::Error> {
    let env = verifier_env();
    let lookup = |name: &str| {
        env.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    };
    let common = common::config::CommonConfig::from_env(&common::settings::Env::new(&lookup), "0")?;
    let mut registry = prometheus_client::registry::Registry::default();
    let layers = Arc::new(PostLayers {
        depth,
        metrics: HttpMetrics::register(&mut registry, &verifier::routes::ROUTES.metric_routes()),
        limits: common.body_limits(),
        codec: bench_codec()?,
    });
    common::server::serve(
        listener,
        move |req, _peer| {
            let layers = Arc::clone(&layers);
            async move {
                let endpoint = layers.metrics.endpoint(VALIDATE_TOKEN);
                common::request::handle_with(req, AccessLog::QuietSuccess, endpoint, |req| {
                    layers.innermost(req)
                })
                .await
            }
        },
        std::future::pending(),
        Duration::from_secs(1),
    )
    .await;
    Ok(())
}

const VALIDATE_TOKEN: &str = "/api/v1/auth/validate-token";

struct PostLayers {
    depth: usize,
    metrics: HttpMetrics,
    limits: common::http::BodyLimits,
    codec: TokenCodec,
}

impl PostLayers {
    async fn innermost(&self, req: Request<Incoming>) -> Result<Response, ApiError> {
        if self.depth < POST_PARSE {
            common::http::read_body(req, self.limits.clone()).await?;
            return Ok(empty());
        }
        let body: common::api::TokenRequest =
            common::http::read_json(req, self.limits.clone()).await?;
        if self.depth < POST_VERIFY {
            return Ok(empty());
        }
        let claims = self
            .codec
            .verify_access(&body.token, chrono::Utc::now().timestamp())?;
        if self.depth < POST_ENVELOPE {
            return Ok(empty());
        }
        Ok(common::envelope::success(
            http::StatusCode::OK,
            &claims.validation_data(),
        ))
    }
}
