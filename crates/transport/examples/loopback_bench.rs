//! Loopback echo latency and one-way throughput for each backend configuration, measured in one
//! run so that the figures compare: sockets, io_uring plain, registered buffers, multishot
//! receive, and both.
//!
//! Both ends of each connection live in one transport on one thread (client sends, the transport
//! polls until the server end has the message, the server echoes it, polls until the client end
//! has it back), so a round trip is two loopback deliveries plus the polls between them, with no
//! cross-core wake-up. It compares the backends' per-operation overhead, not a deployment.
//!
//! Then `many` pairs in one transport, each echoing one message per round: the time for a
//! round, where multishot's one armed receive per connection could matter.
//!
//! `cargo run --release -p gapless-transport --example loopback_bench [round_trips] [megabytes]
//! [many] [rounds]`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gapless_transport::{
    ConnId, Event, FeatureChoice, SocketTransport, Transport, TransportConfig, UringConfig,
    UringTransport,
};

const MESSAGE: usize = 200;

fn poll_until<T: Transport>(t: &mut T, mut done: impl FnMut(&mut T) -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(t) {
        t.poll();
        if Instant::now() > deadline {
            return Err("timed out".into());
        }
    }
    Ok(())
}

fn pair<T: Transport>(t: &mut T) -> Result<(ConnId, ConnId), String> {
    let addr: SocketAddr = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    let (_, addr) = t.listen(addr).map_err(|e| e.to_string())?;
    let client = t.connect(addr).map_err(|e| e.to_string())?;
    let (mut connected, mut server) = (false, None);
    poll_until(t, |t| {
        while let Some(event) = t.next_event() {
            match event {
                Event::Connected { conn } if conn == client => connected = true,
                Event::Accepted { conn, .. } => server = Some(conn),
                _ => {}
            }
        }
        connected && server.is_some()
    })?;
    Ok((client, server.ok_or("no accept")?))
}

/// `n` client-server pairs through one listener.
fn pairs<T: Transport>(t: &mut T, n: usize) -> Result<Vec<(ConnId, ConnId)>, String> {
    let addr: SocketAddr = "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?;
    let (_, addr) = t.listen(addr).map_err(|e| e.to_string())?;
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(t.connect(addr).map_err(|e| e.to_string())?);
    }
    let (mut connected, mut servers) = (0, Vec::with_capacity(n));
    poll_until(t, |t| {
        while let Some(event) = t.next_event() {
            match event {
                Event::Connected { .. } => connected += 1,
                Event::Accepted { conn, .. } => servers.push(conn),
                _ => {}
            }
        }
        connected == n && servers.len() == n
    })?;
    // Accept order is not connect order; pair them by a first exchange.
    let mut paired = Vec::with_capacity(n);
    for (i, &client) in clients.iter().enumerate() {
        let tag = (i as u32).to_le_bytes();
        t.send(client, &tag).map_err(|e| e.to_string())?;
        let mut found = None;
        poll_until(t, |t| {
            found = servers
                .iter()
                .copied()
                .find(|&s| t.received(s).len() >= 4 && t.received(s)[..4] == tag);
            found.is_some()
        })?;
        let server = found.ok_or("unpaired")?;
        t.consume(server, 4);
        paired.push((client, server));
    }
    Ok(paired)
}

/// Median and 99th percentile of one round in which each of `n` clients sends a message and
/// gets it echoed.
fn measure_many<T: Transport>(
    mut t: T,
    n: usize,
    rounds: usize,
) -> Result<(Duration, Duration), String> {
    let conns = pairs(&mut t, n)?;
    let message = [b'y'; MESSAGE];
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds + 100 {
        let start = Instant::now();
        for &(client, _) in &conns {
            t.send(client, &message).map_err(|e| e.to_string())?;
        }
        let mut echoed = 0;
        let mut back = 0;
        let mut done = vec![(false, false); n];
        poll_until(&mut t, |t| {
            for (k, &(client, server)) in conns.iter().enumerate() {
                if !done[k].0 && t.received(server).len() >= MESSAGE {
                    t.consume(server, MESSAGE);
                    if t.send(server, &message).unwrap_or(0) == MESSAGE {
                        done[k].0 = true;
                        echoed += 1;
                    }
                }
                if done[k].0 && !done[k].1 && t.received(client).len() >= MESSAGE {
                    t.consume(client, MESSAGE);
                    done[k].1 = true;
                    back += 1;
                }
            }
            echoed == n && back == n
        })?;
        if i >= 100 {
            samples.push(start.elapsed());
        }
    }
    samples.sort_unstable();
    Ok((
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    ))
}

struct Figures {
    p50: Duration,
    p99: Duration,
    mb_per_s: f64,
}

