//! `gapless run` and `gapless venue`: the long-running commands, stopped by SIGINT or SIGTERM.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::config::Config;

/// A flag that SIGINT and SIGTERM set, so that the loops can shut down cleanly.
fn stop_on_signals() -> std::io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    Ok(stop)
}

/// Logs events to stderr; `RUST_LOG` filters (default `default_level`).
pub fn init_tracing(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn run(config_path: &Path, port: Option<u16>) -> ExitCode {
    init_tracing("info");
    let loaded = Config::load(config_path).and_then(|config| {
        let dpdk = crate::dpdk::plan(&config.gateway)?;
        Ok((config.runtime(port)?, dpdk))
    });
    let (runtime, dpdk) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("gapless run: {}: {error}", config_path.display());
            return ExitCode::FAILURE;
        }
    };
    let stop = match stop_on_signals() {
        Ok(stop) => stop,
        Err(error) => {
            eprintln!("gapless run: cannot handle signals: {error}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        sessions = runtime.sessions.len(),
        mode = ?runtime.mode,
        transport = %match dpdk {
            Some(_) => "dpdk".to_owned(),
            None => format!("{:?}", runtime.transport),
        },
        "gapless run: starting"
    );
    let result = match dpdk {
        Some(plan) => crate::dpdk::run(&runtime, plan, &stop),
        None => gapless_runtime::run(&runtime, &stop),
    };
    match result {
        Ok(()) => {
            tracing::info!("gapless run: stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("gapless run: {error}");
            ExitCode::FAILURE
        }
    }
}

pub fn venue(args: &gapless_venue::VenueArgs) -> ExitCode {
    init_tracing("info");
    let config = match args.to_config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("gapless venue: {error}");
            return ExitCode::FAILURE;
        }
    };
    let stop = match stop_on_signals() {
        Ok(stop) => stop,
        Err(error) => {
            eprintln!("gapless venue: cannot handle signals: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = gapless_venue::run(&config, &stop, |progress| {
        eprintln!("gapless venue: {progress}");
    });
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("gapless venue: {error}");
            ExitCode::FAILURE
        }
    }
}
