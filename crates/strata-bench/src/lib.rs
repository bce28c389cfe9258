//! Strata's load generator, for whole-system benchmarks (`strata bench`, `bench/*.sh`).
//!
//! Two ways to load a target:
//! - **open loop** ([`Load::Rate`]): requests are due at a constant rate whatever the target
//!   does, and each latency is measured from the moment the request was *due*, not from when it
//!   was actually sent — so a stalled target is charged for every request it delayed
//!   (no coordinated omission);
//! - **closed loop** ([`Load::Concurrency`]): a fixed number of workers each send the next
//!   request as soon as the previous one is answered (throughput at saturation).
//!
//! A **sweep** ([`sweep`]) runs one closed loop per concurrency level, each with its warm-up,
//! optionally polling an emulator's `/_sim/stats` for the copies an imported model runs on, and
//! prints one table row per level (requests, errors by class, P50 / P95 / P99, TTFT, time to last
//! token, requests per minute, output tokens per second, copies).
//!
//! Every sample records the time to the answer's first and last body bytes (TTFT and time to
//! last token, for streams) and to its end, and the answer's output tokens when it names them
//! (see `tokens`). Benchmarks are never tests: nothing here asserts on speed.

mod client;
mod report;
mod run;
mod sweep;
mod target;
mod tokens;

pub use report::{ErrorCounts, Percentiles, Report};
pub use run::{run, Load, RunError, RunOptions};
pub use sweep::{sweep, CopiesProbe, ProgressFn, RealTime, Step, StepProgress, Sweep};
pub use target::{Target, TargetError};
