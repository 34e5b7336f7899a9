//! Each fuzz target for a few seconds, from a fixed seed and from a fresh one: no panic, and
//! every outcome agrees with the model.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuzz::{run, Target};

fn fresh_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(7, |d| d.as_secs())
}

fn bounded(target: Target) {
    for seed in [0x5eed, fresh_seed()] {
        let report = run(target, Duration::from_secs(3), seed, 5);
        assert!(report.executions > 1000, "{target:?}: {report:?}");
        assert_eq!(report.findings, 0, "{target:?} seed {seed:#x}: {report:?}");
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
