//! Running wrk and reading its report.

use std::path::Path;

use anyhow::{bail, Context};

/// One wrk run's figures.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Responses wrk completed.
    pub requests: u64,
    /// Responses with a status of 400 or above (wrk's "Non-2xx or 3xx responses").
    pub non_2xx: u64,
}

pub struct Plan<'a> {
    pub url: &'a str,
    pub seconds: u32,
    pub connections: u32,
    pub threads: u32,
    pub script: Option<&'a Path>,
    pub headers: &'a [String],
    /// The CPUs wrk runs on (a taskset list), or any.
    pub cpus: Option<&'a str>,
}

pub fn run(plan: &Plan<'_>) -> Result<Load, anyhow::Error> {
    let mut command = crate::servers::on_cpus(plan.cpus, "wrk");
    command
        .arg(format!("-t{}", plan.threads))
        .arg(format!("-c{}", plan.connections))
        .arg(format!("-d{}s", plan.seconds))
        .arg("--latency");
    for header in plan.headers {
        command.arg("-H").arg(header);
    }
    if let Some(script) = plan.script {
        command.arg("-s").arg(script);
    }
    command.arg(plan.url);
    let output = command
        .output()
        .context("cannot run wrk (install it: apt-get install wrk)")?;
    if !output.status.success() {
        bail!("wrk failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    parse(&String::from_utf8_lossy(&output.stdout))
}

fn parse(report: &str) -> Result<Load, anyhow::Error> {
    let mut load = Load {
        requests_per_second: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        requests: 0,
        non_2xx: 0,
    };
    for line in report.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some(count), Some("requests")) => load.requests = count.parse()?,
            (Some("Requests/sec:"), Some(value)) => load.requests_per_second = value.parse()?,
            (Some("50%"), Some(value)) => load.p50_ms = milliseconds(value)?,
            (Some("99%"), Some(value)) => load.p99_ms = milliseconds(value)?,
            (Some("Non-2xx"), _) => {
                load.non_2xx = line.rsplit(' ').next().unwrap_or("0").parse()?;
            }
            _ => {}
        }
    }
    if load.requests_per_second == 0.0 {
        bail!("no Requests/sec in wrk's report:\n{report}");
    }
    Ok(load)
}

fn milliseconds(value: &str) -> Result<f64, anyhow::Error> {
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .context("latency without a unit")?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse()?;
    Ok(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => bail!("unknown latency unit {unit}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_throughput_latency_and_errors() {
        let report = "Running 1s test @ http://127.0.0.1:1/\n  Latency Distribution\n     50%  412.00us\n     75%  1.02ms\n     90%    1.50ms\n     99%    2.10ms\n  1000 requests in 1.00s, 1.00MB read\n  Non-2xx or 3xx responses: 1000\nRequests/sec:  41234.56\nTransfer/sec:      1.00MB\n";
        let load = parse(report).unwrap();
        assert!((load.requests_per_second - 41_234.56).abs() < 1e-6);
        assert!((load.p50_ms - 0.412).abs() < 1e-9);
        assert!((load.p99_ms - 2.1).abs() < 1e-9);
        assert_eq!(load.requests, 1000);
        assert_eq!(load.non_2xx, 1000);
    }
}
