//! Two `gapless run` processes over TLS with credentials, configured as an operator would: the
//! acceptor with `tls = { cert, key }`, `username` and `password_env`; the initiator with
//! `tls = { ca, server_name }`, `username` and `password_file`. The certificate is generated
//! here by rcgen. Orders from the initiator's application reach the acceptor's application in
//! order; an initiator with the wrong password never logs on and the acceptor's log says why
//! without showing either password, nor does any message log.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gapless_client::{AppEnd, InboundRecord};
use gapless_codec::{Decoded, Limits, decode, tag};

const GAPLESS: &str = env!("CARGO_BIN_EXE_gapless");
const ORDERS: u64 = 200;
const PASSWORD: &str = "correct-horse-battery";
const WRONG_PASSWORD: &str = "tr0ub4dor-guess";

/// Kills the child if the test fails before it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &Path, name: &str, config: String) -> Reaped {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Reaped(
        Command::new(GAPLESS)
            .args(["run", "--config"])
            .arg(&path)
            .env("GAPLESS_TEST_PASSWORD", PASSWORD)
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    )
}

fn acceptor_config(dir: &Path, port: u16) -> String {
    format!(
        r#"
[gateway]
mode = "inline"
idle = "yield"
channel_dir = "{dir}/acceptor-channels"
message_log = "{dir}/acceptor-messages"

[[session]]
name = "client"
role = "acceptor"
listen = "127.0.0.1:{port}"
sender_comp_id = "GW"
target_comp_id = "CLIENT"
version = "FIX.4.4"
username = "trader"
password_env = "GAPLESS_TEST_PASSWORD"
tls = {{ cert = "{dir}/server.crt", key = "{dir}/server.key" }}
"#,
        dir = dir.display()
    )
}

fn initiator_config(dir: &Path, port: u16, password_file: &str, sub: &str) -> String {
    format!(
        r#"
[gateway]
mode = "threaded"
idle = "yield"
channel_dir = "{dir}/{sub}-channels"
message_log = "{dir}/{sub}-messages"

[[session]]
name = "gw"
role = "initiator"
connect = "127.0.0.1:{port}"
sender_comp_id = "CLIENT"
target_comp_id = "GW"
version = "FIX.4.4"
reconnect_initial_ms = 100
username = "trader"
password_file = "{dir}/{password_file}"
tls = {{ ca = "{dir}/server.crt", server_name = "localhost" }}
"#,
        dir = dir.display()
    )
}

fn attach(path: &Path, deadline: Instant) -> AppEnd {
    loop {
        if let Ok(app) = AppEnd::attach(path) {
            return app;
        }
        assert!(Instant::now() < deadline, "no channel {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn run_over_tls_with_credentials_carries_orders_and_refuses_a_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(d.join("server.crt"), certified.cert.pem()).unwrap();
    std::fs::write(d.join("server.key"), certified.key_pair.serialize_pem()).unwrap();
    std::fs::write(d.join("password"), format!("{PASSWORD}\n")).unwrap();
    std::fs::write(d.join("wrong-password"), WRONG_PASSWORD).unwrap();
    let port = free_port();

    let mut acceptor = start(d, "acceptor", acceptor_config(d, port));
    // First an initiator with the wrong password: refused, and it keeps retrying.
    let mut intruder = start(
        d,
        "intruder",
        initiator_config(d, port, "wrong-password", "intruder"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let acceptor_log = d.join("acceptor.log");
    while !std::fs::read_to_string(&acceptor_log)
        .unwrap_or_default()
        .contains("credentials refused")
    {
        assert!(
            Instant::now() < deadline,
            "the wrong password was not refused"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = intruder.0.kill();
    let _ = intruder.0.wait();

    let _initiator = start(
        d,
        "initiator",
        initiator_config(d, port, "password", "initiator"),
    );
    let mut orders_out = attach(&d.join("initiator-channels/gw.chan"), deadline);
    let mut orders_in = attach(&d.join("acceptor-channels/client.chan"), deadline);
    for id in 1..=ORDERS {
        let id = id.to_string();
        while orders_out
            .try_send(b"D", |body| {
                body.field(tag::CL_ORD_ID, id.as_bytes())
                    .field(tag::SYMBOL, b"AAPL")
                    .char(tag::SIDE, b'1')
                    .uint(tag::ORDER_QTY, 100)
                    .char(tag::ORD_TYPE, b'1')
                    .field(tag::TRANSACT_TIME, b"20261124-10:00:00.000");
            })
            .is_err()
        {
            assert!(Instant::now() < deadline, "the order ring stays full");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let mut next = 1;
    while next <= ORDERS {
        assert!(Instant::now() < deadline, "stalled at order {next}");
        let got = orders_in
            .try_recv(|record| match record {
                InboundRecord::Application { message, .. } => {
                    match decode(message, &Limits::default()) {
                        Decoded::Message(msg) => msg
                            .get(tag::CL_ORD_ID)
                            .and_then(|id| std::str::from_utf8(id).ok()?.parse::<u64>().ok()),
                        _ => None,
                    }
                }
                InboundRecord::Event { .. } => None,
            })
            .unwrap();
        match got {
            Some(Some(id)) => {
                assert_eq!(id, next, "out of order or duplicated");
                next += 1;
            }
            Some(None) => {}
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    let _ = acceptor.0.kill();
    let _ = acceptor.0.wait();
    for name in ["acceptor", "intruder", "initiator"] {
        let log = std::fs::read_to_string(d.join(format!("{name}.log"))).unwrap();
        assert!(
            !log.contains(PASSWORD) && !log.contains(WRONG_PASSWORD),
            "a password in the {name} log:\n{log}"
        );
        let messages = std::fs::read_to_string(d.join(format!("{name}-messages")).join(
            if name == "acceptor" {
                "client.messages.log"
            } else {
                "gw.messages.log"
            },
        ))
        .unwrap();
        assert!(
            !messages.contains(PASSWORD) && !messages.contains(WRONG_PASSWORD),
            "a password in the {name} message log:\n{messages}"
        );
        assert!(messages.contains("\x01554=***\x01"), "{name}: {messages}");
    }
}
