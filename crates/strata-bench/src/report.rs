//! Samples gathered into histograms, and the summary a run reports.

use std::time::Duration;

use hdrhistogram::{CreationError, Histogram};
use serde::Serialize;

use crate::client::{Answer, Outcome};

/// Latencies are recorded in microseconds, from 1 µs to 60 s.
const HIGHEST_MICROS: u64 = 60_000_000;
/// Significant digits kept: 4, so a time near 500 ms is known to 32 µs. With 3 it was 256 µs
/// there, which made the added time to first token of `bench/streams_memory.sh` (the difference
/// of two such percentiles, goal < 1 ms) move in steps of a quarter of a millisecond. Three
/// histograms of this precision take ~5 MB, once per run.
const SIGNIFICANT_DIGITS: u8 = 4;

/// Everything recorded during the measured part of a run.
#[derive(Debug)]
pub(crate) struct Recorder {
    latency: Histogram<u64>,
    first_byte: Histogram<u64>,
    last_byte: Histogram<u64>,
    ok: u64,
    errors: ErrorCounts,
    output_tokens: u64,
    counted_answers: u64,
    /// Open loop only: requests not sent because too many were already in flight.
    shed: u64,
}

impl Recorder {
    pub(crate) fn new() -> Result<Self, CreationError> {
        Ok(Recorder {
            latency: Histogram::new_with_bounds(1, HIGHEST_MICROS, SIGNIFICANT_DIGITS)?,
            first_byte: Histogram::new_with_bounds(1, HIGHEST_MICROS, SIGNIFICANT_DIGITS)?,
            last_byte: Histogram::new_with_bounds(1, HIGHEST_MICROS, SIGNIFICANT_DIGITS)?,
            ok: 0,
            errors: ErrorCounts::default(),
            output_tokens: 0,
            counted_answers: 0,
            shed: 0,
        })
    }

    pub(crate) fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok(Answer {
                first_byte,
                last_byte,
                end,
                output_tokens,
            }) => {
                self.ok += 1;
                self.latency.saturating_record(micros(end));
                self.first_byte.saturating_record(micros(first_byte));
                self.last_byte.saturating_record(micros(last_byte));
                if let Some(n) = output_tokens {
                    self.output_tokens += n;
                    self.counted_answers += 1;
                }
            }
            Outcome::Status(429) => self.errors.throttled += 1,
            Outcome::Status(s) if s >= 500 => self.errors.server += 1,
            Outcome::Status(_) => self.errors.client += 1,
            Outcome::Connect => self.errors.connect += 1,
            Outcome::Broken => self.errors.broken += 1,
            Outcome::Timeout => self.errors.timeout += 1,
        }
    }

    pub(crate) fn shed(&mut self) {
        self.shed += 1;
    }

    pub(crate) fn report(&self, measured: Duration) -> Report {
        let seconds = measured.as_secs_f64().max(f64::EPSILON);
        let e = &self.errors;
        Report {
            measured_seconds: measured.as_secs_f64(),
            ok: self.ok,
            status_errors: e.throttled + e.client + e.server,
            transport_errors: e.connect + e.broken,
            timeouts: e.timeout,
            shed: self.shed,
            errors: self.errors,
            throughput: self.ok as f64 / seconds,
            latency_ms: Percentiles::of(&self.latency),
            first_byte_ms: Percentiles::of(&self.first_byte),
            last_byte_ms: Percentiles::of(&self.last_byte),
            output_tokens: self.output_tokens,
            counted_answers: self.counted_answers,
            output_tokens_per_second: self.output_tokens as f64 / seconds,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Failed requests by class.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ErrorCounts {
    /// 429 answers.
    pub throttled: u64,
    /// Other 4xx answers.
    pub client: u64,
    /// 5xx answers.
    pub server: u64,
    /// No whole answer within the timeout.
    pub timeout: u64,
    /// No connection could be opened.
    pub connect: u64,
    /// The connection broke before the answer was whole.
    pub broken: u64,
}

impl ErrorCounts {
    pub fn total(&self) -> u64 {
        self.throttled + self.client + self.server + self.timeout + self.connect + self.broken
    }

    /// `429:3 5xx:1`, or `0` when there were none.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = [
            ("429", self.throttled),
            ("4xx", self.client),
            ("5xx", self.server),
            ("timeout", self.timeout),
            ("connect", self.connect),
            ("broken", self.broken),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name}:{n}"))
        .collect();
        if parts.is_empty() {
            "0".to_string()
        } else {
            parts.join(" ")
        }
    }
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
    /// Answers with another status (`errors.throttled + client + server`).
    pub status_errors: u64,
    /// `errors.connect + errors.broken`.
    pub transport_errors: u64,
    pub timeouts: u64,
    /// Open loop: requests skipped because the in-flight limit was reached.
    pub shed: u64,
    /// Failed requests by class.
    pub errors: ErrorCounts,
    /// `ok` per second of measured time.
    pub throughput: f64,
    /// To the answer's end (open loop: from when each request was due).
    pub latency_ms: Percentiles,
    /// To the answer's first body byte (time to first token, for streams).
    pub first_byte_ms: Percentiles,
    /// To the answer's last body byte (time to last token, for streams).
    pub last_byte_ms: Percentiles,
    /// Output tokens of the 2xx answers that name them (header or usage; see `tokens`).
    pub output_tokens: u64,
    /// How many 2xx answers named their output tokens.
    pub counted_answers: u64,
    pub output_tokens_per_second: f64,
}

