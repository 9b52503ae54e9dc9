//! Runs the simulation over many seeds. See docs/testing.md.
//!
//! - `seeds`: `GAPLESS_SIM_SEEDS` seeds from `GAPLESS_SIM_FIRST_SEED` (default 0), on every
//!   core. The default is 10,000 in a release build and 500 in a debug build, where 10,000 take
//!   one to three minutes: `scripts/test.sh` runs both builds, the debug one for its integer
//!   overflow checks.
//! - `replay`: one seed, `GAPLESS_SIM_SEED` (default 1), printing its trace.
//! - `same_seed_same_trace`: determinism, which replay relies on.
//!
//! `GAPLESS_SIM_FAULTS=heavy` runs any of them with [`Intensity::Heavy`] instead of `Normal`.

use std::thread;
use std::time::Instant;

use core::time::Duration;

use gapless_sim::{Failure, Intensity, Report, run};

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a number")),
        Err(_) => default,
    }
}

fn intensity() -> Intensity {
    match std::env::var("GAPLESS_SIM_FAULTS").as_deref() {
        Ok("heavy") => Intensity::Heavy,
        Ok("normal") | Err(_) => Intensity::Normal,
        Ok(other) => panic!("GAPLESS_SIM_FAULTS={other}: expected normal or heavy"),
    }
}

fn replay_line(seed: u64) -> String {
    let faults = match intensity() {
        Intensity::Normal => "",
        Intensity::Heavy => "GAPLESS_SIM_FAULTS=heavy ",
    };
    format!(
        "replay: {faults}GAPLESS_SIM_SEED={seed} cargo test -p gapless-sim --release --test seeds replay -- --nocapture"
    )
}

/// What the passing seeds did, added up.
#[derive(Debug, Default)]
struct Totals {
    app_messages: u64,
    faults: u64,
    connections: u64,
    restarts: u64,
    slowest_settle: Duration,
}

impl Totals {
    fn add(&mut self, report: &Report) {
        self.app_messages += report.app_messages.iter().sum::<u64>();
        self.faults += report.faults;
        self.connections += report.connections;
        self.restarts += report.restarts;
        self.slowest_settle = self.slowest_settle.max(report.settled_after);
    }

    fn merge(&mut self, other: &Totals) {
        self.app_messages += other.app_messages;
        self.faults += other.faults;
        self.connections += other.connections;
        self.restarts += other.restarts;
        self.slowest_settle = self.slowest_settle.max(other.slowest_settle);
    }
}

/// Runs `count` seeds from `first`, split over the available cores.
fn run_seeds(first: u64, count: u64) -> (Totals, Vec<Failure>) {
    let threads = thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let intensity = intensity();
    let mut totals = Totals::default();
    let mut failures = Vec::new();
    thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut totals = Totals::default();
                    let mut failures = Vec::new();
                    for seed in (first + t..first + count).step_by(threads as usize) {
                        match run(seed, intensity, None) {
                            Ok(report) => totals.add(&report),
                            Err(failure) => failures.push(failure),
                        }
                    }
                    (totals, failures)
                })
            })
            .collect();
        for worker in workers {
            let (t, f) = worker.join().expect("a simulation thread panicked");
            totals.merge(&t);
            failures.extend(f);
        }
    });
    failures.sort_by_key(|f: &Failure| f.seed);
    (totals, failures)
}

fn check(first: u64, count: u64) {
    // Wall time only for the summary line; the simulation itself runs on virtual time.
    let started = Instant::now();
    let (totals, failures) = run_seeds(first, count);
    println!(
        "{count} seeds from {first} in {:.1} s, {} failed; passing seeds: {totals:?}",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    for failure in failures.iter().take(10) {
        eprintln!("{failure}\n  {}", replay_line(failure.seed));
    }
    assert!(failures.is_empty(), "{} seeds failed", failures.len());
}

/// See the file's documentation.
const DEFAULT_SEEDS: u64 = if cfg!(debug_assertions) { 500 } else { 10_000 };

#[test]
fn seeds() {
    check(
        env_u64("GAPLESS_SIM_FIRST_SEED", 0),
        env_u64("GAPLESS_SIM_SEEDS", DEFAULT_SEEDS),
    );
}

#[test]
fn replay() {
    let seed = env_u64("GAPLESS_SIM_SEED", 1);
    let mut trace = String::new();
    let outcome = run(seed, intensity(), Some(&mut trace));
    println!("{trace}");
    if let Err(failure) = outcome {
        panic!("{failure}\n{}", replay_line(seed));
    }
}

#[test]
fn same_seed_same_trace() {
    let trace = |seed| {
        let mut trace = String::new();
        let _ = run(seed, Intensity::Normal, Some(&mut trace));
        trace
    };
    for seed in [2, 3, 4] {
        assert_eq!(trace(seed), trace(seed));
    }
}
