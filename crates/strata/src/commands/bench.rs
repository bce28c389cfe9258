//! `strata bench`: loads one endpoint with a repeated request, open loop at a constant rate
//! (latency from each request's due time, so stalls are not hidden) or closed loop at a fixed
//! concurrency, and prints latency and first-byte percentiles. `--concurrency 1,4,16,32` is a
//! sweep: one closed loop per level, with a progress bar per level on stderr (when it is a
//! terminal), printed as a table (requests, errors by class, P50 / P95 / P99, TTFT, time to last
//! token, requests per minute, output tokens per second, and with `--copies-from` the copies an
//! emulated imported model ran on).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use strata_bench::{CopiesProbe, Load, ProgressFn, RunOptions, StepProgress, Target};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The URL to load (http:// only).
    pub url: String,
    /// Open loop: requests per second, sent on schedule whatever the answers do.
    #[arg(long, conflicts_with = "concurrency")]
    pub rate: Option<f64>,
    /// Closed loop: workers each sending again as soon as answered. A list (`1,4,16,32`) runs
    /// a sweep: one closed loop per level, each with its warm-up, printed as a table.
    #[arg(long, default_value = "16", value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Sweep: read the copies of `--imported-model` from this emulator stats URL
    /// (e.g. `http://127.0.0.1:4566/_sim/stats`) during each level; the table shows the most seen.
    #[arg(long, requires = "imported_model", conflicts_with = "rate")]
    pub copies_from: Option<String>,
    /// Sweep: the imported model's ARN whose copies `--copies-from` reads.
    #[arg(long, requires = "copies_from")]
    pub imported_model: Option<String>,
    /// Sweep: the emulator's time scale (e.g. 0.01); the table adds figures scaled back to real
    /// time (latency ÷ scale, requests per minute × scale).
    #[arg(long, conflicts_with = "rate")]
    pub time_scale: Option<f64>,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// A header, `name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// The request body, inline.
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// The request body, from a file.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    /// Seconds to wait for one whole answer.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Open loop: requests in flight beyond which due requests are shed (and counted).
    #[arg(long, default_value_t = 10_000)]
    pub max_in_flight: usize,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let body = match (&args.body, &args.body_file) {
        (Some(b), _) => b.clone().into_bytes(),
        (None, Some(path)) => std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        (None, None) => Vec::new(),
    };
    let target = Target::new(&args.method, &args.url, &args.headers, body.into())?;
    let seconds = |name: &str, s: f64| {
        Duration::try_from_secs_f64(s).with_context(|| format!("--{name} must be a non-negative number of seconds"))
    };
    let sweep =
        args.rate.is_none() && (args.concurrency.len() > 1 || args.copies_from.is_some() || args.time_scale.is_some());
    if let Some(scale) = args.time_scale {
        anyhow::ensure!(
            scale.is_finite() && scale > 0.0,
            "--time-scale must be a positive number"
        );
    }
    let options = RunOptions {
        load: match args.rate {
            Some(rate) => Load::Rate(rate),
            None => Load::Concurrency(args.concurrency.first().copied().unwrap_or(16)),
        },
        warmup: seconds("warmup", args.warmup)?,
        duration: seconds("duration", args.duration)?,
        timeout: seconds("timeout", args.timeout)?,
        max_in_flight: args.max_in_flight,
        finished: None,
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        builder.worker_threads(n.max(1));
    }
    let runtime = builder.enable_all().build().context("cannot start the async runtime")?;
    if sweep {
        let probe = match (&args.copies_from, &args.imported_model) {
            (Some(url), Some(arn)) => Some(CopiesProbe::new(url, arn)?),
            _ => None,
        };
        let table = runtime.block_on(strata_bench::sweep(
            target,
            options,
            &args.concurrency,
            probe,
            args.time_scale,
            std::io::stderr().is_terminal().then(progress_bars),
        ))?;
        if args.json {
            println!("{}", serde_json::to_string(&table)?);
        } else {
            print!("{table}");
        }
        return Ok(());
    }
    let report = runtime.block_on(strata_bench::run(target, options))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}

/// One progress bar per step on stderr: time through warm-up and measurement, requests finished.
/// Drawn from the sweep's ticker task, never from the load loop.
fn progress_bars() -> ProgressFn {
    let current: Mutex<Option<(usize, indicatif::ProgressBar)>> = Mutex::new(None);
    Arc::new(move |p: StepProgress| {
        let mut current = current.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.as_ref().map(|(c, _)| *c) != Some(p.concurrency) {
            let bar = indicatif::ProgressBar::new(p.total.as_millis() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("concurrency {prefix:>5} [{bar:30}] {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_prefix(p.concurrency.to_string());
            *current = Some((p.concurrency, bar));
        }
        if let Some((_, bar)) = current.as_ref() {
            bar.set_position(p.elapsed.as_millis() as u64);
            bar.set_message(format!("{} requests", p.finished));
            if p.done {
                bar.finish();
            }
        }
    })
}
