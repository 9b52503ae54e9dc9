//! Round-trip latency of a 200-byte message over loopback, plain TCP against TLS 1.3
//! (`TlsTransport` over `SocketTransport`), in the same run, on one thread that polls both ends.
//! Prints the median, 99th percentile and mean of each. A benchmark, not a test:
//!
//! ```text
//! cargo run --release -p gapless-transport --example tls_round_trip [round trips]
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gapless_transport::{
    ConnId, Event, SocketTransport, TlsClientFiles, TlsServerFiles, TlsSettings, TlsTransport,
    Transport, TransportConfig,
};

const MESSAGE_LEN: usize = 200;

/// Polls both ends until each has seen its connection event; returns (client, server) ids.
fn establish<T: Transport>(client: &mut T, server: &mut T, addr: SocketAddr) -> (ConnId, ConnId) {
    let c = client.connect(addr).expect("connect");
    let (mut connected, mut accepted) = (false, None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(connected && accepted.is_some()) {
        assert!(Instant::now() < deadline, "no connection");
        client.poll();
        server.poll();
        while let Some(event) = client.next_event() {
            connected |= matches!(event, Event::Connected { .. });
        }
        while let Some(event) = server.next_event() {
            if let Event::Accepted { conn, .. } = event {
                accepted = Some(conn);
            }
        }
    }
    (c, accepted.unwrap_or(c))
}

/// Sends `message` from `from` and polls until `to` has it all.
fn one_way<T: Transport>(from: &mut T, f: ConnId, to: &mut T, t: ConnId, message: &[u8]) {
    assert_eq!(from.send(f, message), Ok(message.len()), "send queue full");
    let deadline = Instant::now() + Duration::from_secs(20);
    while to.received(t).len() < message.len() {
        assert!(Instant::now() < deadline, "message lost");
        from.poll();
        to.poll();
    }
    to.consume(t, message.len());
}

/// Round-trip times in nanoseconds, sorted.
fn measure<T: Transport>(
    client: &mut T,
    server: &mut T,
    addr: SocketAddr,
    rounds: usize,
) -> Vec<u64> {
    let (c, s) = establish(client, server, addr);
    let message = [b'x'; MESSAGE_LEN];
    for _ in 0..rounds / 10 {
        one_way(client, c, server, s, &message);
        one_way(server, s, client, c, &message);
    }
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        one_way(client, c, server, s, &message);
        one_way(server, s, client, c, &message);
        times.push(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    times.sort_unstable();
    times
}

fn report(name: &str, times: &[u64]) {
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let mean = times.iter().sum::<u64>() / times.len() as u64;
    println!(
        "{name:<5} {} round trips: median {:.1} us, p99 {:.1} us, mean {:.1} us",
        times.len(),
        at(0.5) as f64 / 1000.0,
        at(0.99) as f64 / 1000.0,
        mean as f64 / 1000.0
    );
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000)
        .max(10);
    let config = TransportConfig::default();
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");

    let mut server = SocketTransport::new(config);
    let (_, addr) = server.listen(listen).expect("listen");
    let mut client = SocketTransport::new(config);
    let plain = measure(&mut client, &mut server, addr, rounds);

    let dir = tempfile::tempdir().expect("temporary directory");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let (cert, key) = (dir.path().join("c.crt"), dir.path().join("c.key"));
    std::fs::write(&cert, certified.cert.pem()).expect("write");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("write");
    let mut settings = TlsSettings::default();
    let server_files = TlsServerFiles {
        cert: cert.clone(),
        key,
        client_ca: None,
    };
    settings
        .add_server(listen, server_files.load().expect("server config"))
        .expect("settings");
    let mut server = TlsTransport::new(SocketTransport::new(config), config, settings);
    let (_, addr) = server.listen(listen).expect("listen");
    let client_files = TlsClientFiles {
        ca: cert,
        server_name: "localhost".into(),
        client_cert: None,
    };
    let mut settings = TlsSettings::default();
    settings
        .add_client(addr, client_files.load().expect("client config"))
        .expect("settings");
    let mut client = TlsTransport::new(SocketTransport::new(config), config, settings);
    let tls = measure(&mut client, &mut server, addr, rounds);

    report("plain", &plain);
    report("tls", &tls);
}
