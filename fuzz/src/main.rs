//! `fuzz <token|body> [--seconds N] [--seed S]`: runs one target, prints executions and
//! findings, and exits 1 when there was a finding.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(target) = args.first().and_then(|name| fuzz::Target::parse(name)) else {
        eprintln!("usage: fuzz <token|body> [--seconds N] [--seed S]");
        return ExitCode::from(64);
    };
    let flag = |name: &str| {
        args.windows(2)
            .find(|pair| pair[0] == name)
            .and_then(|pair| pair[1].parse::<u64>().ok())
    };
    let seconds = flag("--seconds").unwrap_or(10);
    let seed = flag("--seed").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let report = fuzz::run(target, Duration::from_secs(seconds), seed, 20);
    println!(
        "target={} seed={seed} seconds={:.1} executions={} per_second={} findings={}",
        args[0],
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
