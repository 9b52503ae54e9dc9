//! A venue with a file store, stopped and started again, continues its sequence numbers and
//! recovers a gap from its journal in the new run.

mod common;

use std::time::Duration;

use common::{Peer, RunningVenue, drive};
use gapless_dict::Version;
use gapless_venue::{EndReason, VenueConfig};

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn file_store_venue_restarted_keeps_its_sequence_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = VenueConfig::acceptor("127.0.0.1:0".parse().unwrap());
    config.store_dir = Some(dir.path().to_path_buf());
    config.messages = 200;

    let first = RunningVenue::start(&config);
    let mut peer = Peer::connect(first.addr.unwrap(), Version::Fix44);
    assert!(drive(&mut peer, LIMIT, |_| first.is_finished()));
    let first = first.join();
    assert_eq!(first.end, EndReason::StreamAcknowledged);
    assert_eq!(peer.seen.streamed(), 200);
    // Logon, 200 reports, the confirming TestRequest, Logout.
    assert_eq!(first.next_sender_seq, 204);
    assert_eq!(peer.session.next_target_seq(), first.next_sender_seq);

    // The second run drops its first stream message; the peer asks for it again.
    let first_report_seq = first.next_sender_seq + 1;
    config.faults.gap_at = vec![first_report_seq];
    config.messages = 100;
    let second = RunningVenue::start(&config);
    let mut peer = peer.reconnect_to(second.addr.unwrap());
    peer.seen.restart_stream();
    assert!(drive(&mut peer, LIMIT, |_| second.is_finished()));
    let second = second.join();
    assert_eq!(second.end, EndReason::StreamAcknowledged);
    assert_eq!(peer.seen.out_of_order, []);
    assert_eq!(peer.seen.streamed(), 100);
    assert_eq!(peer.seen.gaps, 1, "only the forced gap");
    assert_eq!(second.faults.forced_gaps, 1);
    // The peer asks from the gap onwards, and the venue has usually streamed all by then.
    assert_eq!(second.resend_requests_answered, 1);
    assert!((1..=100).contains(&second.messages_resent));
    assert_eq!(second.next_sender_seq, first.next_sender_seq + 103);
    assert_eq!(peer.session.next_target_seq(), second.next_sender_seq);
    assert_eq!(peer.session.next_sender_seq(), second.next_target_seq);
}
