//! The `strata` binary: one command-line front for the gateway, the emulator and the tools.

mod commands;

/// mimalloc: the request path allocates many small short-lived buffers; glibc's malloc was
/// a tenth of the emulator's profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
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
