//! The `gapless-proxy` binary on loopback: a client and an upstream made of plain sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gapless_codec::{Decoded, Limits, decode};

fn message(seq: u64, poss_dup: bool) -> Vec<u8> {
    let dup = if poss_dup { "43=Y\x01" } else { "" };
    let body = format!("35=0\x0134={seq}\x01{dup}");
    let head = format!("8=FIX.4.4\x019={}\x01{body}", body.len());
    let sum = head.bytes().map(u32::from).sum::<u32>() % 256;
    format!("{head}10={sum:03}\x01").into_bytes()
}

/// Starts the proxy in front of `upstream` and returns it with its listening address.
fn proxy(upstream: SocketAddr, extra: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gapless-proxy"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--connect",
            &upstream.to_string(),
        ])
        .args(["--duration", "60"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("gapless-proxy: listening on ")
        .expect("the first line names the address")
        .parse()
        .unwrap();
    (child, addr)
}

/// The MsgSeqNums of the messages read from `stream` until `count` arrived or 5 s passed.
fn read_seqs(stream: &mut TcpStream, count: usize) -> Vec<u64> {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut bytes, mut seqs) = (Vec::new(), Vec::new());
    let mut buffer = [0u8; 4096];
    while seqs.len() < count && Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
            Err(_) => continue,
        }
        while let Decoded::Message(m) = decode(&bytes, &Limits::default()) {
            seqs.push(m.msg_seq_num().unwrap());
            let len = m.len();
            bytes.drain(..len);
        }
    }
    seqs
}

fn connect_pair(upstream: &TcpListener, proxy: SocketAddr) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(proxy).unwrap();
    let (server, _) = upstream.accept().unwrap();
    (client, server)
}

#[test]
fn chosen_seqs_are_dropped_once_each_way_and_resends_pass() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut child, addr) = proxy(
        upstream.local_addr().unwrap(),
        &["--drop-seq-to-upstream", "3", "--drop-seq-to-client", "2"],
    );
    let (mut client, mut server) = connect_pair(&upstream, addr);
    for seq in 1..=5 {
        client.write_all(&message(seq, false)).unwrap();
    }
    client.write_all(&message(3, true)).unwrap();
    assert_eq!(read_seqs(&mut server, 5), [1, 2, 4, 5, 3]);
    for seq in 1..=3 {
        server.write_all(&message(seq, false)).unwrap();
    }
    server.write_all(&message(2, true)).unwrap();
    assert_eq!(read_seqs(&mut client, 3), [1, 3, 2]);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn upstream_closing_closes_the_client_and_the_next_connection_is_relayed() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut child, addr) = proxy(upstream.local_addr().unwrap(), &[]);
    let (mut client, server) = connect_pair(&upstream, addr);
    drop(server);
    assert_eq!(read_seqs(&mut client, 1), []);
    let mut probe = [0u8; 1];
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(matches!(client.read(&mut probe), Ok(0) | Err(_)));

    let (mut client, mut server) = connect_pair(&upstream, addr);
    client.write_all(&message(7, false)).unwrap();
    assert_eq!(read_seqs(&mut server, 1), [7]);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn cut_probability_one_closes_both_sides_at_the_first_message() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut child, addr) = proxy(
        upstream.local_addr().unwrap(),
        &["--cut", "1", "--fault-admin"],
    );
    let (mut client, mut server) = connect_pair(&upstream, addr);
    client.write_all(&message(1, false)).unwrap();
    assert_eq!(read_seqs(&mut server, 1), []);
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut probe = [0u8; 1];
    assert!(matches!(server.read(&mut probe), Ok(0) | Err(_)));
    assert!(matches!(client.read(&mut probe), Ok(0) | Err(_)));
    child.kill().unwrap();
    child.wait().unwrap();
}
