//! `gapless-bench`: the end-to-end benchmark harness (issue 7).
//!
//! What it is: one program with a subcommand per figure, each run against the simulated exchange
//! (`gapless-venue`, in process, on its own pinned core, busy polling) with the Gapless gateway
//! inline on the other core and the application embedded in the gateway's loop. Every latency
//! goes into an HdrHistogram (nanoseconds); each figure leaves `<name>.hgrm` and `<name>.svg` in
//! the results folder and a line in its `summary.tsv`; `table` prints the Markdown tables with
//! Gapless/QuickFIX ratios. `scripts/bench.sh` builds everything and runs the whole set,
//! QuickFIX C++ (`benches/quickfix`) included; `docs/performance.md` explains the figures.
//!
//! - `roundtrip --rate R`: order to ExecutionReport through gateway and venue. `R = 0` is closed
//!   loop (one order in flight); otherwise open loop at R orders/s with latency measured from
//!   each order's intended send time (coordinated omission corrected).
//!   With `--window W`: orders as fast as the ring takes them, at most W unanswered (throughput
//!   of order and ExecutionReport, as `qf_bench --mode throughput` measures it).
//! - `stream --rate R`: the venue streams ExecutionReports; latency from the venue's
//!   TransactTime (µs precision, the same host clock) to the application reading the message
//!   from its ring, and the sustained rate. `R = 0` is as fast as the connection goes: the
//!   throughput figure. A second figure, `read-to-app-<R>`, is the wire-to-application time
//!   inside the gateway: from the receive call that returned a message's last bytes (the
//!   record's `received_nanos`) to the application reading it.
//! - `gap --size S --repeats K`: the venue drops S consecutive messages K times; the figure is the
//!   Recovered event's `after_nanos` (gap detection to release of the last held message), the
//!   resend rate, and the memory held per queued message.
//! - `loopback`: kernel TCP ping-pong of the same message sizes between the two cores, no FIX:
//!   the floor under the round trip.
//! - `ingest`, `rate`: record figures measured by another program (QuickFIX's `qf_bench`).
//! - `table`: the tables of a results folder.
//!
//! Every run takes `--gateway-cpu N` and `--venue-cpu N` (0 and 1), and `--store` for the
//! gateway session's outbound journal: `memory` (the default), or a memory-mapped `file` store
//! flushed at the end, every 64 messages (`file-batched`) or per message (`file-sync`).
//!
//! What it is not: a test (nothing here asserts a speed), or a measure of anything but this
//! host's loopback: no NIC, no kernel bypass (the DPDK transport is not benchmarked here).
#![forbid(unsafe_code)]

mod harness;
mod memory;
mod report;
mod scenarios;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use gapless_store::Durability;
use harness::StoreChoice;
use report::{ReportError, Results};

/// Why a benchmark could not produce its figure.
#[derive(Debug)]
pub enum BenchError {
    Usage(String),
    Venue(String),
    Start(String),
    Io(String),
    /// The run did not do what was measured: messages lost or repeated, a timeout, a gap that
    /// never opened. Its figures would mislead, so none are written.
    Check(String),
    Report(ReportError),
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Usage(text) => write!(f, "usage: {text}"),
            BenchError::Venue(text) => write!(f, "venue: {text}"),
            BenchError::Start(text) => write!(f, "gateway: {text}"),
            BenchError::Io(text) => write!(f, "{text}"),
            BenchError::Check(text) => write!(f, "check failed: {text}"),
            BenchError::Report(error) => write!(f, "results: {error}"),
        }
    }
}

impl From<ReportError> for BenchError {
    fn from(error: ReportError) -> Self {
        BenchError::Report(error)
    }
}

const USAGE: &str = "\
gapless-bench COMMAND --results DIR [options]
  roundtrip --rate R --count N [--warmup W] [--window W] [--time-limit S]
  stream    --rate R --count N [--time-limit S]
  gap       --size S --repeats K [--stream-rate R] [--request-chunk N] [--time-limit S]
  loopback  --count N [--warmup W] [--out-bytes B] [--in-bytes B]
  ingest    --name NAME --latencies FILE [--rate R] [--note TEXT]   (qf_bench --latencies)
  rate      --name NAME --count N --rate R [--note TEXT]
  table
common: --gateway-cpu C (0) --venue-cpu C (1)";

/// `--key value` options.
#[derive(Debug)]
pub struct Options {
    values: HashMap<String, String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, BenchError> {
        let mut values = HashMap::new();
        let mut iter = args.iter();
        while let Some(key) = iter.next() {
            let key = key
                .strip_prefix("--")
                .ok_or_else(|| BenchError::Usage(format!("unexpected argument {key}")))?;
            let value = iter
                .next()
                .ok_or_else(|| BenchError::Usage(format!("--{key} needs a value")))?;
            values.insert(key.to_string(), value.clone());
        }
        Ok(Options { values })
    }

    pub fn str(&self, key: &str) -> Result<&str, BenchError> {
        self.values
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| BenchError::Usage(format!("--{key} is required")))
    }

    pub fn str_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.values.get(key).map_or(default, String::as_str)
    }

    pub fn number(&self, key: &str) -> Result<u64, BenchError> {
        let text = self.str(key)?;
        text.replace('_', "")
            .parse()
            .map_err(|_| BenchError::Usage(format!("--{key} {text}: not a number")))
    }

    pub fn number_or(&self, key: &str, default: u64) -> Result<u64, BenchError> {
        if self.values.contains_key(key) {
            self.number(key)
        } else {
            Ok(default)
        }
    }

    pub fn setup(&self) -> Result<harness::Setup, BenchError> {
        let store = match self.str_or("store", "memory") {
            "memory" => StoreChoice::Memory,
            "file" => StoreChoice::File(Durability::None),
            "file-batched" => StoreChoice::File(Durability::Batched { every: 64 }),
            "file-sync" => StoreChoice::File(Durability::PerMessage),
            other => {
                return Err(BenchError::Usage(format!(
                    "--store {other}: memory, file, file-batched or file-sync"
                )));
            }
        };
        Ok(harness::Setup {
            gateway_cpu: self.number_or("gateway-cpu", 0)? as usize,
            venue_cpu: self.number_or("venue-cpu", 1)? as usize,
            store,
        })
    }
}

fn run(args: &[String]) -> Result<(), BenchError> {
    let Some((command, rest)) = args.split_first() else {
        return Err(BenchError::Usage(USAGE.into()));
    };
    let options = Options::parse(rest)?;
    let results = Results::open(&PathBuf::from(options.str("results")?))?;
    match command.as_str() {
        "roundtrip" => scenarios::roundtrip(&options, &results),
        "stream" => scenarios::stream(&options, &results),
        "gap" => scenarios::gap(&options, &results),
        "loopback" => scenarios::loopback(&options, &results),
        "ingest" => scenarios::ingest(&options, &results),
        "rate" => {
            let rate = options
                .str("rate")?
                .parse::<f64>()
                .map_err(|_| BenchError::Usage("--rate: not a number".into()))?;
            results.rate(
                options.str("name")?,
                options.number("count")?,
                rate,
                options.str_or("note", ""),
            )?;
            Ok(())
        }
        "table" => {
            let text = report::tables(&results.rows()?);
            let path = results.dir.join("summary.md");
            std::fs::write(&path, &text)
                .map_err(|e| BenchError::Io(format!("{}: {e}", path.display())))?;
            print!("{text}");
            Ok(())
        }
        other => Err(BenchError::Usage(format!(
            "unknown command {other}\n{USAGE}"
        ))),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gapless-bench: {error}");
            ExitCode::FAILURE
        }
    }
}