fn measure<T: Transport>(
    mut t: T,
    round_trips: usize,
    megabytes: usize,
) -> Result<Figures, String> {
    let (client, server) = pair(&mut t)?;
    let message = [b'x'; MESSAGE];
    let mut samples = Vec::with_capacity(round_trips);
    for i in 0..round_trips + 1000 {
        let start = Instant::now();
        if t.send(client, &message).map_err(|e| e.to_string())? != MESSAGE {
            return Err("send queue full".into());
        }
        poll_until(&mut t, |t| t.received(server).len() >= MESSAGE)?;
        let echoed = t.send(server, &message).map_err(|e| e.to_string())?;
        t.consume(server, MESSAGE);
        if echoed != MESSAGE {
            return Err("echo queue full".into());
        }
        poll_until(&mut t, |t| t.received(client).len() >= MESSAGE)?;
        t.consume(client, MESSAGE);
        if i >= 1000 {
            samples.push(start.elapsed());
        }
    }
    samples.sort_unstable();
    let p50 = samples[samples.len() / 2];
    let p99 = samples[samples.len() * 99 / 100];

    let total = megabytes * 1024 * 1024;
    let piece = vec![7u8; 16 * 1024];
    let (mut sent, mut got) = (0usize, 0usize);
    let start = Instant::now();
    poll_until(&mut t, |t| {
        if sent < total {
            let n = piece.len().min(total - sent);
            sent += t.send(client, &piece[..n]).unwrap_or(0);
        }
        let n = t.received(server).len();
        t.consume(server, n);
        got += n;
        got == total
    })?;
    let mb_per_s = megabytes as f64 / start.elapsed().as_secs_f64();
    Ok(Figures { p50, p99, mb_per_s })
}

fn uring(registered: bool, multishot: bool, sqpoll: bool) -> Result<UringTransport, String> {
    uring_sized(registered, multishot, sqpoll, TransportConfig::default())
}

fn uring_sized(
    registered: bool,
    multishot: bool,
    sqpoll: bool,
    config: TransportConfig,
) -> Result<UringTransport, String> {
    let pick = |on| {
        if on {
            FeatureChoice::On
        } else {
            FeatureChoice::Off
        }
    };
    UringTransport::new(
        config,
        UringConfig {
            registered_buffers: pick(registered),
            registered_slots: 256,
            multishot_recv: pick(multishot),
            sqpoll_idle_ms: sqpoll.then_some(100),
            ..UringConfig::default()
        },
    )
    .map_err(|e| e.to_string())
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let round_trips: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let megabytes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let many: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    println!(
        "{round_trips} round trips of {MESSAGE} bytes, then {megabytes} MiB one way, 16 KiB sends"
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>12}",
        "backend", "p50 ns", "p99 ns", "MiB/s", "p50/sockets"
    );
    let mut base = None;
    let mut row = |name: &str, f: Figures| {
        let p50 = f.p50.as_nanos() as f64;
        let base = *base.get_or_insert(p50);
        println!(
            "{name:<28} {:>10} {:>10} {:>10.0} {:>12.2}",
            f.p50.as_nanos(),
            f.p99.as_nanos(),
            f.mb_per_s,
            p50 / base
        );
    };
    row(
        "sockets",
        measure(
            SocketTransport::new(TransportConfig::default()),
            round_trips,
            megabytes,
        )?,
    );
    let configs = [
        ("uring plain", false, false, false),
        ("uring registered", true, false, false),
        ("uring multishot", false, true, false),
        ("uring registered+multishot", true, true, false),
        ("uring plain sqpoll", false, false, true),
    ];
    for (name, registered, multishot, sqpoll) in configs {
        row(
            name,
            measure(
                uring(registered, multishot, sqpoll)?,
                round_trips,
                megabytes,
            )?,
        );
    }
    // Many connections: smaller buffers so that registration stays modest.
    let small = TransportConfig {
        recv_buffer: 16 * 1024,
        send_buffer: 16 * 1024,
        busy_poll_micros: None,
    };
    println!("\n{many} connection pairs, each echoing {MESSAGE} bytes per round, {rounds} rounds");
    println!(
        "{:<28} {:>10} {:>10} {:>12}",
        "backend", "p50 ns", "p99 ns", "p50/sockets"
    );
    let (s50, s99) = measure_many(SocketTransport::new(small), many, rounds)?;
    println!(
        "{:<28} {:>10} {:>10} {:>12.2}",
        "sockets",
        s50.as_nanos(),
        s99.as_nanos(),
        1.0
    );
    for (name, registered, multishot, sqpoll) in configs {
        let (p50, p99) = measure_many(
            uring_sized(registered, multishot, sqpoll, small)?,
            many,
            rounds,
        )?;
        println!(
            "{name:<28} {:>10} {:>10} {:>12.2}",
            p50.as_nanos(),
            p99.as_nanos(),
            p50.as_nanos() as f64 / s50.as_nanos() as f64
        );
    }
    Ok(())
}
