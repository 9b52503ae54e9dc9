//! # gapless-proxy: a FIX-aware fault proxy
//!
//! Listens on `--listen`, and for each accepted connection (one at a time) connects to
//! `--connect` and relays both directions, whole FIX messages at a time, through
//! [`gapless_proxy::Direction`]: the simulation's seeded fault injector (`--drop`,
//! `--duplicate`, `--delay`, `--corrupt`, `--cut`, applied to both directions) and deterministic
//! drops of chosen MsgSeqNums per direction (`--drop-seq-to-upstream`, `--drop-seq-to-client`).
//! The seeded faults spare session-level messages and resends unless `--fault-admin` and
//! `--fault-resends` say otherwise.
//! A cut, or either side closing, closes both connections; the next accepted connection carries
//! on with the same injectors. Runs until SIGINT or SIGTERM or `--duration`, then prints one
//! summary line per direction.
//!
//! What it is not: a load balancer or a TLS terminator; it never answers a message itself and
//! only listens and connects where it is told (use loopback).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clap::Parser;
use gapless_proxy::{Direction, DirectionStats, Output, Spare};
use gapless_sim::fault::FaultPlan;

#[derive(Debug, Parser)]
#[command(name = "gapless-proxy", about = "A FIX-aware fault proxy for tests")]
struct Args {
    /// Address to accept the client (the initiator) on.
    #[arg(long)]
    listen: SocketAddr,
    /// Address of the upstream (the acceptor) to connect to for each accepted connection.
    #[arg(long)]
    connect: SocketAddr,
    /// Seed of the fault decisions (each direction derives its own).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Probability per message that it is lost.
    #[arg(long, default_value_t = 0.0)]
    drop: f64,
    /// Probability per message that it is sent twice.
    #[arg(long, default_value_t = 0.0)]
    duplicate: f64,
    /// Probability per message that it is held back behind later ones.
    #[arg(long, default_value_t = 0.0)]
    delay: f64,
    /// How many later messages a delayed one waits for, at most.
    #[arg(long, default_value_t = 3)]
    max_delay_messages: u32,
    /// Probability per message that one of its bytes is changed.
    #[arg(long, default_value_t = 0.0)]
    corrupt: f64,
    /// Probability per message that the connection is cut there.
    #[arg(long, default_value_t = 0.0)]
    cut: f64,
    /// Drop the client's messages with these MsgSeqNums the first time each is sent without
    /// PossDupFlag=Y (SEQ[,SEQ...]).
    #[arg(long, value_delimiter = ',', value_name = "SEQ")]
    drop_seq_to_upstream: Vec<u64>,
    /// The same for the upstream's messages to the client.
    #[arg(long, value_delimiter = ',', value_name = "SEQ")]
    drop_seq_to_client: Vec<u64>,
    /// Let the seeded faults hit session-level messages too (by default they are spared).
    #[arg(long)]
    fault_admin: bool,
    /// Let the seeded faults hit resends (PossDupFlag=Y) too (by default they are spared).
    #[arg(long)]
    fault_resends: bool,
    /// Exit after this many seconds.
    #[arg(long, default_value_t = 600)]
    duration: u64,
}

/// How often blocked reads and the accept loop look at the stop flag.
const POLL: Duration = Duration::from_millis(50);

fn main() -> ExitCode {
    let args = Args::parse();
    let plan = FaultPlan {
        cut: args.cut,
        drop: args.drop,
        corrupt: args.corrupt,
        duplicate: args.duplicate,
        delay: args.delay,
        max_delay_messages: args.max_delay_messages,
    };
    let spare = Spare {
        admin: !args.fault_admin,
        resends: !args.fault_resends,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(error) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("gapless-proxy: signal handler: {error}");
            return ExitCode::FAILURE;
        }
    }
    let to_upstream = Arc::new(Mutex::new(
        Direction::new(plan, args.seed, args.drop_seq_to_upstream.iter().copied())
            .with_spare(spare),
    ));
    let to_client = Arc::new(Mutex::new(
        Direction::new(
            plan,
            args.seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(1),
            args.drop_seq_to_client.iter().copied(),
        )
        .with_spare(spare),
    ));
    let result = serve(&args, &stop, &to_upstream, &to_client);
    let lock = |d: &Arc<Mutex<Direction>>| {
        let d = d.lock().unwrap_or_else(PoisonError::into_inner);
        (d.stats(), d.pending_drops().collect::<Vec<_>>())
    };
    let (up, up_pending) = lock(&to_upstream);
    let (down, down_pending) = lock(&to_client);
    match result {
        Ok(connections) => {
            println!("gapless-proxy: connections={connections}");
            print_stats("to-upstream", &up, &up_pending);
            print_stats("to-client", &down, &down_pending);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("gapless-proxy: {error}");
            ExitCode::FAILURE
        }
    }
}

