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
    /// Load an HTTP endpoint at a constant rate or concurrency and report latency percentiles.
    Bench(commands::bench::BenchArgs),
    /// Start the emulator and a gateway on a built-in demo config.
    Demo(commands::demo::DemoArgs),
    /// Run the gateway on a config file.
    Serve(commands::serve::ServeArgs),
    /// Run the Bedrock emulator: many accounts and regions on one address.
    Sim(commands::sim::SimArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Bench(args) => commands::bench::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Sim(args) => commands::sim::run(args),
    }
}
