//! A sweep: one closed-loop run per concurrency level (each with its own warm-up), with the
//! copies an emulated imported model runs on read from `/_sim/stats` during each measured part,
//! reported as one row per level: requests, errors by class, P50 / P95 / P99 latency, TTFT
//! P50 / P95, time to last token, requests per minute, output tokens per second (and copies).
//! A progress callback, if given, is told ten times a second how far the current step is.
//!
//! When the emulator's time is scaled (`time_scale` 0.01: a real second passes in 10 ms), the
//! table also shows the figures scaled back to real time: latency ÷ scale, rate × scale.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use serde::Serialize;

use crate::client::{pooled, Pooled};
use crate::report::{ErrorCounts, Report};
use crate::run::{run, Load, RunError, RunOptions};
use crate::target::{Target, TargetError};

/// The sweep table's columns, in order.
const COLUMNS: [&str; 11] = [
    "concurrency",
    "requests",
    "errors",
    "p50",
    "p95",
    "p99",
    "ttft p50",
    "ttft p95",
    "ttlt p50",
    "req/min",
    "out tok/s",
];

/// How often the copies are read during a step.
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// How often the progress callback is told.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

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

/// One level of a sweep: the seed's row, flat (milliseconds; `rpm` counts 2xx answers), with the
/// whole report beside it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub concurrency: usize,
    /// Measured requests answered or failed.
    pub requests: u64,
    /// Failed requests (every class).
    pub errors: u64,
    pub errors_by_class: ErrorCounts,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// To the first body byte.
    pub ttft_p50_ms: f64,
    pub ttft_p95_ms: f64,
    /// To the last body byte.
    pub ttlt_p50_ms: f64,
    pub ttlt_p95_ms: f64,
    /// Successful requests per minute.
    pub rpm: f64,
    pub output_tokens: u64,
    pub output_tokens_per_second: f64,
    /// The most copies seen during the measured part (with a probe).
    pub copies: Option<u32>,
    /// With a time scale: P95 and requests per minute scaled back to real time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real_time: Option<RealTime>,
    pub report: Report,
}

/// A step's figures scaled back to the emulator's real time.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct RealTime {
    pub p95_seconds: f64,
    pub rpm: f64,
}

impl Step {
    /// The row for `report`, scaled back to real time when the target's time is scaled.
    pub fn new(concurrency: usize, copies: Option<u32>, report: Report, time_scale: Option<f64>) -> Step {
        let rpm = report.throughput * 60.0;
        Step {
            concurrency,
            requests: report.requests(),
            errors: report.errors.total(),
            errors_by_class: report.errors,
            p50_ms: report.latency_ms.p50,
            p95_ms: report.latency_ms.p95,
            p99_ms: report.latency_ms.p99,
            ttft_p50_ms: report.first_byte_ms.p50,
            ttft_p95_ms: report.first_byte_ms.p95,
            ttlt_p50_ms: report.last_byte_ms.p50,
            ttlt_p95_ms: report.last_byte_ms.p95,
            rpm,
            output_tokens: report.output_tokens,
            output_tokens_per_second: report.output_tokens_per_second,
            copies,
            real_time: time_scale.map(|s| RealTime {
                p95_seconds: report.latency_ms.p95 / 1000.0 / s,
                rpm: rpm * s,
            }),
            report,
        }
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

/// Where a step is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepProgress {
    pub concurrency: usize,
    /// Since the step's warm-up began.
    pub elapsed: Duration,
    /// Warm-up plus measured time.
    pub total: Duration,
    /// Requests finished so far, warm-up included.
    pub finished: u64,
    /// The step is over (the last call for it).
    pub done: bool,
}

/// Told how each step is going; called from a task beside the load, never from it.
pub type ProgressFn = Arc<dyn Fn(StepProgress) + Send + Sync>;

/// Runs one closed loop per level in order, each with `base`'s warm-up, duration and timeout.
pub async fn sweep(
    target: Target,
    base: RunOptions,
    levels: &[usize],
    probe: Option<CopiesProbe>,
    time_scale: Option<f64>,
    progress: Option<ProgressFn>,
) -> Result<Sweep, RunError> {
    let mut steps = Vec::with_capacity(levels.len());
    for &concurrency in levels {
        let finished = Arc::new(AtomicU64::new(0));
        let options = RunOptions {
            load: Load::Concurrency(concurrency),
            finished: Some(Arc::clone(&finished)),
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
        let total = base.warmup + base.duration;
        let started = Instant::now();
        let ticker = progress.clone().map(|tell| {
            let (finished, done) = (Arc::clone(&finished), Arc::clone(&done));
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    tell(StepProgress {
                        concurrency,
                        elapsed: started.elapsed().min(total),
                        total,
                        finished: finished.load(Ordering::Relaxed),
                        done: false,
                    });
                    tokio::time::sleep(PROGRESS_EVERY).await;
                }
            })
        });
        let report = run(target.clone(), options).await;
        done.store(true, Ordering::Relaxed);
        if let Some(w) = watcher {
            w.await?;
        }
        if let Some(t) = ticker {
            t.await?;
        }
        if let Some(tell) = &progress {
            tell(StepProgress {
                concurrency,
                elapsed: total,
                total,
                finished: finished.load(Ordering::Relaxed),
                done: true,
            });
        }
        let copies = probe.as_ref().map(|_| seen.load(Ordering::Relaxed));
        steps.push(Step::new(concurrency, copies, report?, time_scale));
    }
    Ok(Sweep {
        warmup_seconds: base.warmup.as_secs_f64(),
        measured_seconds: base.duration.as_secs_f64(),
        time_scale,
        steps,
    })
}

