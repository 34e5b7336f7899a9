//! The mailer binary against a real SMTP server: an aiosmtpd sink (`smtp_sink.py`) on its own
//! port that writes each accepted message to a directory, and the mailer process following a
//! test issuer's stream, with every line it writes kept for assertions.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;

use crate::harness::binaries::cargo_built;
use crate::harness::{eventually, NatsSettings};
use test_support::binary::command;

/// Every wait of these tests: generous, since two cores run the whole suite.
pub const WAIT: Duration = Duration::from_secs(60);

pub const MAIL_FROM: &str = "Accounts <no-reply@example.com>";
pub const VERIFY_URL: &str = "https://app.example.com/verify-email?source=mail&token={token}";
pub const RESET_URL: &str = "https://app.example.com/reset-password#token={token}";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Python of `scripts/test`'s virtualenv, which has aiosmtpd.
fn python() -> PathBuf {
    let python = root().join("target/test-venv/bin/python");
    let has_aiosmtpd = Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_aiosmtpd,
        "aiosmtpd is not installed: `python3 -m venv target/test-venv && \
         target/test-venv/bin/pip install aiosmtpd==1.4.6` (scripts/test does)"
    );
    python
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|err| panic!("no free port: {err}"))
}

/// An SMTP server on its own port, started and stopped at will; each message it accepted is
/// one JSON file in `dir` (see `smtp_sink.py`).
pub struct SmtpSink {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl SmtpSink {
    /// A port and a directory; nothing listens until [`SmtpSink::start`].
    pub fn reserved() -> SmtpSink {
        let dir = std::env::temp_dir().join(format!("mailer-sink-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("sink directory: {err}"));
        SmtpSink {
            port: free_port(),
            dir,
            child: None,
        }
    }

    pub async fn started() -> SmtpSink {
        let mut sink = SmtpSink::reserved();
        sink.start().await;
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub async fn start(&mut self) {
        let script = root().join("tests/api/mailer/smtp_sink.py");
        let child = Command::new(python())
            .arg(script)
            .arg(self.port.to_string())
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("the SMTP sink does not start: {err}"));
        self.child = Some(child);
        let port = self.port;
        let up = eventually(WAIT, || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        assert!(up, "the SMTP sink never listened on {port}");
    }

    /// Every message accepted so far, in the order they arrived.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "json"));
        files.retain(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        });
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect()
    }

    /// The messages whose envelope recipients include `to`.
    pub fn messages_to(&self, to: &str) -> Vec<Value> {
        self.messages()
            .into_iter()
            .filter(|m| {
                m["rcpt_tos"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|a| a == to))
            })
            .collect()
    }

    /// The first message to `to`, waiting up to [`WAIT`] for it.
    pub async fn wait_for(&self, to: &str) -> Value {
        let started = Instant::now();
        loop {
            if let Some(message) = self.messages_to(to).into_iter().next() {
                return message;
            }
            assert!(
                started.elapsed() < WAIT,
                "no email to {to} within {WAIT:?}; received: {:?}",
                self.messages()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The mailer binary, killed on drop, with everything it wrote to stdout and stderr.
pub struct TestMailer {
    pub addr: SocketAddr,
    child: Child,
    log: Arc<Mutex<String>>,
    http: reqwest::Client,
    pub nats: NatsSettings,
}

fn keep_lines(from: impl Read + Send + 'static, log: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if let Ok(mut log) = log.lock() {
                log.push_str(&line);
                log.push('\n');
            }
        }
    });
}

impl TestMailer {
    /// Starts the mailer on `nats`'s stream, sending through `smtp_url`, at `log_level`, and
    /// waits until it says where it listens.
    pub async fn start(nats: &NatsSettings, smtp_url: &str, log_level: &str) -> TestMailer {
        TestMailer::start_with(nats, smtp_url, log_level, &[]).await
    }

