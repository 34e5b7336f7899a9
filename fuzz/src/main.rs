//! `fuzz <token|body> [--seconds N] [--seed S]`: runs one target, prints the seed first, then
//! executions and findings, keeps each finding's input under `fuzz/crashes/`, and exits 1 when
//! there was a finding. `fuzz <token|body> --replay FILE` runs one kept input again.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const USAGE: &str =
    "usage: fuzz <token|body> [--seconds N] [--seed S] | fuzz <token|body> --replay FILE";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(target) = args.first().and_then(|name| fuzz::Target::parse(name)) else {
        eprintln!("{USAGE}");
        return ExitCode::from(64);
    };
    let value = |name: &str| {
        args.windows(2)
            .find(|pair| pair[0] == name)
            .map(|pair| pair[1].as_str())
    };
    if let Some(file) = value("--replay") {
        return replay(target, Path::new(file));
    }
    if args.iter().any(|a| a == "--replay") {
        eprintln!("--replay needs a file; {USAGE}");
        return ExitCode::from(64);
    }
    let number = |name: &str| value(name).and_then(|v| v.parse::<u64>().ok());
    let seconds = number("--seconds").unwrap_or(10);
    let seed = number("--seed").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    // First, so the seed is known even if the run is cut short.
    println!(
        "target={} seed={seed} (repeat with --seed {seed})",
        target.name()
    );
    let report = fuzz::run(target, Duration::from_secs(seconds), seed, 20);
    println!(
        "target={} seed={seed} seconds={:.1} executions={} per_second={} findings={}",
        target.name(),
        report.elapsed.as_secs_f64(),
        report.executions,
        report.per_second(),
        report.findings
    );
    if report.findings == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn replay(target: fuzz::Target, file: &Path) -> ExitCode {
    let input = match std::fs::read(file) {
        Ok(input) => input,
        Err(err) => {
            eprintln!("--replay {}: {err}", file.display());
            return ExitCode::from(66);
        }
    };
    match fuzz::replay(target, &input) {
        Ok(()) => {
            println!(
                "replay target={} file={} bytes={}: no finding",
                target.name(),
                file.display(),
                input.len()
            );
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!(
                "replay target={} file={} bytes={}: finding: {why}",
                target.name(),
                file.display(),
                input.len()
            );
            ExitCode::FAILURE
        }
    }
}
