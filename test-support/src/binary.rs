//! Running a service binary the way an operator does, and speaking plain HTTP/1.1 to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context};

/// How long a service may take to say it is listening, or to become ready.
pub const START_WAIT: Duration = Duration::from_secs(60);

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

/// A spawned service whose log lines are read as they come. Reader threads drain its output,
/// so the service never blocks on a write.
pub struct Logged {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    readers: Vec<JoinHandle<()>>,
    /// Every line read so far, for failure messages and searches.
    pub seen: String,
}

impl Logged {
    /// Spawns `command` reading its stdout (stderr is left as the command set it).
    pub fn spawn(command: &mut Command) -> Result<Logged, String> {
        Logged::start(command.stdout(Stdio::piped()), false)
    }

    /// Spawns `command` reading its stdout and its stderr as one log.
    pub fn spawn_with_stderr(command: &mut Command) -> Result<Logged, String> {
        Logged::start(command.stdout(Stdio::piped()).stderr(Stdio::piped()), true)
    }

    fn start(command: &mut Command, stderr: bool) -> Result<Logged, String> {
        let mut child = command
            .spawn()
            .map_err(|err| format!("the binary does not start: {err}"))?;
        let (sender, lines) = mpsc::channel::<String>();
        let mut readers = Vec::new();
        let stdout = child.stdout.take().ok_or("stdout is not piped")?;
        readers.push(forward(stdout, sender.clone()));
        if stderr {
            let stderr = child.stderr.take().ok_or("stderr is not piped")?;
            readers.push(forward(stderr, sender));
        }
        Ok(Logged {
            child,
            lines,
            readers,
            seen: String::new(),
        })
    }

    /// The next line holding `needle`, waiting up to `wait` for it.
    pub fn wait_for(&mut self, needle: &str, wait: Duration) -> Result<String, String> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
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

    /// Sends SIGTERM, waits for the process to exit, and reads its output to the end into
    /// [`Logged::seen`]. Returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let exited = self.child.wait().is_ok_and(|status| status.success());
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        exited
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A thread that sends each line `from` writes until it closes.
fn forward(from: impl Read + Send + 'static, to: mpsc::Sender<String>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            let _ = to.send(line);
        }
    })
}

/// Starts `binary` with `env` (see [`command`]), reading its stdout and stderr as one log, and
/// waits up to [`START_WAIT`] for the log line holding `banner`; the service and the address
/// its `addr=` field names. Panics when it does not start.
pub fn serving(binary: &str, env: &[(&str, &str)], banner: &str) -> (Logged, String) {
    let mut logged = Logged::spawn_with_stderr(&mut command(binary, env))
        .unwrap_or_else(|err| panic!("{banner}: {err}"));
    match logged.address(banner, START_WAIT) {
        Ok(addr) => (logged, addr.to_string()),
        Err(err) => {
            logged.kill();
            panic!("{err}")
        }
    }
}

/// Asserts that `log` is a real capture at debug verbosity or finer: each of `request_ids` (the
/// `X-Request-Id`s a test sent) is in it, and so are the wrapper's `request received` lines.
/// Run before searching it for what must not be there, so that such a search can fail.
pub fn assert_traced(log: &str, request_ids: &[&str]) {
    for request_id in request_ids {
        assert!(
            log.contains(request_id),
            "{request_id} is not in the log:\n{log}"
        );
    }
    assert!(
        log.contains("request received"),
        "debug lines are missing:\n{log}"
    );
}

/// Spawns `command` (stderr dropped) and waits up to [`START_WAIT`] for the log line holding
/// `banner`; the address is its `addr=` field. The process is killed when it never says it.
pub fn listening(command: &mut Command, banner: &str) -> Result<(Child, SocketAddr), String> {
    let mut logged = Logged::spawn(command.stderr(Stdio::null()))?;
    match logged.address(banner, START_WAIT) {
        Ok(addr) => Ok((logged.child, addr)),
        Err(err) => {
            logged.kill();
            Err(err)
        }
    }
}

