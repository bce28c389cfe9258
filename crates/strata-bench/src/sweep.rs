//! A sweep: one closed-loop run per concurrency level (each with its own warm-up), with the
//! copies an emulated imported model runs on read from `/_sim/stats` during each measured part,
//! reported as one row per level: P95 latency, requests per minute, copies.
//!
//! When the emulator's time is scaled (`time_scale` 0.01: a real second passes in 10 ms), the
//! table also shows the figures scaled back to real time: latency ÷ scale, rate × scale.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use serde::Serialize;

use crate::client::{pooled, Pooled};
use crate::report::Report;
use crate::run::{run, Load, RunError, RunOptions};
use crate::target::{Target, TargetError};

/// How often the copies are read during a step.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// Reads how many copies an imported model runs on from an emulator's stats
/// (`imported_models[] | select(.arn == ARN) | .copies`).
#[derive(Debug, Clone)]
pub struct CopiesProbe {
    stats: Target,
    arn: String,
}

impl CopiesProbe {
    /// `stats_url`: e.g. `http://127.0.0.1:4566/_sim/stats`; `arn`: the imported model's ARN.
    pub fn new(stats_url: &str, arn: &str) -> Result<Self, TargetError> {
        Ok(CopiesProbe {
            stats: Target::new("GET", stats_url, &[], Bytes::new())?,
            arn: arn.to_string(),
        })
    }

    /// The copies now, if the stats answer and name the model.
    pub(crate) async fn read(&self, client: &Pooled) -> Option<u32> {
        let response = client.request(self.stats.request()).await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body = response.into_body().collect().await.ok()?.to_bytes();
        copies_in(&body, &self.arn)
    }
}

fn copies_in(stats: &[u8], arn: &str) -> Option<u32> {
    let stats: serde_json::Value = serde_json::from_slice(stats).ok()?;
    stats
        .get("imported_models")?
        .as_array()?
        .iter()
        .find(|m| m.get("arn").and_then(|a| a.as_str()) == Some(arn))?
        .get("copies")?
        .as_u64()
        .and_then(|c| u32::try_from(c).ok())
}

/// One level of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub concurrency: usize,
    /// The most copies seen during the measured part (with a probe).
    pub copies: Option<u32>,
    pub report: Report,
}

impl Step {
    pub fn p95_seconds(&self) -> f64 {
        self.report.latency_ms.p95 / 1000.0
    }

    pub fn requests_per_minute(&self) -> f64 {
        self.report.throughput * 60.0
    }

    pub fn errors(&self) -> u64 {
        self.report.status_errors + self.report.transport_errors + self.report.timeouts
    }
}

/// A finished sweep, printed as a table (or serialised).
#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    pub warmup_seconds: f64,
    pub measured_seconds: f64,
    /// The emulator's time scale the figures are scaled back by, if any.
    pub time_scale: Option<f64>,
    pub steps: Vec<Step>,
}

impl Sweep {
    /// (P95 seconds, requests per minute) of a step in real time (unscaled when no time scale).
    pub fn real_time(&self, step: &Step) -> (f64, f64) {
        match self.time_scale {
            Some(s) => (step.p95_seconds() / s, step.requests_per_minute() * s),
            None => (step.p95_seconds(), step.requests_per_minute()),
        }
    }
}

