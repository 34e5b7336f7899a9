//! Load benchmarks, each printing its figures next to a baseline measured in the same run.
//!
//! `cargo run --release -p bench` runs the verifier, issuer and outbox modes below one after
//! another, with their defaults: every headline figure of docs/PERFORMANCE.md.
//!
//! `cargo run --release -p bench -- verifier [--seconds N] [--connections N] [--rounds N]
//! [--unpinned] [--seed-dir DIR]` starts a bare hyper server and the verifier as child processes
//! of this program, each on core 0, loads them with wrk on core 1 in alternating rounds, and
//! prints the median ratio forward-auth / bare, both p99s, the verifier's peak RSS, and
//! validate-token against the seed stack (FastAPI + python-jose) on both cores.
//!
//! `cargo run --release -p bench -- ladder [--seconds N] [--path forward-auth|validate-token]`
//! loads, the same way, each step from
//! bare hyper to the real verifier, and prints each step's requests/s and CPU per request.
//!
//! `cargo run --release -p bench -- issuer [--sessions N] [--seconds N] [--users N]` prints the
//! issuer's logins/s and refreshes/s with p50/p99, one argon2id hash with pooled and with fresh
//! memory, and the logout-all figure.
//!
//! `cargo run --release -p bench -- outbox [--backlog N] [--rate N] [--seconds N]` measures the
//! outbox relay's drain rate against JetStream alone, and the latency from a registration's
//! response to its event at a subscriber.
//!
//! `cargo run --release -p bench -- bodies [--rounds N] [--requests N]` starts the issuer and
//! the verifier as child processes and prints the server CPU per request of a 60 KiB body of
//! many unknown keys and of one long value, at login and validate-token, with their ratio.
//! `cargo run --release -p bench -- timing [--rounds N]` compares the issuer's answer times for
//! a registered and an unknown email, at login and at password-reset request.
//!
//! `cargo run --release -p bench -- logout-all [--sessions N]` measures `POST /logout-all` for a
//! user with N live sessions (default 1 000) and the time until a running verifier refuses all
//! of their access tokens.

mod bodies_bench;
mod flags;
mod issuer_bench;
mod ladder;
mod logout_all_bench;
mod outbox_bench;
mod servers;
mod stats;
mod timing_bench;
mod verifier_bench;
mod wrk;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None => everything().await,
        Some("verifier") => verifier_bench::run(&args[1..]).await,
        Some("ladder") => ladder::run(&args[1..]).await,
        Some("issuer") => issuer_bench::run(&args[1..]).await,
        Some("outbox") => outbox_bench::run(&args[1..]).await,
        Some("bodies") => bodies_bench::run(&args[1..]).await,
        Some("timing") => timing_bench::run(&args[1..]).await,
        Some("logout-all") => logout_all_bench::run(&args[1..]).await,
        Some("codec") => {
            verifier_bench::codec();
            Ok(())
        }
        Some("serve-bare") => servers::serve_bare(&args[1..]).await,
        Some("serve-step") => ladder::serve_step(&args[1..]).await,
        Some("serve-verifier") => servers::serve_verifier().await,
        Some("serve-issuer") => servers::serve_issuer().await,
        _ => Err(anyhow::anyhow!(
            "usage: bench verifier [--seconds N] [--connections N] [--rounds N] [--unpinned] [--seed-dir DIR] | bench ladder [--seconds N] [--path forward-auth|validate-token] | bench issuer [--sessions N] [--seconds N] [--users N] | bench outbox [--backlog N] [--rate N] [--seconds N] | bench bodies [--rounds N] [--requests N] | bench logout-all [--sessions N] | bench timing [--rounds N] | bench codec"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// With no mode: every figure of docs/PERFORMANCE.md's headline tables, with their defaults:
/// the verifier (forward-auth and validate-token), the issuer (logins, refreshes), the outbox.
async fn everything() -> Result<(), anyhow::Error> {
    verifier_bench::run(&[]).await?;
    println!();
    issuer_bench::run(&[]).await?;
    println!();
    outbox_bench::run(&[]).await
}
