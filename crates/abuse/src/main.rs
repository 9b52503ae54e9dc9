//! `gapless-abuse`: runs one attack of [`gapless_abuse::attack::ATTACKS`] against a gateway's
//! acceptor session and prints one summary line; exits non-zero if the gateway misbehaved.
//!
//! ```text
//! gapless-abuse --connect 127.0.0.1:9878 --sender ABUSE1 --target GAPLESS --attack slowloris
//! gapless-abuse --list
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use gapless_abuse::attack::{self, ATTACKS, Target};
use gapless_abuse::corpus;
use gapless_abuse::peer::Identity;

#[derive(Debug, Parser)]
#[command(
    name = "gapless-abuse",
    about = "Hostile FIX peers against a running gateway"
)]
struct Args {
    /// Print the attacks and exit.
    #[arg(long)]
    list: bool,
    /// The attack to run (see --list).
    #[arg(long, required_unless_present = "list")]
    attack: Option<String>,
    /// The gateway's acceptor address (loopback).
    #[arg(long, required_unless_present = "list")]
    connect: Option<SocketAddr>,
    /// Our SenderCompID: the attacked session's target_comp_id.
    #[arg(long, default_value = "ABUSE")]
    sender: String,
    /// Our TargetCompID: the attacked session's sender_comp_id.
    #[arg(long, default_value = "GAPLESS")]
    target: String,
    /// The attacked session's BeginString.
    #[arg(long, default_value = "FIX.4.4")]
    begin_string: String,
    /// The larger variants.
    #[arg(long)]
    long: bool,
    /// Seed of the random bytes and corpus mutations.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Corpus directories (files are inputs; missing directories are skipped).
    #[arg(long)]
    corpus: Vec<PathBuf>,
    /// Mutations per corpus input (default 8; 64 with --long).
    #[arg(long)]
    mutations: Option<u32>,
    /// The attacked session's logon timeout in seconds: how long the gateway may wait for a
    /// first message before it must close.
    #[arg(long, default_value_t = 10)]
    logon_timeout: u64,
    /// The attacked session's `resend.max_requests_per_second`.
    #[arg(long, default_value_t = 100)]
    resend_limit: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list {
        for attack in ATTACKS {
            println!("{:22} {}", attack.name, attack.what);
        }
        return ExitCode::SUCCESS;
    }
    let (Some(name), Some(addr)) = (args.attack.as_deref(), args.connect) else {
        eprintln!("gapless-abuse: --attack and --connect are required");
        return ExitCode::from(2);
    };
    let Some(attack) = attack::find(name) else {
        eprintln!("gapless-abuse: no attack named {name} (see --list)");
        return ExitCode::from(2);
    };
    let mutations = args.mutations.unwrap_or(if args.long { 64 } else { 8 });
    let dirs: Vec<&std::path::Path> = args.corpus.iter().map(PathBuf::as_path).collect();
    let corpus = match corpus::load(&dirs, mutations, args.seed) {
        Ok(corpus) => corpus,
        Err(error) => {
            eprintln!("gapless-abuse: cannot read the corpus: {error}");
            return ExitCode::FAILURE;
        }
    };
    let needs_corpus = matches!(
        attack.plan,
        attack::Plan::CorpusBeforeLogon | attack::Plan::CorpusAfterLogon
    );
    if needs_corpus && corpus.is_empty() {
        eprintln!("gapless-abuse: {name} needs --corpus with at least one file");
        return ExitCode::from(2);
    }
    let target = Target {
        addr,
        identity: Identity {
            sender: args.sender,
            target: args.target,
            begin_string: args.begin_string,
        },
        long: args.long,
        seed: args.seed,
        corpus,
        close_within: Duration::from_secs(args.logon_timeout + 3),
        resend_limit: args.resend_limit,
    };
    let start = Instant::now();
    let report = attack::run(attack, &target);
    println!(
        "gapless-abuse: attack={name} connections={} closed_by_gateway={} probes_answered={} \
         resends_answered={} bytes_sent={} longest_close_ms={} elapsed_ms={} failures={}",
        report.connections,
        report.closed_by_gateway,
        report.probes_answered,
        report.resends_answered,
        report.bytes_sent,
        report.longest_close.as_millis(),
        start.elapsed().as_millis(),
        report.failures.len(),
    );
    for failure in report.failures.iter().take(20) {
        println!("   failure: {failure}");
    }
    if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