impl Report {
    /// Every measured request that was answered or failed (shed ones excluded).
    pub fn requests(&self) -> u64 {
        self.ok + self.errors.total()
    }
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
            "{} ok in {:.1} s = {:.0} req/s, {:.0} output tokens/s; errors: {}; {} shed",
            self.ok,
            self.measured_seconds,
            self.throughput,
            self.output_tokens_per_second,
            self.errors.summary(),
            self.shed
        )?;
        row(f, "latency", &self.latency_ms)?;
        row(f, "first byte", &self.first_byte_ms)?;
        row(f, "last byte", &self.last_byte_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_outcomes_and_reads_percentiles() {
        let mut r = Recorder::new().unwrap();
        for ms in 1..=100u64 {
            r.record(Outcome::Ok(Answer {
                first_byte: Duration::from_micros(ms * 100),
                last_byte: Duration::from_micros(ms * 900),
                end: Duration::from_millis(ms),
                output_tokens: (ms % 2 == 0).then_some(10),
            }));
        }
        r.record(Outcome::Status(503));
        r.record(Outcome::Status(429));
        r.record(Outcome::Status(429));
        r.record(Outcome::Status(400));
        r.record(Outcome::Timeout);
        r.record(Outcome::Connect);
        r.record(Outcome::Broken);
        r.shed();
        let report = r.report(Duration::from_secs(2));
        assert_eq!(
            (
                report.ok,
                report.status_errors,
                report.transport_errors,
                report.timeouts,
                report.shed
            ),
            (100, 4, 2, 1, 1)
        );
        assert_eq!(
            report.errors,
            ErrorCounts {
                throttled: 2,
                client: 1,
                server: 1,
                timeout: 1,
                connect: 1,
                broken: 1
            }
        );
        assert_eq!(
            report.errors.summary(),
            "429:2 4xx:1 5xx:1 timeout:1 connect:1 broken:1"
        );
        assert_eq!(ErrorCounts::default().summary(), "0");
        assert_eq!(report.requests(), 107);
        assert_eq!((report.output_tokens, report.counted_answers), (500, 50));
        assert_eq!(report.output_tokens_per_second, 250.0);
        assert!((report.last_byte_ms.p50 - 45.0).abs() < 0.1);
        assert_eq!(report.throughput, 50.0);
        assert!((report.latency_ms.p50 - 50.0).abs() < 0.1);
        assert!((report.latency_ms.p95 - 95.0).abs() < 0.1);
        assert!((report.latency_ms.p99 - 99.0).abs() < 0.1);
        assert!((report.first_byte_ms.max - 10.0).abs() < 0.01);
    }

    #[test]
    fn times_near_half_a_second_are_told_apart_to_tens_of_microseconds() {
        // Two first bytes 100 µs apart at 500 ms: the added time to first token the streams
        // benchmark reports is such a difference.
        let mut r = Recorder::new().unwrap();
        for micros in [500_000u64, 500_100] {
            r.record(Outcome::Ok(Answer {
                first_byte: Duration::from_micros(micros),
                last_byte: Duration::from_micros(micros),
                end: Duration::from_micros(micros),
                output_tokens: None,
            }));
        }
        let report = r.report(Duration::from_secs(1));
        let spread = report.first_byte_ms.max - report.first_byte_ms.p50;
        assert!((spread - 0.1).abs() < 0.04, "max - p50 = {spread} ms");
    }
}