fn print_stats(name: &str, s: &DirectionStats, pending: &[u64]) {
    println!(
        "gapless-proxy: {name} messages={} dropped_by_seq={} pending_seq_drops={pending:?} dropped={} duplicated={} delayed={} corrupted={} cuts={} garbled_bytes={}",
        s.messages,
        s.dropped_by_seq,
        s.dropped,
        s.duplicated,
        s.delayed,
        s.corrupted,
        s.cuts,
        s.garbled_bytes
    );
}

/// Accepts and relays connection pairs, one at a time, until stopped. Returns how many.
fn serve(
    args: &Args,
    stop: &AtomicBool,
    to_upstream: &Arc<Mutex<Direction>>,
    to_client: &Arc<Mutex<Direction>>,
) -> std::io::Result<u64> {
    let listener = TcpListener::bind(args.listen)?;
    listener.set_nonblocking(true)?;
    println!("gapless-proxy: listening on {}", listener.local_addr()?);
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let mut connections = 0;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(error) => return Err(error),
        };
        let upstream = match TcpStream::connect_timeout(&args.connect, Duration::from_secs(2)) {
            Ok(upstream) => upstream,
            Err(error) => {
                eprintln!("gapless-proxy: upstream {}: {error}", args.connect);
                let _ = client.shutdown(Shutdown::Both);
                continue;
            }
        };
        connections += 1;
        eprintln!("gapless-proxy: connection {connections} open");
        for direction in [to_upstream, to_client] {
            direction
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .reset();
        }
        relay(client, upstream, stop, deadline, to_upstream, to_client)?;
        eprintln!("gapless-proxy: connection {connections} closed");
    }
    Ok(connections)
}

/// Relays one connection pair until either side closes, a cut, or the stop.
fn relay(
    client: TcpStream,
    upstream: TcpStream,
    stop: &AtomicBool,
    deadline: Instant,
    to_upstream: &Arc<Mutex<Direction>>,
    to_client: &Arc<Mutex<Direction>>,
) -> std::io::Result<()> {
    for stream in [&client, &upstream] {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(POLL))?;
    }
    let closed = AtomicBool::new(false);
    let (client_w, upstream_w) = (client.try_clone()?, upstream.try_clone()?);
    std::thread::scope(|scope| {
        let a = scope.spawn(|| pump(&client, upstream_w, to_upstream, stop, &closed, deadline));
        let b = scope.spawn(|| pump(&upstream, client_w, to_client, stop, &closed, deadline));
        for handle in [a, b] {
            if let Ok(Err(error)) = handle.join() {
                eprintln!("gapless-proxy: {error}");
            }
        }
    });
    for stream in [&client, &upstream] {
        let _ = stream.shutdown(Shutdown::Both);
    }
    Ok(())
}

/// One direction: read, frame, fault, write. Ends both directions when it ends.
fn pump(
    mut from: &TcpStream,
    mut to: TcpStream,
    direction: &Mutex<Direction>,
    stop: &AtomicBool,
    closed: &AtomicBool,
    deadline: Instant,
) -> std::io::Result<()> {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    let end = |to: &TcpStream| {
        closed.store(true, Ordering::Relaxed);
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    };
    while !stop.load(Ordering::Relaxed) && !closed.load(Ordering::Relaxed) {
        if Instant::now() >= deadline {
            break;
        }
        let n = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                continue;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        direction
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(&buffer[..n], &mut out);
        for output in out.drain(..) {
            match output {
                Output::Data(bytes) => {
                    if to.write_all(&bytes).is_err() {
                        end(&to);
                        return Ok(());
                    }
                }
                Output::Cut => {
                    end(&to);
                    return Ok(());
                }
            }
        }
    }
    end(&to);
    Ok(())
}
