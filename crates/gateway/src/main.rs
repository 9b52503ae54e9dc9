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
mod dpdk;
mod echo;
mod run;
mod security;
mod stat;

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
    /// Run the gateway against a faulty simulated venue on loopback and check that the
    /// application receives every message exactly once, in order.
    Demo {
        /// How many ExecutionReports the venue sends [default: 100000, or 10000 with
        /// `--checker hwsim`, whose cycle-accurate simulation handles a few thousand a second].
        #[arg(long)]
        messages: Option<u64>,
        /// Seed of the fault injector and of the read sizes; the same seed replays the same run.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// FIX version: FIX.4.2, FIX.4.3, FIX.4.4, FIX.5.0, FIX.5.0SP1 or FIX.5.0SP2.
        #[arg(long, default_value = "FIX.4.4", value_parser = parse_version)]
        version: Version,
        /// The sequence checker: `software`, or `hwsim` (the verilated RTL, with the software
        /// checker as its shadow; needs a binary built with `--features hwsim`).
        #[arg(long, value_enum, default_value_t = config::CheckerName::Software)]
        checker: config::CheckerName,
    },
    /// Run the gateway: the configured sessions, their stores and application channels, until
    /// SIGINT or SIGTERM, then log out cleanly (docs/configuration.md).
    Run {
        /// The TOML configuration (docs/configuration.md).
        #[arg(long)]
        config: PathBuf,
        /// Listen on this port instead of the configured ones.
        #[arg(long)]
        port: Option<u16>,
    },
    /// Run the simulated exchange: a FIX counterparty with fault injection.
    Venue(Box<gapless_venue::VenueArgs>),
    /// Show the live counters of every session from its application channel.
    Stat {
        /// The channel directory ([gateway] channel_dir).
        #[arg(long, default_value = "/dev/shm/gapless")]
        dir: PathBuf,
        /// Refresh every this many milliseconds until interrupted; once if absent.
        #[arg(long)]
        watch: Option<u64>,
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
            checker,
        } => {
            run::init_tracing("warn");
            let messages = messages.unwrap_or(match checker {
                config::CheckerName::Software => 100_000,
                config::CheckerName::Hwsim => 10_000,
            });
            match demo::run(&demo::DemoConfig {
                messages,
                seed,
                version,
                checker,
            }) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("gapless demo: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run { config, port } => run::run(&config, port),
        Command::Venue(args) => run::venue(&args),
        Command::Stat { dir, watch } => stat::run(&dir, watch),
        Command::Acceptor { config, port } => match acceptor::run(&config, port) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("gapless acceptor: {error}");
                ExitCode::FAILURE
            }
        },
    }
}
