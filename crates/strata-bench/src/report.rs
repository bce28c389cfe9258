//! Samples gathered into histograms, and the summary a run reports.

use std::time::Duration;

use hdrhistogram::{CreationError, Histogram};
use serde::Serialize;

use crate::client::Outcome;

/// Latencies are recorded in microseconds, from 1 µs to 60 s, with 3 significant digits.
const HIGHEST_MICROS: u64 = 60_000_000;

/// Everything recorded during the measured part of a run.
#[derive(Debug)]
pub(crate) struct Recorder {
    latency: Histogram<u64>,
    first_byte: Histogram<u64>,
    ok: u64,
    status_errors: u64,
    transport_errors: u64,
    timeouts: u64,
    /// Open loop only: requests not sent because too many were already in flight.
    shed: u64,
}

impl Recorder {
    pub(crate) fn new() -> Result<Self, CreationError> {
        Ok(Recorder {
            latency: Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)?,
            first_byte: Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)?,
            ok: 0,
            status_errors: 0,
            transport_errors: 0,
            timeouts: 0,
            shed: 0,
        })
    }

    pub(crate) fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok { first_byte, end } => {
                self.ok += 1;
                self.latency.saturating_record(micros(end));
                self.first_byte.saturating_record(micros(first_byte));
            }
            Outcome::Status(_) => self.status_errors += 1,
            Outcome::Transport => self.transport_errors += 1,
            Outcome::Timeout => self.timeouts += 1,
        }
    }

    pub(crate) fn shed(&mut self) {
        self.shed += 1;
    }

    pub(crate) fn report(&self, measured: Duration) -> Report {
        Report {
            measured_seconds: measured.as_secs_f64(),
            ok: self.ok,
            status_errors: self.status_errors,
            transport_errors: self.transport_errors,
            timeouts: self.timeouts,
            shed: self.shed,
            throughput: self.ok as f64 / measured.as_secs_f64().max(f64::EPSILON),
            latency_ms: Percentiles::of(&self.latency),
            first_byte_ms: Percentiles::of(&self.first_byte),
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Percentiles {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// The summary of a run (only the measured part; warm-up excluded).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub measured_seconds: f64,
    /// 2xx answers read to their end.
    pub ok: u64,
    /// Answers with another status.
    pub status_errors: u64,
    pub transport_errors: u64,
    pub timeouts: u64,
    /// Open loop: requests skipped because the in-flight limit was reached.
    pub shed: u64,
    /// `ok` per second of measured time.
    pub throughput: f64,
    /// To the answer's end (open loop: from when each request was due).
    pub latency_ms: Percentiles,
    /// To the answer's first body byte (time to first token, for streams).
    pub first_byte_ms: Percentiles,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let row = |f: &mut std::fmt::Formatter<'_>, name: &str, p: &Percentiles| {
            writeln!(
                f,
                "{name:<11} p50 {:>8.3} ms  p90 {:>8.3} ms  p99 {:>8.3} ms  p99.9 {:>8.3} ms  max {:>8.3} ms",
                p.p50, p.p90, p.p99, p.p999, p.max
            )
        };
        writeln!(
            f,
            "{} ok in {:.1} s = {:.0} req/s; errors: {} status, {} transport, {} timeout, {} shed",
            self.ok,
            self.measured_seconds,
            self.throughput,
            self.status_errors,
            self.transport_errors,
            self.timeouts,
            self.shed
        )?;
        row(f, "latency", &self.latency_ms)?;
        row(f, "first byte", &self.first_byte_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_outcomes_and_reads_percentiles() {
        let mut r = Recorder::new().unwrap();
        for ms in 1..=100u64 {
            r.record(Outcome::Ok {
                first_byte: Duration::from_micros(ms * 100),
                end: Duration::from_millis(ms),
            });
        }
        r.record(Outcome::Status(503));
        r.record(Outcome::Timeout);
        r.shed();
        let report = r.report(Duration::from_secs(2));
        assert_eq!(
            (report.ok, report.status_errors, report.timeouts, report.shed),
            (100, 1, 1, 1)
        );
        assert_eq!(report.throughput, 50.0);
        assert!((report.latency_ms.p50 - 50.0).abs() < 0.1);
        assert!((report.latency_ms.p95 - 95.0).abs() < 0.1);
        assert!((report.latency_ms.p99 - 99.0).abs() < 0.1);
        assert!((report.first_byte_ms.max - 10.0).abs() < 0.01);
    }
}
