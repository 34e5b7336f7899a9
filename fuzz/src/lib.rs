//! A fuzzing loop that runs on the stable toolchain: each target generates random, structured
//! and mutated inputs from a seeded generator, feeds them to the code under test inside
//! `catch_unwind`, and checks the outcome against an independent model of the contract.
//!
//! Targets: [`token`] (access and refresh token validation) and [`body`] (the JSON object
//! decoding every request body goes through). A finding is a panic or an outcome the model
//! disagrees with; each is printed with the run's seed and the case seed, and its input is
//! written to `fuzz/crashes/<target>-<case seed>` so that `--replay` can run it again.

pub mod body;
pub mod rng;
pub mod token;

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
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
    pub fn name(self) -> &'static str {
        match self {
            Target::Token => "token",
            Target::Body => "body",
        }
    }

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

/// One generated input and the run that judges it. The two are apart so that the input is in
/// hand before the code under test runs: when that run panics, the input can still be kept.
pub struct Case<'a> {
    pub input: Vec<u8>,
    judge: Box<dyn FnOnce() -> Outcome + 'a>,
}

impl<'a> Case<'a> {
    pub fn new(input: Vec<u8>, judge: impl FnOnce() -> Outcome + 'a) -> Case<'a> {
        Case {
            input,
            judge: Box::new(judge),
        }
    }

    /// Runs the judgement; a panic is a finding like any other.
    pub fn judge(self) -> Outcome {
        caught(self.judge)
    }
}

/// `f`'s outcome, or a finding naming the panic's message.
pub fn caught(f: impl FnOnce() -> Outcome) -> Outcome {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format!("panicked: {message}"))
    })
}

/// Where findings are kept by default: `fuzz/crashes/`.
pub fn default_crash_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("crashes")
}

/// Writes a finding's input to `<dir>/<target>-<case seed in hex>`, exactly as it was fed to
/// the code under test, and returns the path; `fuzz <target> --replay <path>` runs it again.
pub fn keep(dir: &Path, target: Target, case_seed: u64, input: &[u8]) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}-{case_seed:016x}", target.name()));
    std::fs::write(&path, input)?;
    Ok(path)
}

/// Runs a kept input through `target` again, with the judgement the bytes alone allow.
pub fn replay(target: Target, input: &[u8]) -> Outcome {
    match target {
        Target::Token => {
            let fuzzer = token::TokenFuzzer::new();
            caught(|| fuzzer.replay(input))
        }
        Target::Body => caught(|| body::replay(input)),
    }
}

/// Runs `target` for `duration` from `seed`, keeping findings in [`default_crash_dir`].
pub fn run(target: Target, duration: Duration, seed: u64, max_findings: u64) -> Report {
    run_keeping(target, duration, seed, max_findings, &default_crash_dir())
}

/// Runs `target` for `duration` from `seed`; findings are printed to stderr as they happen and
/// their inputs written to `crash_dir`. Stops early once `max_findings` have been seen.
pub fn run_keeping(
    target: Target,
    duration: Duration,
    seed: u64,
    max_findings: u64,
    crash_dir: &Path,
) -> Report {
    run_limited(target, Limit::time(duration), seed, max_findings, crash_dir)
}

/// Runs exactly `cases` inputs of `target` from `seed` (fewer if `max_findings` are seen
/// first): the same inputs on every machine, however fast, which is what a test wants.
pub fn run_count(target: Target, cases: u64, seed: u64, max_findings: u64) -> Report {
    let limit = Limit {
        duration: Duration::MAX,
        cases,
    };
    run_limited(target, limit, seed, max_findings, &default_crash_dir())
}

/// When a run stops: after `duration` or after `cases` inputs, whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub duration: Duration,
    pub cases: u64,
}

impl Limit {
    /// For `duration`, however many inputs that is.
    pub fn time(duration: Duration) -> Limit {
        Limit {
            duration,
            cases: u64::MAX,
        }
    }
}

fn run_limited(
    target: Target,
    limit: Limit,
    seed: u64,
    max_findings: u64,
    crash_dir: &Path,
) -> Report {
    match target {
        Target::Token => {
            let fuzzer = token::TokenFuzzer::new();
            run_cases_within(
                target,
                |rng| fuzzer.case(rng),
                limit,
                seed,
                max_findings,
                crash_dir,
            )
        }
        Target::Body => run_cases_within(target, body::case, limit, seed, max_findings, crash_dir),
    }
}

/// The loop itself, over any generator of cases (the tests give it one that panics).
pub fn run_cases<'a>(
    target: Target,
    generate: impl FnMut(&mut Rng) -> Case<'a>,
    duration: Duration,
    seed: u64,
    max_findings: u64,
    crash_dir: &Path,
) -> Report {
    let limit = Limit::time(duration);
    run_cases_within(target, generate, limit, seed, max_findings, crash_dir)
}

fn run_cases_within<'a>(
    target: Target,
    mut generate: impl FnMut(&mut Rng) -> Case<'a>,
    limit: Limit,
    seed: u64,
    max_findings: u64,
    crash_dir: &Path,
) -> Report {
    let mut rng = Rng::new(seed);
    let mut report = Report::default();
    let start = Instant::now();
    while start.elapsed() < limit.duration
        && report.findings < max_findings
        && report.executions < limit.cases
    {
        // Check the clock every few hundred inputs, not on every one.
        for _ in 0..256.min(limit.cases - report.executions) {
            let case_seed = rng.next_u64();
            let mut case_rng = Rng::new(case_seed);
            let (input, outcome) = match catch_unwind(AssertUnwindSafe(|| generate(&mut case_rng)))
            {
                Ok(case) => {
                    let input = case.input.clone();
                    (input, case.judge())
                }
                Err(_) => (Vec::new(), Err("the generator panicked".to_owned())),
            };
            report.executions += 1;
            let Err(why) = outcome else { continue };
            report.findings += 1;
            let kept = match keep(crash_dir, target, case_seed, &input) {
                Ok(path) => format!("kept in {}", path.display()),
                Err(err) => format!("could not be kept: {err}"),
            };
            eprintln!(
                "finding #{} (seed {seed}, case seed {case_seed:#x}): {why}\n  input ({} bytes, {kept}): {:?}",
                report.findings,
                input.len(),
                String::from_utf8_lossy(&input).chars().take(200).collect::<String>()
            );
            if report.findings >= max_findings {
                break;
            }
        }
    }
    report.elapsed = start.elapsed();
    report
}
