//! A fuzzing loop that runs on the stable toolchain: each target generates random, structured
//! and mutated inputs from a seeded generator, feeds them to the code under test inside
//! `catch_unwind`, and checks the outcome against an independent model of the contract.
//!
//! Targets: [`token`] (access and refresh token validation) and [`body`] (the JSON object
//! decoding every request body goes through). A finding is a panic or an outcome the model
//! disagrees with; each is printed with the input that caused it.

pub mod body;
pub mod rng;
pub mod token;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

pub use rng::Rng;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub executions: u64,
    pub findings: u64,
    pub elapsed: Duration,
}

impl Report {
    pub fn per_second(&self) -> u64 {
        let millis = self.elapsed.as_millis().max(1);
        u64::try_from(u128::from(self.executions) * 1000 / millis).unwrap_or(u64::MAX)
    }
}

/// The fuzz targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Token,
    Body,
}

impl Target {
    pub fn parse(name: &str) -> Option<Target> {
        match name {
            "token" => Some(Target::Token),
            "body" => Some(Target::Body),
            _ => None,
        }
    }
}

/// One input and whether the model agrees with what the code did; `Err` describes a finding.
pub type Outcome = Result<(), String>;

/// Generates one input, runs it, and judges the outcome.
type OneInput = dyn FnMut(&mut Rng) -> (Vec<u8>, Outcome);

/// Runs `target` for `duration` from `seed`; findings are printed to stderr as they happen.
/// Stops early once `max_findings` have been seen.
pub fn run(target: Target, duration: Duration, seed: u64, max_findings: u64) -> Report {
    let mut rng = Rng::new(seed);
    let mut report = Report::default();
    let start = Instant::now();
    let mut one: Box<OneInput> = match target {
        Target::Token => {
            let mut fuzzer = token::TokenFuzzer::new();
            Box::new(move |rng| fuzzer.one(rng))
        }
        Target::Body => Box::new(body::one),
    };
    while start.elapsed() < duration && report.findings < max_findings {
        // Check the clock every few hundred inputs, not on every one.
        for _ in 0..256 {
            let case_seed = rng.next_u64();
            let mut case_rng = Rng::new(case_seed);
            let outcome = catch_unwind(AssertUnwindSafe(|| one(&mut case_rng)));
            report.executions += 1;
            let finding = match outcome {
                Ok((_, Ok(()))) => None,
                Ok((input, Err(why))) => Some((input, why)),
                Err(_) => Some((Vec::new(), "panicked".to_owned())),
            };
            if let Some((input, why)) = finding {
                report.findings += 1;
                eprintln!(
                    "finding #{} (case seed {case_seed:#x}): {why}\n  input: {:?}",
                    report.findings,
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }
    report.elapsed = start.elapsed();
    report
}
