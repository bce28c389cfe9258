//! A run: warm-up, then the measured part, in open-loop (constant rate) or closed-loop
//! (fixed concurrency) mode.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::client::{pooled, send, Pooled};
use crate::report::{Recorder, Report};
use crate::target::Target;

/// How the target is loaded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Open loop: this many requests per second, each due at its own time, sent whether or not
    /// earlier ones were answered.
    Rate(f64),
    /// Closed loop: this many workers, each sending again as soon as it has its answer.
    Concurrency(usize),
}

/// A run's settings.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub load: Load,
    /// Sent but not recorded (connections opened, caches warm).
    pub warmup: Duration,
    /// Recorded.
    pub duration: Duration,
    /// Longest wait for one whole answer.
    pub timeout: Duration,
    /// Open loop: a request due while this many are in flight is not sent, and counted as shed
    /// (so an overloaded target cannot make the generator open connections without bound).
    pub max_in_flight: usize,
    /// Counts every finished request, warm-up included, for a progress display (one relaxed
    /// atomic add per request).
    pub finished: Option<Arc<AtomicU64>>,
}

/// A run that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the rate must be a positive number of requests per second, not {0}")]
    Rate(f64),
    #[error("the concurrency must be at least 1")]
    Concurrency,
    #[error("cannot create the histograms: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
    #[error("a load task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Loads `target` as `options` say and reports the measured part. Must be called within a
/// multi-threaded tokio runtime (the open-loop pacer runs on a blocking thread).
pub async fn run(target: Target, options: RunOptions) -> Result<Report, RunError> {
    let recorder = Arc::new(Mutex::new(Recorder::new()?));
    let shared = Shared {
        client: pooled(),
        target: Arc::new(target),
        recorder: Arc::clone(&recorder),
        timeout: options.timeout,
        finished: options.finished.clone(),
    };
    let start = Instant::now();
    let measure_from = start + options.warmup;
    let end = measure_from + options.duration;
    match options.load {
        Load::Rate(rate) => {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(RunError::Rate(rate));
            }
            open_loop(shared, rate, measure_from, end, options.max_in_flight).await?;
        }
        Load::Concurrency(workers) => {
            if workers == 0 {
                return Err(RunError::Concurrency);
            }
            closed_loop(shared, workers, measure_from, end).await?;
        }
    }
    let report = recorder.lock().report(options.duration);
    Ok(report)
}

/// What every request task needs.
#[derive(Clone)]
struct Shared {
    client: Pooled,
    target: Arc<Target>,
    recorder: Arc<Mutex<Recorder>>,
    timeout: Duration,
    finished: Option<Arc<AtomicU64>>,
}

impl Shared {
    fn count(&self) {
        if let Some(f) = &self.finished {
            f.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Requests due at `start + i / rate`, paced by a blocking thread (`thread::sleep` is accurate
/// to tens of microseconds, the async timer only to a millisecond); each is sent on the runtime
/// and timed from when it was due.
async fn open_loop(
    shared: Shared,
    rate: f64,
    measure_from: Instant,
    end: Instant,
    max_in_flight: usize,
) -> Result<(), RunError> {
    let runtime = tokio::runtime::Handle::current();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let pacer_in_flight = Arc::clone(&in_flight);
    let pacer_shared = shared.clone();
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    tokio::task::spawn_blocking(move || {
        let mut due = start;
        while due < end {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let measured = due >= measure_from;
            if pacer_in_flight.load(Ordering::Relaxed) >= max_in_flight {
                if measured {
                    pacer_shared.recorder.lock().shed();
                }
            } else {
                pacer_in_flight.fetch_add(1, Ordering::Relaxed);
                let s = pacer_shared.clone();
                let counter = Arc::clone(&pacer_in_flight);
                runtime.spawn(async move {
                    let outcome = send(&s.client, &s.target, due, s.timeout).await;
                    if measured {
                        s.recorder.lock().record(outcome);
                    }
                    s.count();
                    counter.fetch_sub(1, Ordering::Relaxed);
                });
            }
            due += period;
        }
    })
    .await?;
    // Let the last requests finish (each is bounded by the timeout).
    let drain_until = Instant::now() + shared.timeout;
    while in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// `workers` loops of send-and-wait; a request is recorded when it started after the warm-up.
async fn closed_loop(shared: Shared, workers: usize, measure_from: Instant, end: Instant) -> Result<(), RunError> {
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let s = shared.clone();
            tokio::spawn(async move {
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    let outcome = send(&s.client, &s.target, sent, s.timeout).await;
                    if sent >= measure_from {
                        s.recorder.lock().record(outcome);
                    }
                    s.count();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await?;
    }
    Ok(())
}