/// Polls `GET /health/ready` at `addr` until it answers 200, for up to [`START_WAIT`].
pub fn until_ready(addr: &str) -> Result<(), String> {
    let ready = crate::poll::eventually_blocking(START_WAIT, || {
        send(addr, "GET", "/health/ready", &[], b"").status == 200
    });
    if ready {
        Ok(())
    } else {
        Err(format!("{addr} never became ready"))
    }
}

/// How a finished process ended and what it wrote.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to its end.
pub fn run(command: &mut Command) -> anyhow::Result<Run> {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().context("the binary runs")?;
    Ok(Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// Runs `command`, which a bad setting must stop: exit code 64, one line on stderr naming
/// `variable`, and none of `secrets` on stderr or stdout. Returns the run, for what a caller
/// checks besides.
pub fn refuses(command: &mut Command, variable: &str, secrets: &[&str]) -> Result<Run, String> {
    let out = run(command).map_err(|err| format!("{variable}: {err:#}"))?;
    let fail = |what: &str| {
        Err(format!(
            "{variable}: {what}: {:?}\n{}",
            out.code, out.stderr
        ))
    };
    if out.code != Some(64) {
        return fail("exit code is not 64");
    }
    if out.stderr.trim_end().lines().count() != 1 || !out.stderr.contains(variable) {
        return fail("stderr is not one line naming the variable");
    }
    let leaks = |text: &str| secrets.iter().any(|secret| text.contains(secret));
    if leaks(&out.stderr) || leaks(&out.stdout) {
        return fail("a secret is printed");
    }
    Ok(out)
}

/// `check-config` (the last argument of `command`) refusing one bad setting: as [`refuses`],
/// and nothing on stdout.
pub fn config_refused(
    command: &mut Command,
    variable: &str,
    secrets: &[&str],
) -> anyhow::Result<()> {
    let out = refuses(command, variable, secrets).map_err(|err| anyhow!(err))?;
    ensure!(out.stdout.is_empty(), "{variable}: stdout {}", out.stdout);
    Ok(())
}

/// One `check-config` case: the settings added, then the variable the refusal must name.
pub type Refusal<'a> = (&'a [(&'a str, &'a str)], &'a str);

/// `check-config` of `binary` with `JWT_SECRET_KEY=key` and each case's settings (which win):
/// exit 64, one line on stderr naming the case's variable, nothing on stdout, and neither the
/// key nor any of `secrets` anywhere.
pub fn refuses_each(
    binary: &str,
    key: &str,
    cases: &[Refusal],
    secrets: &[&str],
) -> anyhow::Result<()> {
    let secrets: Vec<&str> = secrets.iter().copied().chain([key]).collect();
    for (settings, variable) in cases {
        let env: Vec<(&str, &str)> = [("JWT_SECRET_KEY", key)]
            .iter()
            .chain(*settings)
            .copied()
            .collect();
        config_refused(
            command(binary, &env).arg("check-config"),
            variable,
            &secrets,
        )?;
    }
    Ok(())
}

/// [`refuses_each`] for each kind of bad shared setting, which the issuer and the verifier
/// read through the same table and must report the same way.
pub fn refuses_bad_shared_settings(binary: &str, key: &str) -> anyhow::Result<()> {
    let (short, other) = (
        "short-secret-value-31-bytes-lon",
        "other-secret-value-0123456789abcdef",
    );
    let (keys, malformed, short_in_list) = (
        format!("a={key},b={other}"),
        format!("a:{key}"),
        format!("a={key},b={short}"),
    );
    let cases: &[Refusal] = &[
        (&[("JWT_LEEWAY_SECONDS", "soon")], "JWT_LEEWAY_SECONDS"),
        (
            &[("JWT_ACCESS_TOKEN_EXPIRE_HOURS", "0")],
            "JWT_ACCESS_TOKEN_EXPIRE_HOURS",
        ),
        (&[("MAX_BODY_BYTES", "-1")], "MAX_BODY_BYTES"),
        (&[("ENVIRONMENT", "staging")], "ENVIRONMENT"),
        (&[("LOG_LEVEL", "info,[")], "LOG_LEVEL"),
        (&[("LOG_FORMAT", "yaml")], "LOG_FORMAT"),
        (
            &[("NATS_URL", "http://events:nats-s3cret@nats:4222")],
            "NATS_URL",
        ),
        (
            &[("NATS_URL", "nats://events:nats-s3cret@nats:port")],
            "NATS_URL",
        ),
        (
            &[("NATS_URL", "nats://events:nats-s3cret@a:4222,nats://b:4222")],
            "NATS_URL",
        ),
        (&[("JWT_ALGORITHM", "none")], "JWT_ALGORITHM"),
        (&[("JWT_SECRET_KEY", "")], "JWT_SECRET_KEY"),
        (&[("JWT_SECRET_KEY", short)], "JWT_SECRET_KEY"),
        (&[("JWT_KEYS", &malformed)], "JWT_KEYS"),
        (&[("JWT_KEYS", &short_in_list)], "JWT_KEYS"),
        (
            &[("JWT_KEYS", &keys), ("JWT_ACTIVE_KID", "c")],
            "JWT_ACTIVE_KID",
        ),
    ];
    refuses_each(binary, key, cases, &[short, other, "nats-s3cret"])
}

/// `check-config` accepting its settings: exit code 0, `configuration OK` first, each of
/// `expected` on stdout, and none of `secrets` on stdout or stderr.
pub fn config_ok(out: &Run, expected: &[&str], secrets: &[&str]) -> anyhow::Result<()> {
    ensure!(out.code == Some(0), "{:?}: {}", out.code, out.stderr);
    ensure!(
        out.stdout.lines().next() == Some("configuration OK"),
        "{}",
        out.stdout
    );
    for expected in expected {
        ensure!(out.stdout.contains(expected), "{expected}:\n{}", out.stdout);
    }
    for secret in secrets {
        ensure!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "a secret is printed:\n{}{}",
            out.stdout,
            out.stderr
        );
    }
    Ok(())
}

/// `help`, `--help` and `-h` of `binary`, the service `S`: exit 0, each of `commands`, none of
/// `absent`, and for each variable `S` reads one line with its default and meaning, ending in
/// `(secret)` for a secret.
pub fn help_lists<S: common::cli::Service>(
    binary: &str,
    commands: &[&str],
    absent: &[&str],
) -> anyhow::Result<()> {
    let vars = common::cli::vars::<S>();
    for flag in ["help", "--help", "-h"] {
        let out = run(command(binary, &[]).arg(flag))?;
        ensure!(out.code == Some(0), "{flag}: {}", out.stderr);
        for command in commands {
            ensure!(
                out.stdout.contains(command),
                "{flag}: {command} missing:\n{}",
                out.stdout
            );
        }
        for absent in absent {
            ensure!(!out.stdout.contains(absent), "{flag}: lists {absent}");
        }
        ensure!(!vars.is_empty(), "no variable to look for");
        for var in &vars {
            let line = help_line(&out.stdout, var.name).context(flag)?;
            let listed = line.contains(var.default()) && line.contains(var.meaning);
            ensure!(
                listed && line.ends_with("(secret)") == var.secret(),
                "{flag}: {line}"
            );
        }
    }
    Ok(())
}

/// The line of a `help` output that describes the setting `name` (its first word).
pub fn help_line<'a>(help: &'a str, name: &str) -> anyhow::Result<&'a str> {
    help.lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .ok_or_else(|| anyhow!("no line for {name}"))
}

/// `command healthcheck FLAGS` against `addr`, given in the setting `addr_var`; its exit code.
pub fn healthcheck(
    command: &mut Command,
    addr_var: &str,
    addr: SocketAddr,
    flags: &[&str],
) -> anyhow::Result<Option<i32>> {
    let addr = addr.to_string();
    let command = command.env(addr_var, addr).arg("healthcheck").args(flags);
    Ok(run(command)?.code)
}

/// A response's status and body.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// One HTTP/1.1 request on its own connection; status 0 when the connection fails.
pub fn send(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let exchange = || -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        Ok(response)
    };
    let response = String::from_utf8_lossy(&exchange().unwrap_or_default()).into_owned();
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
