//! The venue streams over loopback to a `gapless-session` peer while damaging its own messages;
//! the peer's session recovers, and every ExecID arrives exactly once, in order.

mod common;

use std::time::Duration;

use common::{Peer, RunningVenue, drive};
use gapless_dict::Version;
use gapless_venue::{EndReason, VenueConfig};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn faulty_stream_arrives_exactly_once_in_order() {
    let mut config = VenueConfig::acceptor("127.0.0.1:0".parse().unwrap());
    config.messages = 10_000;
    config.faults.plan.drop = 0.01;
    config.faults.plan.duplicate = 0.001;
    config.faults.plan.delay = 0.01;
    config.faults.plan.max_delay_messages = 3;
    config.faults.plan.corrupt = 0.002;
    config.faults.seed = 42;
    config.faults.gap_at = vec![2_500, 7_000];
    config.faults.disconnect_after = Some(4_000);
    // Duplicates make the peer log out and back in; only the acknowledged stream ends the run.
    config.end_on_peer_logout = false;
    let venue = RunningVenue::start(&config);
    let mut peer = Peer::connect(venue.addr.unwrap(), Version::Fix44);

    // An order every millisecond once logged on, O1 to O50, answered while the faults go on.
    let mut orders_sent = 0;
    let mut last_order = std::time::Instant::now();
    let finished = drive(&mut peer, LIMIT, |peer| {
        if peer.logged_on() && orders_sent < 50 && last_order.elapsed() >= Duration::from_millis(1)
        {
            orders_sent += 1;
            peer.send_order(&format!("O{orders_sent}"));
            last_order = std::time::Instant::now();
        }
        venue.is_finished()
    });
    assert!(
        finished,
        "venue did not finish: peer saw {}",
        peer.seen.streamed()
    );
    let report = venue.join();

    assert_eq!(report.end, EndReason::StreamAcknowledged, "{report}");
    assert_eq!(report.streamed, 10_000);
    assert_eq!(peer.seen.out_of_order, [], "ExecIDs out of order");
    assert_eq!(peer.seen.streamed(), 10_000);

    assert_eq!(orders_sent, 50);
    assert_eq!(report.orders_received, 50, "{report}");
    assert_eq!(report.orders_acknowledged, 50);
    assert_eq!(report.order_violations, 0);
    for n in 1..=50 {
        assert_eq!(
            peer.seen.replies.get(&format!("O{n}")),
            Some(&1),
            "reply to O{n}"
        );
    }

    let faults = report.faults;
    assert!(
        faults.dropped > 0 && faults.duplicated > 0 && faults.delayed > 0,
        "{report}"
    );
    assert!(faults.corrupted > 0, "{report}");
    assert_eq!(faults.forced_gaps, 2);
    assert_eq!(faults.forced_disconnects, 1);
    // The forced disconnect, at least; a duplicate forces another only when it arrives outside
    // a recovery (within one, the peer drops it as a copy of a held message).
    assert!(report.reconnects >= 1, "{report}");
    assert!(report.resend_requests_answered > 0 && report.messages_resent > 0);
    assert!(peer.seen.gaps > 0);
    // Both sides agree on where the sequences stand.
    assert_eq!(peer.session.next_target_seq(), report.next_sender_seq);
    assert_eq!(peer.session.next_sender_seq(), report.next_target_seq);
}

#[test]
fn paced_stream_takes_its_time() {
    let mut config = VenueConfig::acceptor("127.0.0.1:0".parse().unwrap());
    config.messages = 300;
    config.rate = 1_000;
    let venue = RunningVenue::start(&config);
    let mut peer = Peer::connect(venue.addr.unwrap(), Version::Fix44);
    assert!(drive(&mut peer, LIMIT, |_| venue.is_finished()));
    let report = venue.join();
    assert_eq!(report.end, EndReason::StreamAcknowledged);
    assert_eq!(peer.seen.streamed(), 300);
    assert_eq!(peer.seen.out_of_order, []);
    // 300 messages at 1,000/s take 0.3 s; allow for a slow debug build above, not below.
    assert!(report.duration >= Duration::from_millis(290), "{report}");
}

#[test]
fn initiator_fixt_redials_and_streams_through_drops() {
    let (mut peer, addr) = Peer::listen(Version::Fix50Sp2);
    // The first connection is closed before logon: the venue must dial again.
    peer.refuse_connections = 1;
    let mut config = VenueConfig::initiator(addr);
    config.version = Version::Fix50Sp2;
    config.messages = 2_000;
    config.heartbeat_interval = Duration::from_secs(2);
    config.reconnect.initial = Duration::from_millis(20);
    config.faults.plan.drop = 0.02;
    config.faults.gap_at = vec![1_000];
    config.faults.seed = 7;
    let venue = RunningVenue::start(&config);
    assert!(drive(&mut peer, LIMIT, |_| venue.is_finished()));
    let report = venue.join();
    assert_eq!(report.end, EndReason::StreamAcknowledged, "{report}");
    assert_eq!(peer.seen.out_of_order, []);
    assert_eq!(peer.seen.streamed(), 2_000);
    assert!(report.faults.dropped > 0);
    assert_eq!(report.faults.forced_gaps, 1);
    assert_eq!(report.logons, 1);
    assert_eq!(peer.refuse_connections, 0, "the venue never connected");
}