/// Runs one closed loop per level in order, each with `base`'s warm-up, duration and timeout.
pub async fn sweep(
    target: Target,
    base: RunOptions,
    levels: &[usize],
    probe: Option<CopiesProbe>,
    time_scale: Option<f64>,
) -> Result<Sweep, RunError> {
    let mut steps = Vec::with_capacity(levels.len());
    for &concurrency in levels {
        let options = RunOptions {
            load: Load::Concurrency(concurrency),
            ..base.clone()
        };
        let seen = Arc::new(AtomicU32::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let watcher = probe.clone().map(|probe| {
            let (seen, done, warmup) = (Arc::clone(&seen), Arc::clone(&done), base.warmup);
            tokio::spawn(async move {
                let client = pooled();
                tokio::time::sleep(warmup).await;
                while !done.load(Ordering::Relaxed) {
                    if let Some(c) = probe.read(&client).await {
                        seen.fetch_max(c, Ordering::Relaxed);
                    }
                    tokio::time::sleep(PROBE_EVERY).await;
                }
            })
        });
        let report = run(target.clone(), options).await;
        done.store(true, Ordering::Relaxed);
        if let Some(w) = watcher {
            w.await?;
        }
        steps.push(Step {
            concurrency,
            copies: probe.as_ref().map(|_| seen.load(Ordering::Relaxed)),
            report: report?,
        });
    }
    Ok(Sweep {
        warmup_seconds: base.warmup.as_secs_f64(),
        measured_seconds: base.duration.as_secs_f64(),
        time_scale,
        steps,
    })
}

impl std::fmt::Display for Sweep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "closed-loop sweep: {:.1} s measured per level after {:.1} s of warm-up",
            self.measured_seconds, self.warmup_seconds
        )?;
        let copies = |s: &Step| s.copies.map_or_else(|| "-".to_string(), |c| c.to_string());
        match self.time_scale {
            None => {
                writeln!(f, "concurrency  p95 latency  requests/min  copies  errors")?;
                for s in &self.steps {
                    writeln!(
                        f,
                        "{:>11}  {:>9.2} s  {:>12.0}  {:>6}  {:>6}",
                        s.concurrency,
                        s.p95_seconds(),
                        s.requests_per_minute(),
                        copies(s),
                        s.errors()
                    )?;
                }
            }
            Some(scale) => {
                writeln!(
                    f,
                    "the target's time runs at {scale} × real time: \"real\" columns are the measured figures \
                     scaled back (latency ÷ {scale}, rate × {scale}); \"measured\" columns are as timed here"
                )?;
                writeln!(
                    f,
                    "concurrency  p95 (real)  req/min (real)  copies  errors  |  p95 (measured)  req/min (measured)"
                )?;
                for s in &self.steps {
                    let (p95, rpm) = self.real_time(s);
                    writeln!(
                        f,
                        "{:>11}  {:>8.2} s  {:>14.0}  {:>6}  {:>6}  |  {:>11.1} ms  {:>18.0}",
                        s.concurrency,
                        p95,
                        rpm,
                        copies(s),
                        s.errors(),
                        s.report.latency_ms.p95,
                        s.requests_per_minute()
                    )?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Percentiles;

    fn step(concurrency: usize, p95_ms: f64, per_second: f64, copies: Option<u32>) -> Step {
        let p = Percentiles {
            p50: p95_ms / 2.0,
            p90: p95_ms,
            p95: p95_ms,
            p99: p95_ms,
            p999: p95_ms,
            max: p95_ms,
        };
        Step {
            concurrency,
            copies,
            report: Report {
                measured_seconds: 10.0,
                ok: (per_second * 10.0) as u64,
                status_errors: 1,
                transport_errors: 0,
                timeouts: 0,
                shed: 0,
                throughput: per_second,
                latency_ms: p,
                first_byte_ms: p,
            },
        }
    }

    #[test]
    fn scales_back_to_real_time() {
        let sweep = Sweep {
            warmup_seconds: 1.0,
            measured_seconds: 10.0,
            time_scale: Some(0.01),
            steps: vec![step(1, 72.0, 18.0, Some(1)), step(32, 104.0, 390.0, Some(3))],
        };
        let (p95, rpm) = sweep.real_time(&sweep.steps[0]);
        assert!((p95 - 7.2).abs() < 1e-9 && (rpm - 10.8).abs() < 1e-9, "{p95} {rpm}");
        let table = sweep.to_string();
        assert!(table.contains("p95 (real)") && table.contains("7.20 s"), "{table}");
        assert!(
            table
                .lines()
                .any(|l| l.trim_start().starts_with("32") && l.contains(" 3 ")),
            "{table}"
        );
        let plain = Sweep {
            time_scale: None,
            ..sweep
        };
        assert_eq!(plain.real_time(&plain.steps[0]), (0.072, 1080.0));
        assert!(plain.to_string().contains("requests/min"));
    }

    #[test]
    fn reads_copies_from_stats() {
        let stats = br#"{"invocations": [], "imported_models": [
            {"arn": "arn:aws:bedrock:us-east-1:111111111111:imported-model/a", "copies": 1},
            {"arn": "arn:aws:bedrock:us-east-1:111111111111:imported-model/b", "copies": 3}]}"#;
        assert_eq!(
            copies_in(stats, "arn:aws:bedrock:us-east-1:111111111111:imported-model/b"),
            Some(3)
        );
        assert_eq!(copies_in(stats, "missing"), None);
        assert_eq!(copies_in(b"not json", "x"), None);
        assert!(CopiesProbe::new("https://x/_sim/stats", "a").is_err());
    }
}
