//! Each fuzz target for a fixed number of inputs, from a fixed seed and from a fresh one: no
//! panic, and every outcome agrees with the model. The seeds are printed, so a failure can be
//! replayed with `cargo run -p fuzz -- <target> --seed <seed>`; its input is kept as well.

use std::time::{SystemTime, UNIX_EPOCH};

use fuzz::{run_count, Target};

/// Enough inputs to reach every branch of both generators, few enough for a debug build.
const CASES: u64 = 20_000;

fn fresh_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(7, |d| d.as_secs())
}

fn bounded(target: Target) {
    for seed in [0x5eed, fresh_seed()] {
        eprintln!("{target:?}: seed {seed}");
        let report = run_count(target, CASES, seed, 5);
        assert_eq!(
            report.executions, CASES,
            "{target:?} seed {seed}: {report:?}"
        );
        assert_eq!(report.findings, 0, "{target:?} seed {seed}: {report:?}");
    }
}

#[test]
fn the_token_target_finds_nothing() {
    bounded(Target::Token);
}

#[test]
fn the_body_target_finds_nothing() {
    bounded(Target::Body);
}
