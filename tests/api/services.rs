//! The verifier in process, an upstream that echoes what reached it, and private nginx and
//! Caddy instances in front of them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use uuid::Uuid;
use verifier::app::App;
use verifier::config::VerifierConfig;

use crate::harness::{eventually, Reply, SECRET};

/// The verifier under test.
pub struct TestVerifier {
    pub addr: SocketAddr,
    pub state: Arc<verifier::state::AppState>,
    pub http: reqwest::Client,
    _shutdown: oneshot::Sender<()>,
}

/// A verifier with `tweak` applied to its environment, once it is ready (its revocation replay
/// is complete): until then it refuses every token with 503.
pub async fn spawn_verifier_with(tweak: impl FnOnce(&mut HashMap<String, String>)) -> TestVerifier {
    start_verifier(tweak, 0).await.until_ready().await
}

/// Like `spawn_verifier_with`, without waiting for it to be ready.
pub async fn spawn_unready_verifier_with(
    tweak: impl FnOnce(&mut HashMap<String, String>),
) -> TestVerifier {
    start_verifier(tweak, 0).await
}

/// A verifier started `seconds` after now by its clock (which its revocation feed uses too),
/// once it is ready: what a verifier restarted that much later sees.
pub async fn spawn_later_verifier_with(
    seconds: i64,
    tweak: impl FnOnce(&mut HashMap<String, String>),
) -> TestVerifier {
    start_verifier(tweak, seconds).await.until_ready().await
}

