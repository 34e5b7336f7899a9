//! Private nginx and Caddy processes in front of the verifier and an upstream, configured as
//! docs/DEPLOYMENT.md tells operators to.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use test_support::net::free_port;
use test_support::poll::eventually;

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

/// A directory of the proxy's own for its configuration, log and temporary files.
fn private_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("auth-{kind}-{}", uuid::Uuid::new_v4().simple()));
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
