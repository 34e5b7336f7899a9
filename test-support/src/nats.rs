//! The tests' NATS, `TEST_NATS_URL` (default `nats://127.0.0.1:4222`): a stream and subject
//! prefix of a test's own, what reached them, and a private `nats-server` that a fault test may
//! stop and start.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::poll::eventually;

/// Where the tests' NATS is: `TEST_NATS_URL`, or the local server.
pub fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A test's own stream and subject prefix, so tests share one NATS server without seeing each
/// other's events.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    pub url: String,
    pub stream: String,
    pub prefix: String,
}

impl NatsSettings {
    /// A new stream and prefix on the tests' NATS.
    pub fn unique() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        NatsSettings {
            url: nats_url(),
            stream: format!("TEST_{id}"),
            prefix: format!("t{id}"),
        }
    }

    /// The settings as environment variables, for a verifier that must follow this issuer.
    pub fn env(&self) -> [(String, String); 3] {
        [
            ("NATS_URL".into(), self.url.clone()),
            ("NATS_STREAM".into(), self.stream.clone()),
            ("NATS_SUBJECT_PREFIX".into(), self.prefix.clone()),
        ]
    }

    /// The settings as environment variables, borrowed, for a binary's [`command`].
    ///
    /// [`command`]: crate::binary::command
    pub fn vars(&self) -> [(&'static str, &str); 3] {
        [
            ("NATS_URL", self.url.as_str()),
            ("NATS_STREAM", self.stream.as_str()),
            ("NATS_SUBJECT_PREFIX", self.prefix.as_str()),
        ]
    }

    /// Deletes the stream, if NATS answers within 2 s.
    pub async fn delete_stream(&self) {
        let connected = tokio::time::timeout(
            Duration::from_secs(2),
            async_nats::connect(self.url.as_str()),
        )
        .await;
        if let Ok(Ok(client)) = connected {
            let _ = async_nats::jetstream::new(client)
                .delete_stream(&self.stream)
                .await;
        }
    }

    /// The payload of the message whose `Nats-Msg-Id` is `event_id`, if the stream holds it.
    pub async fn message(&self, event_id: &str, deadline: Duration) -> Option<Value> {
        let client = async_nats::connect(self.url.as_str()).await.ok()?;
        let stream = async_nats::jetstream::new(client)
            .get_stream(&self.stream)
            .await
            .ok()?;
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                filter_subject: format!("{}.>", self.prefix),
                ..Default::default()
            })
            .await
            .ok()?;
        let mut messages = consumer.messages().await.ok()?;
        let started = Instant::now();
        loop {
            let remaining = deadline.saturating_sub(started.elapsed());
            let message = tokio::time::timeout(remaining, messages.next())
                .await
                .ok()??
                .ok()?;
            let id = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id"));
            if id.is_some_and(|id| id.as_str() == event_id) {
                return serde_json::from_slice(&message.payload).ok();
            }
        }
    }

    /// Every message on `<prefix>.<event_type>` (all types for "*") that reached the stream,
    /// waiting until there are at least `count` or `deadline` passes. Returns each message's
    /// `Nats-Msg-Id` and JSON payload, in stream order.
    pub async fn published(
        &self,
        event_type: &str,
        count: usize,
        deadline: Duration,
    ) -> Vec<(String, Value)> {
        let mut found = Vec::new();
        let filter = if event_type == "*" {
            format!("{}.>", self.prefix)
        } else {
            format!("{}.{event_type}", self.prefix)
        };
        let started = Instant::now();
        let Some(mut messages) = ordered(&self.url, &self.stream, filter, deadline).await else {
            return found;
        };
        while found.len() < count {
            let remaining = deadline.saturating_sub(started.elapsed());
            match tokio::time::timeout(remaining, messages.next()).await {
                Ok(Some(Ok(message))) => found.push(id_and_payload(&message)),
                _ => break,
            }
        }
        // Anything beyond `count` that is already there (duplicates would show up here).
        while let Ok(Some(Ok(message))) =
            tokio::time::timeout(Duration::from_millis(300), messages.next()).await
        {
            found.push(id_and_payload(&message));
        }
        found
    }
}

