//! `strata bench`: loads one endpoint with a repeated request, open loop at a constant rate
//! (latency from each request's due time, so stalls are not hidden) or closed loop at a fixed
//! concurrency, and prints latency and first-byte percentiles.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use strata_bench::{Load, RunOptions, Target};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The URL to load (http:// only).
    pub url: String,
    /// Open loop: requests per second, sent on schedule whatever the answers do.
    #[arg(long, conflicts_with = "concurrency")]
    pub rate: Option<f64>,
    /// Closed loop: workers each sending again as soon as answered.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
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
    let options = RunOptions {
        load: match args.rate {
            Some(rate) => Load::Rate(rate),
            None => Load::Concurrency(args.concurrency),
        },
        warmup: seconds("warmup", args.warmup)?,
        duration: seconds("duration", args.duration)?,
        timeout: seconds("timeout", args.timeout)?,
        max_in_flight: args.max_in_flight,
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        builder.worker_threads(n.max(1));
    }
    let runtime = builder.enable_all().build().context("cannot start the async runtime")?;
    let report = runtime.block_on(strata_bench::run(target, options))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}
