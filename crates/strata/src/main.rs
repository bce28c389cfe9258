//! The `strata` binary: one command-line front for the gateway, the emulator and the tools.

mod commands;

/// mimalloc: the request path allocates many small short-lived buffers; glibc's malloc was
/// a tenth of the emulator's profile.
#[cfg(not(feature = "dhat-heap"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// With `--features dhat-heap`: every allocation's site, and what is live at the peak, written to
/// `dhat-heap.json` when the command ends (slow: for finding where memory goes, not for speed).
#[cfg(feature = "dhat-heap")]
#[global_allocator]
static GLOBAL: dhat::Alloc = dhat::Alloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "strata", version, about = "Strata: an LLM gateway for Amazon Bedrock fleets")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a config against the live catalog; exits 1 on errors.
    Check(commands::check::CheckArgs),
    /// Scan every account x region once and print the availability matrix.
    Discover(commands::discover::DiscoverArgs),
    /// Show the candidates each logical model compiles to (per tenant, with --explain why not).
    Routes(commands::routes::RoutesArgs),
    /// Load an HTTP endpoint at a constant rate or concurrency and report latency percentiles.
    Bench(commands::bench::BenchArgs),
    /// Start the emulator and a gateway on a built-in demo config.
    Demo(commands::demo::DemoArgs),
    /// Run one of the seeds' experiments (emulator + gateway in process); `list` names them.
    Scenario(commands::scenario::ScenarioArgs),
    /// Run the gateway on a config file.
    Serve(commands::serve::ServeArgs),
    /// Run the Bedrock emulator: many accounts and regions on one address.
    Sim(commands::sim::SimArgs),
    /// Requests, errors, tokens and cost per tenant, model or day, from the usage database.
    Usage(commands::usage::UsageArgs),
}

/// Runs the command; an error is printed as one message (its causes joined, never a backtrace,
/// whatever `RUST_BACKTRACE` says) and the process exits 1.
fn main() {
    no_transparent_huge_pages();
    let cli = Cli::parse();
    #[cfg(feature = "dhat-heap")]
    let profiler = dhat::Profiler::new_heap();
    let result = run(cli);
    #[cfg(feature = "dhat-heap")]
    drop(profiler);
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// mimalloc asks Linux for transparent huge pages on its arenas, so memory is resident in 2 MiB
/// steps: a gateway at rest held 12 MB of huge pages, and 1,000 concurrent streams peaked at
/// 154 MB resident instead of 116 MB with them off (`bench/streams_memory.sh`, same build; no
/// loss seen on the relay paths in `bench/compare.sh`). They are turned off for the process
/// before anything is allocated in earnest.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        eprintln!("warning: cannot turn off transparent huge pages ({e}); memory use may be higher");
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // The one-shot tools print results on stdout; their logs say only what went wrong.
    let quiet = matches!(
        cli.command,
        Command::Check(_) | Command::Discover(_) | Command::Routes(_) | Command::Usage(_)
    );
    // A scenario's gateway warns on purpose (faults it injected); only its table matters.
    let default_level = match cli.command {
        Command::Scenario(_) => "error",
        _ if quiet => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Check(args) => {
            if !commands::check::run(args)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Discover(args) => commands::discover::run(args),
        Command::Routes(args) => commands::routes::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Scenario(args) => commands::scenario::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Sim(args) => commands::sim::run(args),
        Command::Usage(args) => commands::usage::run(args),
    }
}