/// The messages of `stream` at `url` on subject `filter`, from the first, through an ordered
/// consumer. The stream appears when the issuer's relay first runs: it is awaited up to
/// `deadline`. `None` when it does not appear or NATS cannot be reached.
pub async fn ordered(
    url: &str,
    stream: &str,
    filter: String,
    deadline: Duration,
) -> Option<async_nats::jetstream::consumer::pull::Ordered> {
    let js = async_nats::jetstream::new(async_nats::connect(url).await.ok()?);
    let started = Instant::now();
    let stream = loop {
        match js.get_stream(stream).await {
            Ok(stream) => break stream,
            Err(_) if started.elapsed() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(_) => return None,
        }
    };
    let config = async_nats::jetstream::consumer::pull::OrderedConfig {
        filter_subject: filter,
        ..Default::default()
    };
    stream
        .create_consumer(config)
        .await
        .ok()?
        .messages()
        .await
        .ok()
}

/// A message's `Nats-Msg-Id` (empty when it has none) and its payload as JSON (`null` when it
/// is not JSON).
fn id_and_payload(message: &async_nats::jetstream::Message) -> (String, Value) {
    let id = message
        .headers
        .as_ref()
        .and_then(|headers| headers.get("Nats-Msg-Id"))
        .map(|id| id.to_string())
        .unwrap_or_default();
    let payload = serde_json::from_slice(&message.payload).unwrap_or(Value::Null);
    (id, payload)
}

/// A private `nats-server -js` on its own port and store, that a fault test may stop and start.
pub struct TestNats {
    pub url: String,
    port: u16,
    dir: std::path::PathBuf,
    /// A configuration file the server reads (`-c`), when it needs more than the defaults.
    config: Option<std::path::PathBuf>,
    child: Option<std::process::Child>,
    /// While no server runs: what keeps the port from being handed to another test.
    holder: Option<PortHolder>,
}

impl TestNats {
    /// A server started and listening.
    pub async fn start() -> TestNats {
        let mut nats = TestNats::not_started();
        nats.resume().await;
        nats
    }

    /// A port and store for a server that is not running yet: `resume` starts it. Until then
    /// nothing listens on `url`, as with a NATS that is down when the services start.
    pub fn not_started() -> TestNats {
        let holder = PortHolder::hold(0);
        let port = holder.port;
        let dir = std::env::temp_dir().join(format!("auth-nats-{}", uuid::Uuid::new_v4().simple()));
        TestNats {
            url: format!("nats://127.0.0.1:{port}"),
            port,
            dir,
            config: None,
            child: None,
            holder: Some(holder),
        }
    }

    /// Started with `settings` (nats-server configuration: authorization, TLS, ...) added to
    /// its own port and JetStream store.
    pub async fn start_configured(settings: &str) -> TestNats {
        let mut nats = TestNats::not_started();
        let file = nats.dir.join("server.conf");
        let text = format!(
            "host: 127.0.0.1\nport: {}\njetstream {{ store_dir: {:?} }}\n{settings}\n",
            nats.port,
            nats.dir.join("store")
        );
        std::fs::create_dir_all(&nats.dir)
            .and_then(|()| std::fs::write(&file, text))
            .unwrap_or_else(|err| panic!("nats-server configuration: {err}"));
        nats.config = Some(file);
        nats.resume().await;
        nats
    }

    /// Kills the server (as a crash would) and waits until its port is closed.
    pub async fn stop(&mut self) {
        if self.holder.is_some() {
            return; // Not running.
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let port = self.port;
        let closed = eventually(Duration::from_secs(10), || async move {
            TcpStream::connect(("127.0.0.1", port)).await.is_err()
        })
        .await;
        assert!(closed, "nats-server still listening after kill");
        self.holder = Some(PortHolder::hold(port));
    }

    /// Starts the server again on the same port and store.
    pub async fn resume(&mut self) {
        let mut command = std::process::Command::new("nats-server");
        match &self.config {
            Some(file) => command.arg("-c").arg(file),
            None => command
                .args([
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-js",
                    "-sd",
                ])
                .arg(&self.dir),
        };
        // Released the moment before the server binds the port.
        drop(self.holder.take());
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("nats-server (install it: apt-get install nats-server): {err}")
            });
        self.child = Some(child);
        let port = self.port;
        let up = eventually(Duration::from_secs(10), || async move {
            TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        assert!(up, "nats-server did not start");
    }
}

/// Holds a port while no nats-server runs on it, so that no other test's server or connection
/// takes it meanwhile; like a stopped server, it lets nobody talk NATS there: every connection
/// is closed as soon as it is accepted.
struct PortHolder {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PortHolder {
    /// Holds loopback port `port`, or a free one for 0.
    fn hold(port: u16) -> PortHolder {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|err| panic!("cannot hold a port for nats-server: {err}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("held port: {err}"))
            .port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for connection in listener.incoming() {
                if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                drop(connection);
            }
        });
        PortHolder {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for PortHolder {
    /// Returns once the port is free again.
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept loop, which then sees `stop` and closes the listener.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
