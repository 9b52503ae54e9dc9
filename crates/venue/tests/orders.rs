//! Orders to the venue: one ExecutionReport each, the ClOrdID check, other messages refused,
//! and a clean Logout when the venue is stopped.

mod common;

use std::time::Duration;

use common::{Peer, RunningVenue, drive};
use gapless_dict::Version;
use gapless_session::DisconnectReason;
use gapless_venue::{EndReason, OrderReply, VenueConfig};

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn orders_are_answered_once_and_violations_counted_until_stopped() {
    let mut config = VenueConfig::acceptor("127.0.0.1:0".parse().unwrap());
    config.messages = 0;
    config.order_reply = OrderReply::Fill;
    config.version = Version::Fix42;
    let venue = RunningVenue::start(&config);
    let mut peer = Peer::connect(venue.addr.unwrap(), Version::Fix42);
    assert!(drive(&mut peer, LIMIT, |peer| peer.logged_on()));

    // O2 twice and a jump from O2 to O4: two violations, four answers.
    for id in ["O1", "O2", "O2", "O4"] {
        peer.send_order(id);
    }
    let now = peer.now();
    peer.session
        .send(now, b"B", |body| {
            body.field(148, b"headline").uint(33, 1).field(58, b"line");
        })
        .unwrap();
    assert!(drive(&mut peer, LIMIT, |peer| {
        peer.seen.replies.values().sum::<u32>() == 4 && peer.seen.business_rejects == 1
    }));

    venue.stop();
    assert!(drive(&mut peer, LIMIT, |_| venue.is_finished()));
    let report = venue.join();
    assert_eq!(report.end, EndReason::Stopped);
    assert_eq!(report.orders_received, 4);
    assert_eq!(report.orders_acknowledged, 4);
    assert_eq!(report.order_violations, 2);
    assert_eq!(report.other_messages, 1);
    assert_eq!(peer.seen.replies.get("O2"), Some(&2));
    // The venue logged out: the peer answered and ended the session cleanly.
    assert!(drive(&mut peer, LIMIT, |peer| !peer
        .seen
        .disconnects
        .is_empty()));
    assert_eq!(peer.seen.disconnects, [DisconnectReason::LoggedOut]);
}

#[test]
fn peer_logout_ends_the_run() {
    let mut config = VenueConfig::acceptor("127.0.0.1:0".parse().unwrap());
    config.messages = 50;
    config.logout_after_stream = false;
    let venue = RunningVenue::start(&config);
    let mut peer = Peer::connect(venue.addr.unwrap(), Version::Fix44);
    assert!(drive(&mut peer, LIMIT, |peer| peer.seen.streamed() == 50));
    peer.logout();
    assert!(drive(&mut peer, LIMIT, |_| venue.is_finished()));
    let report = venue.join();
    assert_eq!(report.end, EndReason::PeerLoggedOut);
    assert_eq!(report.streamed, 50);
}

#[test]
fn duration_elapsed_ends_a_run_without_peer() {
    let mut config = VenueConfig::acceptor("127.0.0.1:0".parse().unwrap());
    config.duration = Some(Duration::from_millis(200));
    let venue = RunningVenue::start(&config);
    let start = std::time::Instant::now();
    while !venue.is_finished() && start.elapsed() < LIMIT {
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = venue.join();
    assert_eq!(report.end, EndReason::DurationElapsed);
    assert_eq!(report.logons, 0);
    assert!(report.duration >= Duration::from_millis(200));
}
