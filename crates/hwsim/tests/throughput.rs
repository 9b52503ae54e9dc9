//! Well-formed traffic streams at one beat per cycle, with no bubbles: the checker never holds
//! the input back when each beat completes at most one message.

use gapless_codec::checksum;
use gapless_hwsim::{
    Chunk, Drive, Event, Rtl, VERDICT_LATENCY_CYCLES, software, without_timestamp,
};
use gapless_seqcheck::Command;

fn fix(body: &str) -> Vec<u8> {
    let body = body.replace('|', "\x01");
    let mut msg = format!("8=FIX.4.4\x019={}\x01{body}", body.len()).into_bytes();
    let sum = checksum(&msg);
    msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    msg
}

#[test]
fn back_to_back_messages_take_one_cycle_per_beat() {
    let mut bytes = Vec::new();
    for seq in 1..=2000u64 {
        let pad = "x".repeat((seq % 37) as usize);
        bytes.extend(fix(&format!(
            "35=D|34={seq}|49=CLIENT|56=VENUE|52=20261124-06:07:35.123|11={pad}|"
        )));
    }
    let beats = bytes.len().div_ceil(8) as u64;
    let events = [
        Event::Command(Command::arm(0, 1)),
        Event::Chunk(Chunk {
            session: 0,
            bytes,
            splits: Vec::new(),
        }),
    ];
    let mut rtl = Rtl::new(Drive::default());
    let descriptors = rtl.run(&events);
    assert_eq!(descriptors.len(), 2000);
    assert!(descriptors.iter().all(|d| d.is_fast_path()));
    let expected: Vec<_> = software(&events).iter().map(without_timestamp).collect();
    let got: Vec<_> = descriptors.iter().map(without_timestamp).collect();
    assert_eq!(got, expected);
    // One cycle for the command, one per beat, the last descriptor's latency, and the drain's
    // quiet cycles.
    assert!(
        rtl.cycles() <= 1 + beats + 2 * VERDICT_LATENCY_CYCLES,
        "{} cycles for {beats} beats",
        rtl.cycles()
    );
}
