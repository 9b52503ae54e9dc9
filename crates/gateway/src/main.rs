//! # gapless: the Gapless FIX gateway binary
//!
//! What this is: the command-line entry point. `gapless demo` exercises the codec and the
//! dictionaries on a simulated, faulty venue stream. `gapless acceptor` runs configured sessions
//! on a plain socket loop with the echo test application, for conformance testing. The gateway runtime
//! (`gapless run`), the simulated venue (`gapless venue`) and live counters (`gapless stat`)
//! arrive with the runtime.
//!
//! What it is not: protocol logic. Framing, parsing and validation live in `gapless-codec` and
//! `gapless-dict`; this binary wires them up, reads the clock and prints.
#![forbid(unsafe_code)]

mod acceptor;
mod config;
mod demo;
mod echo;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gapless_dict::Version;

#[derive(Debug, Parser)]
#[command(
    name = "gapless",
    version,
    about = "Gapless: a low-latency FIX gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Encode a venue stream, damage it, and watch the gateway side detect every fault.
    Demo {
        /// How many ExecutionReports the venue sends.
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
        /// Seed of the fault injector and of the read sizes; the same seed replays the same run.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// FIX version: FIX.4.2, FIX.4.3, FIX.4.4, FIX.5.0, FIX.5.0SP1 or FIX.5.0SP2.
        #[arg(long, default_value = "FIX.4.4", value_parser = parse_version)]
        version: Version,
    },
    /// Run the configured sessions as an acceptor, with the echo test application behind them
    /// (the application QuickFIX's session acceptance scripts expect; see docs/configuration.md).
    Acceptor {
        /// The TOML configuration (docs/configuration.md).
        #[arg(long)]
        config: PathBuf,
        /// Listen on this port instead of the configured one.
        #[arg(long)]
        port: Option<u16>,
    },
}

fn parse_version(name: &str) -> Result<Version, String> {
    config::parse_version(name).ok_or_else(|| format!("unknown FIX version {name:?}"))
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Demo {
            messages,
            seed,
            version,
        } => match demo::run(&demo::DemoConfig {
            messages,
            seed,
            version,
        }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("gapless demo: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Acceptor { config, port } => match acceptor::run(&config, port) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("gapless acceptor: {error}");
                ExitCode::FAILURE
            }
        },
    }
}
