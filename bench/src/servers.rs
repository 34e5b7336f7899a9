//! The servers under load, each run as a child process of the bench.

use std::convert::Infallible;
use std::ffi::OsStr;
use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The baseline: hyper's hello-world server answering every request with an empty 200.
pub async fn serve_bare(args: &[String]) -> Result<(), anyhow::Error> {
    let addr = args.first().context("serve-bare needs an address")?;
    let listener = TcpListener::bind(addr.as_str()).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The real verifier, configured from the environment the bench passes.
pub async fn serve_verifier() -> Result<(), anyhow::Error> {
    let config = common::cli::from_env::<verifier::config::VerifierConfig>()?;
    common::telemetry::init(&config.common.shared.service.log_level);
    let app = verifier::app::App::build(config).await?;
    app.run_until(std::future::pending()).await;
    Ok(())
}

/// The real issuer, configured from the environment the bench passes.
pub async fn serve_issuer() -> Result<(), anyhow::Error> {
    let config = common::cli::from_env::<issuer::config::IssuerConfig>()?;
    common::telemetry::init(&config.common.shared.service.log_level);
    let app = issuer::app::App::build(config).await?;
    app.run_until(std::future::pending()).await;
    Ok(())
}

/// `program`, run on the CPUs `cpus` (a `taskset` list such as `0` or `0,1`) when given. taskset
/// executes the program in its own place, so the child's id is the program's.
pub fn on_cpus(cpus: Option<&str>, program: impl AsRef<OsStr>) -> Command {
    match cpus {
        Some(cpus) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(cpus).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// A free local address to listen on.
pub fn free_addr() -> Result<String, anyhow::Error> {
    let port = StdListener::bind("127.0.0.1:0")?.local_addr()?.port();
    Ok(format!("127.0.0.1:{port}"))
}

/// A child server, stopped on drop: killed, or for one that has children of its own (a
/// multi-worker Python server), asked to stop with SIGTERM so that it stops them too.
pub struct Server {
    child: Child,
    pub addr: String,
    graceful: bool,
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.graceful {
            let asked = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while asked.is_ok() && Instant::now() < deadline {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `mode` on a free local port, given as the variable `addr_var` (or as the first
    /// argument when there is none), with `env` added, and waits until it listens.
    pub fn start(
        mode: &str,
        addr_var: Option<&str>,
        env: &[(&str, String)],
    ) -> Result<Server, anyhow::Error> {
        Server::start_on(None, mode, &[], addr_var, env)
    }

    /// [`Server::start`] on the CPUs `cpus`, with `args` after the mode.
    pub fn start_on(
        cpus: Option<&str>,
        mode: &str,
        args: &[&str],
        addr_var: Option<&str>,
        env: &[(&str, String)],
    ) -> Result<Server, anyhow::Error> {
        let addr = free_addr()?;
        let mut command = on_cpus(cpus, std::env::current_exe()?);
        command.arg(mode).args(args);
        match addr_var {
            Some(var) => command.env(var, &addr),
            None => command.arg(&addr),
        };
        command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        Server::spawn(command, addr, mode, false)
    }

    /// Runs `command`, whose server listens on `addr`, and waits until it does. `graceful`:
    /// stop it with SIGTERM (see [`Server`]).
    pub fn spawn(
        mut command: Command,
        addr: String,
        what: &str,
        graceful: bool,
    ) -> Result<Server, anyhow::Error> {
        command.stdout(Stdio::null()).stderr(Stdio::inherit());
        let mut server = Server {
            child: command
                .spawn()
                .with_context(|| format!("cannot start {what}"))?,
            addr,
            graceful,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(&server.addr).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!("{what} exited ({status}) before listening");
            }
            if Instant::now() > deadline {
                bail!("{what} did not start listening");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// Peak resident set size, from /proc.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|line| line.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// CPU time the process's threads have used so far, by thread (see [`CpuSnapshot`]).
    pub fn cpu_time(&self) -> Result<CpuSnapshot, anyhow::Error> {
        CpuSnapshot::of(self.child.id())
    }
}

/// The CPU time each thread of a process has used so far, from
/// `/proc/<pid>/task/*/schedstat` (nanoseconds, unlike the 10 ms ticks of `/proc/<pid>/stat`).
/// Kept by thread so that a thread ending between two snapshots (a blocking-pool thread gone
/// idle) does not make the difference negative.
#[derive(Debug, Default)]
pub struct CpuSnapshot {
    threads: std::collections::HashMap<u64, u64>,
}

impl CpuSnapshot {
    pub fn of(pid: u32) -> Result<CpuSnapshot, anyhow::Error> {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
            .context("cannot read the process's threads from /proc")?;
        let mut threads = std::collections::HashMap::new();
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else {
                continue;
            };
            let on_cpu = stat.split_whitespace().next().and_then(|n| n.parse().ok());
            threads.insert(tid, on_cpu.unwrap_or(0));
        }
        Ok(CpuSnapshot { threads })
    }

    /// CPU time used between `earlier` and this snapshot by the threads alive now.
    pub fn since(&self, earlier: &CpuSnapshot) -> Duration {
        let nanos = self
            .threads
            .iter()
            .map(|(tid, now)| now.saturating_sub(earlier.threads.get(tid).copied().unwrap_or(0)))
            .sum();
        Duration::from_nanos(nanos)
    }

    fn total(&self) -> Duration {
        Duration::from_nanos(self.threads.values().sum())
    }
}

/// CPU time the processes named `name` (every Postgres backend, say) have used so far: whoever
/// else uses them on this machine is counted too.
pub fn cpu_time_of(name: &str) -> Duration {
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    processes
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .filter_map(|pid| CpuSnapshot::of(pid).ok())
        .map(|snapshot| snapshot.total())
        .sum()
}