    /// [`TestMailer::start`] with `extra` variables (NATS credentials, ...) set too.
    pub async fn start_with(
        nats: &NatsSettings,
        smtp_url: &str,
        log_level: &str,
        extra: &[(&str, &str)],
    ) -> TestMailer {
        let binary = tokio::task::spawn_blocking(|| {
            cargo_built(&["-p", "mailer", "--bin", "mailer"], "mailer")
        })
        .await
        .unwrap_or_else(|err| panic!("building the mailer: {err}"));
        let env = [
            ("NATS_URL", nats.url.as_str()),
            ("NATS_STREAM", nats.stream.as_str()),
            ("NATS_SUBJECT_PREFIX", nats.prefix.as_str()),
            ("MAILER_ADDR", "127.0.0.1:0"),
            ("SMTP_URL", smtp_url),
            ("MAIL_FROM", MAIL_FROM),
            ("VERIFY_EMAIL_URL", VERIFY_URL),
            ("RESET_PASSWORD_URL", RESET_URL),
            ("LOG_LEVEL", log_level),
            ("SHUTDOWN_GRACE_SECONDS", "1"),
        ];
        let env: Vec<(&str, &str)> = env.iter().chain(extra).copied().collect();
        let mut child = command(&binary.to_string_lossy(), &env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("the mailer does not start: {err}"));
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(out) = child.stdout.take() {
            keep_lines(out, Arc::clone(&log));
        }
        if let Some(err) = child.stderr.take() {
            keep_lines(err, Arc::clone(&log));
        }
        let mut mailer = TestMailer {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            child,
            log,
            http: reqwest::Client::new(),
            nats: nats.clone(),
        };
        let started = Instant::now();
        mailer.addr = loop {
            let addr = mailer.log().lines().find_map(|line| {
                let rest = line.split("mailer listening").nth(1)?;
                rest.split("addr=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            });
            if let Some(addr) = addr {
                break addr;
            }
            assert!(
                started.elapsed() < WAIT,
                "the mailer never said where it listens:\n{}",
                mailer.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        mailer
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await
            .unwrap_or_else(|err| panic!("mailer {path}: {err}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Waits until /health/ready answers 200: the consumer exists.
    pub async fn until_ready(self) -> TestMailer {
        let ready = eventually(WAIT, || async { self.get("/health/ready").await.0 == 200 }).await;
        assert!(ready, "the mailer never got ready:\n{}", self.log());
        self
    }

    /// The value of the unlabelled series `name` in /metrics (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        let (_, body) = self.get("/metrics").await;
        body.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until the metric `name` is at least `value`.
    pub async fn until_metric_at_least(&self, name: &str, value: f64) {
        let reached = eventually(WAIT, || async { self.metric(name).await >= value }).await;
        assert!(
            reached,
            "{name} never reached {value}; /metrics:\n{}\nlog:\n{}",
            self.get("/metrics").await.1,
            self.log()
        );
    }

    /// Waits until the mailer's durable consumer has nothing left: every message delivered
    /// and acknowledged (none pending, none awaiting an ack, none waiting for a retry).
    pub async fn until_caught_up(&self) {
        let nats = self.nats.clone();
        let idle = eventually(WAIT, || {
            let nats = nats.clone();
            async move {
                let Ok(client) = async_nats::connect(nats.url.as_str()).await else {
                    return false;
                };
                let js = async_nats::jetstream::new(client);
                let Ok(stream) = js.get_stream(&nats.stream).await else {
                    return false;
                };
                let consumer: Result<async_nats::jetstream::consumer::PullConsumer, _> =
                    stream.get_consumer(mailer::consumer::CONSUMER).await;
                let Ok(mut consumer) = consumer else {
                    return false;
                };
                consumer
                    .info()
                    .await
                    .is_ok_and(|info| info.num_pending == 0 && info.num_ack_pending == 0)
            }
        })
        .await;
        assert!(
            idle,
            "the mailer's consumer never caught up:\n{}",
            self.log()
        );
    }
}

impl Drop for TestMailer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The link in a message's plain-text part that starts with `prefix`, and the token in it
/// (after `marker`, URL-decoded).
pub fn link_and_token(message: &Value, prefix: &str, marker: &str) -> (String, String) {
    let text = message["text"].as_str().unwrap_or_default();
    let link = text
        .split_whitespace()
        .find(|word| word.starts_with(prefix))
        .unwrap_or_else(|| panic!("no link starting {prefix} in:\n{text}"))
        .to_owned();
    let encoded = link
        .split_once(marker)
        .map(|(_, token)| token)
        .unwrap_or_else(|| panic!("no {marker} in {link}"));
    (
        link.clone(),
        percent_encoding::percent_decode_str(encoded)
            .decode_utf8_lossy()
            .into_owned(),
    )
}
