//! Back-pressure is per session and loses nothing: two sessions on one inline gateway, each
//! against its own `gapless venue`. The first application does not read, so its small ring
//! fills and the gateway stops reading that connection (TCP pushes back on its venue); the
//! second session's messages keep flowing. When the first application starts reading, every
//! message it was sent arrives, once, in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gapless_client::{AppEnd, ChannelConfig, InboundRecord};
use gapless_codec::{Decoded, Limits, decode, tag};
use gapless_dict::Version;
use gapless_runtime::{
    Backoff, ChannelPlan, Endpoint, Gateway, SessionPlan, StorePlan, open_session,
};
use gapless_session::{Role, SessionConfig};
use gapless_transport::{SocketTransport, TransportConfig};
use gapless_venue::{IdleStrategy, Venue, VenueConfig};

const MESSAGES: u64 = 20_000;

fn plan(name: &str, venue: std::net::SocketAddr) -> SessionPlan {
    let mut session = SessionConfig::new(Version::Fix44, Role::Initiator, "GAPLESS", "VENUE");
    // A message must fit half the small ring.
    session.max_message_len = 8192;
    SessionPlan {
        name: name.into(),
        session,
        endpoint: Endpoint::Connect {
            addr: venue,
            backoff: Backoff::default(),
        },
        store: StorePlan::Memory,
        channel: ChannelPlan {
            // About 250 reports fit: the stream is 80 times that.
            config: ChannelConfig {
                to_app_capacity: 1 << 16,
                ..ChannelConfig::default()
            },
            ..ChannelPlan::default()
        },
    }
}

/// Reads what is waiting; returns the stream ExecIDs in order.
fn read(app: &mut AppEnd, ids: &mut Vec<u64>) -> bool {
    let mut worked = false;
    while let Ok(Some(id)) = app.try_recv(|record| match record {
        InboundRecord::Application { message, .. } => match decode(message, &Limits::default()) {
            Decoded::Message(msg) => msg
                .get(tag::EXEC_ID)
                .and_then(|id| std::str::from_utf8(id).ok()?.parse::<u64>().ok()),
            _ => None,
        },
        InboundRecord::Event { .. } => None,
    }) {
        worked = true;
        ids.extend(id);
    }
    worked
}

#[test]
fn full_application_ring_pauses_its_session_only_and_loses_nothing() {
    let mut venue_config = VenueConfig::acceptor("127.0.0.1:0".parse().unwrap());
    venue_config.messages = MESSAGES;
    venue_config.idle = IdleStrategy::Yield;
    venue_config.duration = Some(Duration::from_secs(90));
    let slow_venue = Venue::bind(&venue_config).unwrap();
    let fast_venue = Venue::bind(&venue_config).unwrap();
    let mut slow = open_session(&plan("slow", slow_venue.local_addr().unwrap())).unwrap();
    let mut fast = open_session(&plan("fast", fast_venue.local_addr().unwrap())).unwrap();
    let mut slow_app = slow.client.take().unwrap();
    let mut fast_app = fast.client.take().unwrap();
    let transport = SocketTransport::new(TransportConfig::default());
    let mut gateway = Gateway::new(transport, vec![slow, fast], None).unwrap();
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + Duration::from_secs(90);

    std::thread::scope(|scope| {
        let slow_thread = scope.spawn(|| slow_venue.run(&stop, |_| {}));
        let fast_thread = scope.spawn(|| fast_venue.run(&stop, |_| {}));
        let (mut slow_ids, mut fast_ids) = (Vec::new(), Vec::new());
        // The fast application reads everything while the slow one reads nothing.
        while (fast_ids.len() as u64) < MESSAGES {
            assert!(
                Instant::now() < deadline,
                "the fast session stalled at {}",
                fast_ids.len()
            );
            let worked = gateway.poll() | read(&mut fast_app, &mut fast_ids);
            if !worked {
                std::thread::yield_now();
            }
        }
        let slow_sessions_progress = slow_app.stats().messages_in;
        assert!(
            slow_sessions_progress < MESSAGES / 2,
            "the slow session was not held back: {slow_sessions_progress} messages read"
        );
        // Now the slow application reads: everything arrives.
        while (slow_ids.len() as u64) < MESSAGES {
            assert!(
                Instant::now() < deadline,
                "the slow session stalled at {}",
                slow_ids.len()
            );
            let worked = gateway.poll() | read(&mut slow_app, &mut slow_ids);
            if !worked {
                std::thread::yield_now();
            }
        }
        let expected: Vec<u64> = (1..=MESSAGES).collect();
        assert!(
            fast_ids == expected,
            "fast session out of order or incomplete"
        );
        assert!(
            slow_ids == expected,
            "slow session out of order or incomplete"
        );
        gateway.begin_shutdown();
        while !gateway.is_shut_down() {
            assert!(Instant::now() < deadline, "no clean shutdown");
            gateway.poll();
        }
        stop.store(true, Ordering::Relaxed);
        for venue in [slow_thread, fast_thread] {
            let report = venue.join().unwrap().unwrap();
            assert_eq!(report.streamed, MESSAGES, "{report}");
        }
    });
}