async fn start_verifier(
    tweak: impl FnOnce(&mut HashMap<String, String>),
    clock_ahead: i64,
) -> TestVerifier {
    // Its own stream name by default, so it never follows another test's events.
    let id = Uuid::new_v4().simple().to_string();
    let mut env: HashMap<String, String> = [
        ("JWT_SECRET_KEY", SECRET.to_owned()),
        ("VERIFIER_ADDR", "127.0.0.1:0".to_owned()),
        ("NATS_URL", crate::harness::nats_url()),
        ("NATS_STREAM", format!("TEST_{id}")),
        ("NATS_SUBJECT_PREFIX", format!("t{id}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    tweak(&mut env);
    let lookup = move |k: &str| env.get(k).cloned();
    let config =
        VerifierConfig::from_lookup(&lookup).unwrap_or_else(|err| panic!("verifier config: {err}"));
    let app = App::build(config)
        .await
        .unwrap_or_else(|err| panic!("verifier did not build: {err:#}"));
    let addr = app
        .local_addr()
        .unwrap_or_else(|err| panic!("no local address: {err}"));
    let state = app.state();
    state.clock.advance(clock_ahead);
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestVerifier {
        addr,
        state,
        http: reqwest::Client::new(),
        _shutdown: tx,
    }
}

pub async fn spawn_verifier() -> TestVerifier {
    spawn_verifier_with(|_| {}).await
}

/// A verifier that follows `issuer`'s events (same NATS stream and subject prefix).
pub async fn spawn_verifier_for(issuer: &crate::harness::TestIssuer) -> TestVerifier {
    let nats = issuer.nats.env();
    spawn_verifier_with(move |env| env.extend(nats)).await
}

impl TestVerifier {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `POST /api/v1/auth/validate-token` with `token`.
    pub async fn validate(&self, token: &str) -> Reply {
        let response = self
            .http
            .post(self.url("/api/v1/auth/validate-token"))
            .json(&json!({"token": token}))
            .send()
            .await
            .unwrap_or_else(|err| panic!("verifier validate-token: {err}"));
        Reply::read(response).await
    }

    /// The body of `GET /health`.
    pub async fn health(&self) -> serde_json::Value {
        let response = self.http.get(self.url("/health")).send().await;
        let response = response.unwrap_or_else(|err| panic!("verifier /health: {err}"));
        response
            .json()
            .await
            .unwrap_or_else(|err| panic!("verifier /health body: {err}"))
    }

    /// `GET /health/ready`.
    pub async fn ready(&self) -> Reply {
        let response = self.http.get(self.url("/health/ready")).send().await;
        Reply::read(response.unwrap_or_else(|err| panic!("verifier /health/ready: {err}"))).await
    }

    /// Waits until the verifier is ready (asked of its state, so that it works over TLS too).
    async fn until_ready(self) -> TestVerifier {
        let ready = eventually(Duration::from_secs(30), || async {
            self.state.not_ready().is_none()
        })
        .await;
        assert!(
            ready,
            "the verifier never became ready: {:?}",
            self.state.not_ready()
        );
        self
    }

    /// `POST path` with exactly these bytes and this content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        crate::harness::post_raw(&self.http, self.url(path), content_type, body).await
    }

    /// The status of a plain `/forward-auth` with `access_token` as the bearer.
    pub async fn status_for(&self, access_token: &str) -> u16 {
        let bearer = format!("Bearer {access_token}");
        self.forward_auth("", &[("authorization", &bearer)])
            .await
            .status()
            .as_u16()
    }

    /// `/forward-auth` with `rules` appended and the given request headers.
    pub async fn forward_auth(&self, rules: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.get(self.url(&format!("/forward-auth{rules}")));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
            .send()
            .await
            .unwrap_or_else(|err| panic!("forward-auth: {err}"))
    }
}

/// An upstream that answers every request with the headers it received, and counts them.
pub struct EchoUpstream {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    _shutdown: oneshot::Sender<()>,
}

impl EchoUpstream {
    pub async fn start() -> EchoUpstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|err| panic!("bind: {err}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("addr: {err}"));
        let hits = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel::<()>();
        let counter = Arc::clone(&hits);
        tokio::spawn(common::server::serve(
            listener,
            move |req: http::Request<hyper::body::Incoming>, _| {
                counter.fetch_add(1, Ordering::SeqCst);
                let headers: HashMap<String, Vec<String>> = req
                    .headers()
                    .keys()
                    .map(|name| {
                        let values = req
                            .headers()
                            .get_all(name)
                            .iter()
                            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                            .collect();
                        (name.as_str().to_owned(), values)
                    })
                    .collect();
                let body = json!({"upstream": true, "path": req.uri().path(), "headers": headers})
                    .to_string();
                async move {
                    let mut response = http::Response::new(Full::new(Bytes::from(body)));
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    response
                }
            },
            async {
                let _ = rx.await;
            },
            Duration::from_secs(1),
        ));
        EchoUpstream {
            addr,
            hits,
            _shutdown: tx,
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A reverse proxy process (nginx or Caddy) with its own config in its own directory, killed
/// and cleaned up on drop.
pub struct Proxy {
    pub addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port that was free a moment ago. nginx and Caddy cannot report the port they
/// chose, so this is the one place the tests pick one.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|err| panic!("no free port: {err}"))
}

fn private_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("auth-{kind}-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
    dir
}

impl Proxy {
    async fn wait_until_listening(mut self, name: &str) -> Proxy {
        let addr = self.addr;
        let up = eventually(Duration::from_secs(20), || async move {
            tokio::net::TcpStream::connect(addr).await.is_ok()
        })
        .await;
        if !up {
            let _ = self.child.kill();
            let log = std::fs::read_to_string(self.dir.join("proxy.log")).unwrap_or_default();
            panic!("{name} did not start listening on {addr}:\n{log}");
        }
        self
    }

    /// nginx with `auth_request` to the verifier's `/forward-auth` on `/`, and with
    /// `?require_verified=true` on `/verified/`; the verifier is an `upstream` with `keepalive`,
    /// so the subrequests reuse connections (docs/DEPLOYMENT.md's snippet).
    pub async fn nginx(verifier: SocketAddr, upstream: SocketAddr) -> Proxy {
        let dir = private_dir("nginx");
        let port = free_port();
        let config = nginx_config(&verifier.to_string(), &upstream.to_string(), &dir, port);
        let path = dir.join("nginx.conf");
        std::fs::write(&path, config).unwrap_or_else(|err| panic!("nginx.conf: {err}"));
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("nginx (install it: apt-get install nginx): {err}"));
        Proxy {
            addr: ([127, 0, 0, 1], port).into(),
            child,
            dir,
        }
        .wait_until_listening("nginx")
        .await
    }

    /// Caddy with `forward_auth` to the verifier on every path, and with
    /// `?require_verified=true` on `/verified/*`.
    pub async fn caddy(verifier: SocketAddr, upstream: SocketAddr) -> Proxy {
        let dir = private_dir("caddy");
        let port = free_port();
        let config = caddy_config(&verifier.to_string(), &upstream.to_string(), port);
        let path = dir.join("Caddyfile");
        std::fs::write(&path, config).unwrap_or_else(|err| panic!("Caddyfile: {err}"));
        let log =
            std::fs::File::create(dir.join("proxy.log")).unwrap_or_else(|err| panic!("log: {err}"));
        let child = Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&path)
            .env("HOME", &dir)
            .env("XDG_DATA_HOME", &dir)
            .env("XDG_CONFIG_HOME", &dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("caddy (install it: apt-get install caddy): {err}"));
        Proxy {
            addr: ([127, 0, 0, 1], port).into(),
            child,
            dir,
        }
        .wait_until_listening("caddy")
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// The nginx configuration the tests run: `auth_request` to the verifier's `/forward-auth` on
/// `/`, `?require_verified=true` on `/verified/`, the verifier an `upstream` with `keepalive`.
/// docs/DEPLOYMENT.md shows the same directives (a test checks that).
pub fn nginx_config(verifier: &str, upstream: &str, dir: &std::path::Path, port: u16) -> String {
    let d = dir.display();
    let protected = |auth: &str| {
        format!(
            r#"
            auth_request {auth};
            auth_request_set $auth_user_id $upstream_http_x_user_id;
            auth_request_set $auth_user_email $upstream_http_x_user_email;
            auth_request_set $auth_email_verified $upstream_http_x_email_verified;
            auth_request_set $auth_session_id $upstream_http_x_session_id;
            proxy_set_header X-User-Id $auth_user_id;
            proxy_set_header X-User-Email $auth_user_email;
            proxy_set_header X-Email-Verified $auth_email_verified;
            proxy_set_header X-Session-Id $auth_session_id;
            proxy_pass http://{upstream};"#
        )
    };
    let auth = |rules: &str| {
        format!(
            r#"
            internal;
            proxy_pass http://verifier/forward-auth{rules};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Method $request_method;
            proxy_set_header X-Forwarded-Uri $request_uri;
            proxy_set_header X-Forwarded-Host $host;"#
        )
    };
    format!(
        r#"
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/proxy.log warn;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream verifier {{
        server {verifier};
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{ {all} }}
        location /verified/ {{ {verified} }}
        location = /_auth {{ {auth_all} }}
        location = /_auth_verified {{ {auth_verified} }}
    }}
}}
"#,
        all = protected("/_auth"),
        verified = protected("/_auth_verified"),
        auth_all = auth(""),
        auth_verified = auth("?require_verified=true"),
    )
}

/// The Caddyfile the tests run: `forward_auth` to the verifier on every path, with
/// `?require_verified=true` on `/verified/*`. docs/DEPLOYMENT.md shows the same directives.
pub fn caddy_config(verifier: &str, upstream: &str, port: u16) -> String {
    let protected = |rules: &str| {
        format!(
            "forward_auth {verifier} {{
            uri /forward-auth{rules}
            copy_headers X-User-Id X-User-Email X-Email-Verified X-Session-Id
        }}
        reverse_proxy {upstream}"
        )
    };
    format!(
        "{{
    admin off
    auto_https off
}}
http://127.0.0.1:{port} {{
    handle /verified/* {{
        {verified}
    }}
    handle {{
        {all}
    }}
}}
",
        verified = protected("?require_verified=true"),
        all = protected(""),
    )
}
