//! Running a service binary the way an operator does, and speaking plain HTTP/1.1 to it.
//! Shared by the issuer's and the verifier's binary tests, which include it with `#[path]`;
//! each uses a part of it.

#![allow(dead_code, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `binary` with nothing in its environment but `PATH` and `env`, started in the temporary
/// directory so that no `.env` file is read.
pub fn command(binary: &str, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir())
        .envs(env.iter().copied());
    command
}

/// A spawned service whose stdout log lines are read as they come (stderr is left as the
/// command set it, or dropped). A reader thread drains stdout, so the service never blocks on a
/// write.
pub struct Logged {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far, for failure messages.
    pub seen: String,
}

impl Logged {
    pub fn spawn(command: &mut Command) -> Result<Logged, String> {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|err| format!("the binary does not start: {err}"))?;
        let stdout = child.stdout.take().ok_or("stdout is not piped")?;
        let (lines_tx, lines) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        Ok(Logged {
            child,
            lines,
            seen: String::new(),
        })
    }

    /// The next line holding `needle`, waiting up to `wait` for it.
    pub fn wait_for(&mut self, needle: &str, wait: Duration) -> Result<String, String> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.lines.recv_timeout(left) else {
                return Err(format!(
                    "no `{needle}` line within {wait:?}; read so far:\n{}",
                    self.seen
                ));
            };
            self.seen.push_str(&line);
            self.seen.push('\n');
            if line.contains(needle) {
                return Ok(line);
            }
        }
    }

    /// The `addr=` field of the next line holding `banner` (`issuer listening`, …).
    pub fn address(&mut self, banner: &str, wait: Duration) -> Result<SocketAddr, String> {
        let line = self.wait_for(banner, wait)?;
        line.split("addr=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| format!("no address in `{line}`"))
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `command` (stderr dropped) and waits up to 30 s for the log line holding `banner`;
/// the address is its `addr=` field. The process is killed when it never says it.
pub fn listening(command: &mut Command, banner: &str) -> Result<(Child, SocketAddr), String> {
    let mut logged = Logged::spawn(command.stderr(Stdio::null()))?;
    match logged.address(banner, Duration::from_secs(30)) {
        Ok(addr) => Ok((logged.child, addr)),
        Err(err) => {
            logged.kill();
            Err(err)
        }
    }
}

/// How a finished process ended and what it wrote.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to its end.
pub fn run(command: &mut Command) -> std::io::Result<Run> {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output()?;
    Ok(Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// A response's status and body.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// One HTTP/1.1 request on its own connection.
pub fn send(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(body).expect("send body");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Reply { status, body }
}

/// The tests' Postgres, `TEST_DATABASE_URL` (default
/// `postgres://postgres@127.0.0.1:5432/postgres`), with its database replaced by `database`.
pub fn database_url(database: &str) -> String {
    let (url, _) = database_url_via(database, None);
    url
}

/// [`database_url`], with the server replaced by `via` (`host:port`, e.g. a proxy) when given,
/// and the real server's `host:port`.
pub fn database_url_via(database: &str, via: Option<&str>) -> (String, String) {
    let base = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", &base));
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let query = rest.split_once('?').map(|(_, q)| format!("?{q}"));
    let (user, server) = match authority.rsplit_once('@') {
        Some((user, server)) => (format!("{user}@"), server),
        None => (String::new(), authority),
    };
    let server = if server.contains(':') {
        server.to_owned()
    } else {
        format!("{server}:5432")
    };
    let url = format!(
        "{scheme}://{user}{}/{database}{}",
        via.unwrap_or(&server),
        query.unwrap_or_default()
    );
    (url, server)
}

/// The first column of the first row `sql` returns in `database`, trimmed; empty on any error.
pub fn psql(database: &str, sql: &str) -> String {
    Command::new("psql")
        .arg(database_url(database))
        .args(["-tAc", sql])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
