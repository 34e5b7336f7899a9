//! What bodies in flight cost the verifier process, measured on the binary: 40 connections each
//! holding a chunked body of 60,000 one-byte chunks that never ends. Each body is copied into
//! one buffer as it arrives, and all of them are held against MAX_BODY_BYTES_IN_FLIGHT, so the
//! resident set grows by no more than that budget plus a fixed allowance for hyper's
//! per-connection buffers, the connections' tasks and the allocator's slack. (Kept as the
//! frames hyper hands over, the same bodies used to cost ~90 MiB.)

// Test code: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

use test_support::binary;
use test_support::nats::nats_url;

const KEY: &str = "verifier-body-memory-key-0123456789abcdef";
const CONNECTIONS: usize = 40;
const CHUNKS: usize = 60_000;
/// MAX_BODY_BYTES_IN_FLIGHT for the test: room for all 40 bodies (40 x 64 KiB = 2.5 MiB), so
/// none is refused and every one of them is held while the memory is measured.
const BUDGET_BYTES: usize = 4 << 20;
/// Growth allowed beyond the budget: per connection, hyper's read buffer (at most
/// MAX_HEADER_BYTES, 32 KiB) and write buffer, the connection's task and socket state, about
/// 100 KiB in all; 40 of them are 4 MiB, and the allocator's per-thread arenas and slack get
/// as much again.
const ALLOWANCE_BYTES: usize = 8 << 20;

struct Verifier(Child);

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `kB` field of `/proc/<pid>/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number of kB");
    kib * 1024
}

/// Bytes on their way to the server on `port` that it has not read yet: those unacknowledged
/// on the clients' connections plus those waiting in the server's receive queues
/// (`/proc/net/tcp`, the `tx_queue:rx_queue` column of established IPv4 sockets).
fn unread_bytes(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let port_of = |address: &str| {
        address
            .rsplit(':')
            .next()
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
    };
    let queue = |queues: &str, index: usize| {
        queues
            .split(':')
            .nth(index)
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .unwrap_or(0)
    };
    let mut unread = 0;
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, local, remote, state, queues, ..] = fields[..] else {
            continue;
        };
        if state != "01" {
            continue;
        }
        if port_of(local) == Some(port) {
            unread += queue(queues, 1);
        } else if port_of(remote) == Some(port) {
            unread += queue(queues, 0);
        }
    }
    unread
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    stream
}

fn status_of(response: &[u8]) -> String {
    String::from_utf8_lossy(response)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn one_byte_chunks_cost_no_more_than_the_budget_plus_a_fixed_allowance() {
    let budget = BUDGET_BYTES.to_string();
    // The tests' NATS, with a stream of its own that does not exist: the replay is complete at
    // once and the verifier is ready (with NATS unreachable it would refuse every token).
    let nats = nats_url();
    let stream = format!("BODYMEM_{}", uuid::Uuid::new_v4().simple());
    let env = [
        ("JWT_SECRET_KEY", KEY),
        ("VERIFIER_ADDR", "127.0.0.1:0"),
        ("NATS_URL", nats.as_str()),
        ("NATS_STREAM", stream.as_str()),
        ("LOG_LEVEL", "warn,verifier=info"),
        ("MAX_BODY_BYTES_IN_FLIGHT", budget.as_str()),
        // The attack must not be cut short by the body timeout on a busy machine.
        ("BODY_READ_TIMEOUT_SECONDS", "600"),
    ];
    let mut command = binary::command(env!("CARGO_BIN_EXE_verifier"), &env);
    let (child, addr) = binary::listening(&mut command, "verifier listening").expect("starts");
    let verifier = Verifier(child);
    let pid = verifier.0.id();
    let addr_text = addr.to_string();
    binary::until_ready(&addr_text).unwrap_or_else(|err| panic!("{err}"));
    // Warm up: the runtime's threads and first allocations are part of the baseline.
    for _ in 0..3 {
        let reply = binary::send(
            &addr_text,
            "POST",
            "/api/v1/auth/validate-token",
            &[("Content-Type", "application/json")],
            br#"{"token":"x"}"#,
        );
        assert_eq!(reply.status, 401, "{}", reply.body);
    }
    let before = status_bytes(pid, "VmRSS:");

    let head = format!(
        "POST /api/v1/auth/validate-token HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let chunks = "1\r\nx\r\n".repeat(CHUNKS);
    let mut streams: Vec<TcpStream> = (0..CONNECTIONS).map(|_| connect(addr)).collect();
    for stream in &mut streams {
        stream.write_all(head.as_bytes()).expect("head");
        stream.write_all(chunks.as_bytes()).expect("chunks");
    }
    // Wait until the verifier has read every byte sent: then it holds all 40 bodies.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let unread = unread_bytes(addr.port());
        if unread == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the verifier left {unread} bytes unread"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let peak = status_bytes(pid, "VmHWM:");
    let now = status_bytes(pid, "VmRSS:");
    let grown = peak.saturating_sub(before);
    eprintln!(
        "VmRSS {} KiB before, {} KiB with the bodies held; VmHWM {} KiB",
        before / 1024,
        now / 1024,
        peak / 1024
    );
    assert!(
        grown <= BUDGET_BYTES + ALLOWANCE_BYTES,
        "40 bodies of 60,000 one-byte chunks grew the verifier from {} KiB to a peak of {} KiB \
         (now {} KiB): {} KiB, over the budget of {} KiB plus {} KiB",
        before / 1024,
        peak / 1024,
        now / 1024,
        grown / 1024,
        BUDGET_BYTES / 1024,
        ALLOWANCE_BYTES / 1024
    );

    // Still answering while the bodies are held; each body, ended, is judged on its content.
    let health = binary::send(&addr_text, "GET", "/health", &[], b"");
    assert_eq!(health.status, 200, "{}", health.body);
    for stream in &mut streams {
        stream.write_all(b"0\r\n\r\n").expect("last chunk");
        let mut response = [0u8; 4096];
        let n = stream.read(&mut response).expect("answer");
        assert_eq!(status_of(&response[..n]), "400");
    }
}