/// Milliseconds with as many decimals as their size deserves.
fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

impl std::fmt::Display for Sweep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "closed-loop sweep: {:.1} s measured per level after {:.1} s of warm-up; latencies in ms",
            self.measured_seconds, self.warmup_seconds
        )?;
        let with_copies = self.steps.iter().any(|s| s.copies.is_some());
        if let Some(scale) = self.time_scale {
            writeln!(
                f,
                "the target's time runs at {scale} × real time: the \"real\" columns are the measured figures \
                 scaled back (latency ÷ {scale}, rate × {scale}); the others are as timed here"
            )?;
        }
        let [c, n, e, p50, p95, p99, t50, t95, l50, rpm, tps] = COLUMNS;
        let mut header = format!(
            "{c:>11}  {n:>8}  {e:<12}  {p50:>8}  {p95:>8}  {p99:>8}  {t50:>9}  {t95:>9}  {l50:>9}  {rpm:>10}  {tps:>11}"
        );
        if with_copies {
            header.push_str("  copies");
        }
        if self.time_scale.is_some() {
            header.push_str("  p95 (real)  req/min (real)");
        }
        writeln!(f, "{}", header.trim_end())?;
        for s in &self.steps {
            let mut row = format!(
                "{:>11}  {:>8}  {:<12}  {:>8}  {:>8}  {:>8}  {:>9}  {:>9}  {:>9}  {:>10.0}  {:>11.0}",
                s.concurrency,
                s.requests,
                s.errors_by_class.summary(),
                ms(s.p50_ms),
                ms(s.p95_ms),
                ms(s.p99_ms),
                ms(s.ttft_p50_ms),
                ms(s.ttft_p95_ms),
                ms(s.ttlt_p50_ms),
                s.rpm,
                s.output_tokens_per_second
            );
            if with_copies {
                let c = s.copies.map_or_else(|| "-".to_string(), |c| c.to_string());
                row.push_str(&format!("  {c:>6}"));
            }
            if let Some(real) = s.real_time {
                row.push_str(&format!("  {:>8.2} s  {:>14.0}", real.p95_seconds, real.rpm));
            }
            writeln!(f, "{}", row.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Percentiles;

    fn report(p95_ms: f64, per_second: f64) -> Report {
        let p = Percentiles {
            p50: p95_ms / 2.0,
            p90: p95_ms,
            p95: p95_ms,
            p99: p95_ms * 1.5,
            p999: p95_ms,
            max: p95_ms,
        };
        let errors = ErrorCounts {
            throttled: 2,
            server: 1,
            ..ErrorCounts::default()
        };
        Report {
            measured_seconds: 10.0,
            ok: (per_second * 10.0) as u64,
            status_errors: 3,
            transport_errors: 0,
            timeouts: 0,
            shed: 0,
            errors,
            throughput: per_second,
            latency_ms: p,
            first_byte_ms: Percentiles { p50: 1.0, ..p },
            last_byte_ms: p,
            output_tokens: (per_second * 10.0 * 64.0) as u64,
            counted_answers: (per_second * 10.0) as u64,
            output_tokens_per_second: per_second * 64.0,
        }
    }

    #[test]
    fn scales_back_to_real_time() {
        let sweep = Sweep {
            warmup_seconds: 1.0,
            measured_seconds: 10.0,
            time_scale: Some(0.01),
            steps: vec![
                Step::new(1, Some(1), report(72.0, 18.0), Some(0.01)),
                Step::new(32, Some(3), report(104.0, 390.0), Some(0.01)),
            ],
        };
        let real = sweep.steps[0].real_time.unwrap();
        assert!(
            (real.p95_seconds - 7.2).abs() < 1e-9 && (real.rpm - 10.8).abs() < 1e-9,
            "{real:?}"
        );
        let table = sweep.to_string();
        assert!(table.contains("p95 (real)") && table.contains("7.20 s"), "{table}");
        assert!(
            table
                .lines()
                .any(|l| l.trim_start().starts_with("32 ") && l.contains(" 3 ")),
            "{table}"
        );
        let plain = Step::new(1, None, report(72.0, 18.0), None);
        assert_eq!((plain.rpm, plain.real_time), (1080.0, None));
    }

    #[test]
    fn table_has_the_seeds_columns() {
        let sweep = Sweep {
            warmup_seconds: 1.0,
            measured_seconds: 10.0,
            time_scale: None,
            steps: vec![Step::new(4, None, report(12.0, 100.0), None)],
        };
        let table = sweep.to_string();
        let lines: Vec<&str> = table.lines().collect();
        for column in COLUMNS {
            assert!(lines[1].contains(column), "{column} missing: {table}");
        }
        assert!(!lines[1].contains("copies") && !lines[1].contains("real"), "{table}");
        let row = lines[2];
        for cell in ["1003", "429:2 5xx:1", "6.00", "12.0", "18.0", "1.00", "6000", "6400"] {
            assert!(row.contains(cell), "{cell} missing: {table}");
        }
    }

    #[test]
    fn json_has_the_issues_fields() {
        let sweep = Sweep {
            warmup_seconds: 1.0,
            measured_seconds: 10.0,
            time_scale: None,
            steps: vec![Step::new(4, None, report(12.0, 100.0), None)],
        };
        let json = serde_json::to_value(&sweep).unwrap();
        let step = &json["steps"][0];
        assert_eq!(step["concurrency"], 4);
        assert_eq!(step["requests"], 1003);
        assert_eq!(step["errors"], 3);
        assert_eq!(step["errors_by_class"]["throttled"], 2);
        assert_eq!(step["errors_by_class"]["server"], 1);
        assert_eq!(step["p50_ms"], 6.0);
        assert_eq!(step["p95_ms"], 12.0);
        assert_eq!(step["p99_ms"], 18.0);
        assert_eq!(step["ttft_p50_ms"], 1.0);
        assert_eq!(step["ttft_p95_ms"], 12.0);
        assert_eq!(step["ttlt_p50_ms"], 6.0);
        assert_eq!(step["rpm"], 6000.0);
        assert_eq!(step["output_tokens"], 64000);
        assert_eq!(step["output_tokens_per_second"], 6400.0);
        assert!(step["copies"].is_null() && step.get("real_time").is_none());
        assert_eq!(step["report"]["ok"], 1000);
        assert!(json["time_scale"].is_null());
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
