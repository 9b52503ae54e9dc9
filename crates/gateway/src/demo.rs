//! `gapless demo`: the codec and dictionary at work on a faulty venue stream.
//!
//! A simulated venue encodes a stream of ExecutionReports, a seeded fault injector damages it the
//! way a bad line or a bad counterparty would (lost, duplicated, corrupted, truncated and invalid
//! messages), and the stream reaches the gateway side in TCP-sized reads of random length. The
//! gateway side frames and parses in place in one fixed receive buffer, validates every message
//! against the FIX dictionary, and classifies its MsgSeqNum. The demo checks that every injected
//! fault was detected, exactly, and prints what it saw and how fast it went.
//!
//! Recovery itself (ResendRequest, gap fill, release of the held messages) is the session layer's;
//! until it exists this demo detects gaps and reports them.

use std::fmt::Write as _;
use std::time::Instant;

use gapless_codec::value::{Decimal, TimePrecision, UtcTimestamp};
use gapless_codec::{Decoded, Encoder, FrameError, Limits, Message, StandardHeader, decode};
use gapless_dict::{Rejection, SessionDictionary, ValidationOptions, Version, validate};

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub messages: u64,
    pub seed: u64,
    pub version: Version,
}

/// The faults injected into the venue stream, counted as they are made.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Faults {
    dropped: u64,
    gaps: u64,
    duplicated: u64,
    corrupted: u64,
    truncated: u64,
    invalid: u64,
}

/// What the gateway side saw, counted as it reads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Observed {
    in_order: u64,
    /// Messages seen past a gap: the first message after each gap opens it.
    gaps: u64,
    missing: u64,
    duplicates: u64,
    garbled_checksum: u64,
    garbled_other: u64,
    rejected: u64,
    bytes: u64,
    reads: u64,
}

/// Deterministic pseudo-random numbers (SplitMix64): the same seed gives the same run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `per_million` / 1,000,000.
    fn chance(&mut self, per_million: u64) -> bool {
        self.next() % 1_000_000 < per_million
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The venue's ExecutionReport for sequence number `seq`. `side` is normally `1` (Buy); the fault
/// injector passes a value outside Side's enumeration to make an invalid message.
fn execution_report<'b>(
    buf: &'b mut [u8],
    version: Version,
    header: &StandardHeader<'_>,
    seq: u64,
    side: u8,
) -> &'b [u8] {
    let mut order_id = [0u8; 20];
    let order_id = numbered(b"O-", seq, &mut order_id);
    let mut exec_id = [0u8; 20];
    // ExecID is an int in FIX.4.0, a string later.
    let exec_id_prefix: &[u8] = if version == Version::Fix40 {
        b""
    } else {
        b"X-"
    };
    let exec_id = numbered(exec_id_prefix, seq, &mut exec_id);
    let price = Decimal::new(10_125 + (seq % 100) as i64, -2);
    let mut encoder = Encoder::new(buf, version.begin_string().as_bytes(), b"8");
    encoder
        .header(header)
        .decimal(6, price) // AvgPx
        .field(11, order_id) // ClOrdID
        .decimal(14, Decimal::new(100, 0)) // CumQty
        .field(17, exec_id); // ExecID
    if version <= Version::Fix42 {
        // ExecTransType: new. Required until FIX.4.3 folded it into ExecType.
        encoder.char(20, b'0');
    }
    encoder
        .decimal(31, price) // LastPx
        .decimal(32, Decimal::new(100, 0)) // LastQty
        .field(37, order_id) // OrderID
        .decimal(38, Decimal::new(100, 0)) // OrderQty
        .char(39, b'2') // OrdStatus: filled
        .char(54, side) // Side
        .field(55, b"ACME"); // Symbol
    // ExecType and LeavesQty exist from FIX.4.1; a trade is ExecType F from FIX.4.3, a fill (2)
    // before.
    match version {
        Version::Fix40 => {}
        Version::Fix41 | Version::Fix42 => {
            encoder.char(150, b'2').decimal(151, Decimal::new(0, 0));
        }
        _ => {
            encoder.char(150, b'F').decimal(151, Decimal::new(0, 0));
        }
    }
    encoder
        .finish()
        .expect("an ExecutionReport fits the demo's buffer")
}

/// Writes `prefix` followed by `n` into `out`.
fn numbered<'o>(prefix: &[u8], n: u64, out: &'o mut [u8; 20]) -> &'o [u8] {
    let mut digits = [0u8; 20];
    let len = gapless_codec::value::write_u64(n, &mut digits);
    out[..prefix.len()].copy_from_slice(prefix);
    out[prefix.len()..prefix.len() + len].copy_from_slice(&digits[20 - len..]);
    &out[..prefix.len() + len]
}

/// Builds the venue stream with faults injected, and returns it with the count of each fault.
fn venue_stream(config: &DemoConfig, rng: &mut Rng) -> (Vec<u8>, Faults) {
    let start = UtcTimestamp::parse(b"20261124-06:00:00").expect("valid literal");
    let precision = if config.version <= Version::Fix41 {
        TimePrecision::Seconds
    } else {
        TimePrecision::Micros
    };
    let mut stream = Vec::with_capacity(config.messages as usize * 220);
    let mut faults = Faults::default();
    let mut buf = [0u8; 512];
    // Whether the previous message was lost, so that a further loss widens the same gap.
    let mut in_gap = false;
    for seq in 1..=config.messages {
        let sending_time =
            UtcTimestamp::from_unix_nanos(start.unix_nanos().unwrap_or(0) + seq as i64 * 20_000);
        let header = StandardHeader::new(b"VENUE", b"GATEWAY", seq, sending_time, precision);
        // The last message is never damaged, so the stream ends on a message the reader can see.
        let last = seq == config.messages;
        if !last && seq > 1 && rng.chance(2_000) {
            faults.dropped += 1;
            faults.gaps += u64::from(!in_gap);
            in_gap = true;
            continue;
        }
        let invalid = !last && rng.chance(1_000);
        let side = if invalid { b'Z' } else { b'1' };
        faults.invalid += u64::from(invalid);
        let message = execution_report(&mut buf, config.version, &header, seq, side);
        if !last && rng.chance(1_000) {
            // A byte inside the body changes: the checksum catches it.
            let mut damaged = message.to_vec();
            let at = 30 + rng.below(damaged.len() as u64 - 40) as usize;
            damaged[at] = if damaged[at] == b'7' { b'8' } else { b'7' };
            stream.extend_from_slice(&damaged);
            faults.corrupted += 1;
            faults.gaps += u64::from(!in_gap);
            in_gap = true;
            continue;
        }
        if !last && rng.chance(500) {
            // The connection died mid-message; what follows starts a fresh message.
            let cut = 20 + rng.below(message.len() as u64 - 30) as usize;
            stream.extend_from_slice(&message[..cut]);
            faults.truncated += 1;
            faults.gaps += u64::from(!in_gap);
            in_gap = true;
            continue;
        }
        stream.extend_from_slice(message);
        in_gap = false;
        if rng.chance(2_000) {
            // A delayed copy of the same message arrives again, flagged as a possible duplicate.
            let mut dup_header = header;
            dup_header.poss_dup = true;
            dup_header.orig_sending_time = Some(sending_time);
            stream.extend_from_slice(execution_report(
                &mut buf,
                config.version,
                &dup_header,
                seq,
                side,
            ));
            faults.duplicated += 1;
        }
    }
    (stream, faults)
}

/// The gateway side: reads `stream` in random-sized pieces into one fixed buffer, and frames,
/// parses, validates and sequences every message in place.
fn receive(
    stream: &[u8],
    dictionary: &SessionDictionary,
    rng: &mut Rng,
    report: &mut String,
) -> Observed {
    let limits = Limits::default();
    let options = ValidationOptions::default();
    let mut observed = Observed::default();
    let mut buffer = vec![0u8; 2 * limits.max_message_len];
    let mut filled = 0usize;
    let mut offset = 0usize;
    let mut expected = 1u64;
    let mut shown = 0;
    let mut show = |line: std::fmt::Arguments<'_>| {
        if shown < 12 {
            let _ = writeln!(report, "  {line}");
        }
        shown += 1;
    };
    while offset < stream.len() {
        // A TCP read: anything from one byte to a jumbo segment.
        let want = 1 + rng.below(9_000) as usize;
        let n = want.min(stream.len() - offset).min(buffer.len() - filled);
        buffer[filled..filled + n].copy_from_slice(&stream[offset..offset + n]);
        filled += n;
        offset += n;
        observed.reads += 1;
        observed.bytes += n as u64;

        let mut consumed = 0usize;
        loop {
            match decode(&buffer[consumed..filled], &limits) {
                Decoded::Message(message) => {
                    consumed += message.len();
                    sequence(
                        &message,
                        dictionary,
                        &options,
                        &mut expected,
                        &mut observed,
                        &mut show,
                    );
                }
                Decoded::Garbled(garbled) => {
                    consumed += garbled.skip;
                    match garbled.error {
                        FrameError::ChecksumMismatch { .. } => observed.garbled_checksum += 1,
                        _ => observed.garbled_other += 1,
                    }
                    show(format_args!(
                        "garbled input dropped ({} bytes): {}",
                        garbled.skip, garbled.error
                    ));
                }
                Decoded::Incomplete => break,
            }
        }
        // Keep the unread tail at the front of the buffer for the next read.
        buffer.copy_within(consumed..filled, 0);
        filled -= consumed;
    }
    observed
}

/// Validates one message and classifies its MsgSeqNum against the expected one.
fn sequence(
    message: &Message<'_>,
    dictionary: &SessionDictionary,
    options: &ValidationOptions,
    expected: &mut u64,
    observed: &mut Observed,
    show: &mut impl FnMut(std::fmt::Arguments<'_>),
) {
    let Ok(seq) = message.msg_seq_num() else {
        observed.rejected += 1;
        return;
    };
    if let Err(Rejection { reason, ref_tag }) = validate(dictionary, message, options) {
        observed.rejected += 1;
        show(format_args!(
            "MsgSeqNum {seq}: would send Reject, SessionRejectReason {} ({reason:?}), RefTagID {}",
            reason.code(),
            ref_tag.map_or_else(|| "-".to_string(), |t| t.to_string())
        ));
    }
    if seq == *expected {
        observed.in_order += 1;
        *expected += 1;
    } else if seq > *expected {
        observed.gaps += 1;
        observed.missing += seq - *expected;
        show(format_args!(
            "gap: expected MsgSeqNum {}, received {seq}: would send ResendRequest 7={} 16=0",
            *expected, *expected
        ));
        *expected = seq + 1;
    } else if message.poss_dup() == Ok(true) {
        observed.duplicates += 1;
        show(format_args!(
            "MsgSeqNum {seq} again with PossDupFlag=Y: duplicate discarded"
        ));
    } else {
        observed.rejected += 1;
        show(format_args!("MsgSeqNum {seq} too low without PossDupFlag"));
    }
}

/// Decode-and-validate speed over a clean copy of the stream, in nanoseconds per message.
fn measure_clean(config: &DemoConfig, dictionary: &SessionDictionary) -> (f64, f64) {
    let clean_config = DemoConfig {
        seed: config.seed,
        ..config.clone()
    };
    let mut buf = [0u8; 512];
    let start = UtcTimestamp::parse(b"20261124-06:00:00").expect("valid literal");
    let mut stream = Vec::new();
    for seq in 1..=clean_config.messages.min(100_000) {
        let header = StandardHeader::new(b"VENUE", b"GATEWAY", seq, start, TimePrecision::Micros);
        stream.extend_from_slice(execution_report(
            &mut buf,
            config.version,
            &header,
            seq,
            b'1',
        ));
    }
    let limits = Limits::default();
    let options = ValidationOptions::default();
    let passes = |validate_too: bool| -> f64 {
        let began = Instant::now();
        let mut count = 0u64;
        for _ in 0..5 {
            let mut rest = &stream[..];
            while let Decoded::Message(message) = decode(rest, &limits) {
                rest = &rest[message.len()..];
                if validate_too {
                    let _ = std::hint::black_box(validate(dictionary, &message, &options));
                }
                std::hint::black_box(message.msg_seq_num().ok());
                count += 1;
            }
        }
        began.elapsed().as_nanos() as f64 / count.max(1) as f64
    };
    (passes(false), passes(true))
}

/// Runs the demo; returns an error if the gateway side missed or invented a fault.
pub fn run(config: &DemoConfig) -> Result<(), String> {
    let dictionary = SessionDictionary::new(config.version);
    let mut rng = Rng(config.seed);
    println!(
        "gapless demo: {} {} ExecutionReports from a simulated venue, seed {}",
        config.messages,
        config.version.begin_string(),
        config.seed
    );
    let (stream, faults) = venue_stream(config, &mut rng);
    println!(
        "venue stream: {} bytes; injected {} lost ({} gaps), {} duplicated, {} corrupted, {} truncated, {} invalid",
        stream.len(),
        faults.dropped,
        faults.gaps,
        faults.duplicated,
        faults.corrupted,
        faults.truncated,
        faults.invalid
    );

    let mut report = String::new();
    let began = Instant::now();
    let observed = receive(&stream, &dictionary, &mut rng, &mut report);
    let elapsed = began.elapsed();
    println!("first events seen by the gateway side:\n{report}");

    let lost = faults.dropped + faults.corrupted + faults.truncated;
    let (decode_ns, validate_ns) = measure_clean(config, &dictionary);
    println!("summary");
    println!("  reads                      {:>10}", observed.reads);
    println!("  messages in order          {:>10}", observed.in_order);
    println!(
        "  gaps detected              {:>10}  (injected {})",
        observed.gaps, faults.gaps
    );
    println!(
        "  messages missing           {:>10}  (lost {lost})",
        observed.missing
    );
    println!(
        "  duplicates discarded       {:>10}  (injected {})",
        observed.duplicates, faults.duplicated
    );
    println!(
        "  garbled: bad checksum      {:>10}  (corrupted {})",
        observed.garbled_checksum, faults.corrupted
    );
    println!(
        "  garbled: other framing     {:>10}  (truncated {})",
        observed.garbled_other, faults.truncated
    );
    println!(
        "  rejected by validation     {:>10}  (invalid {})",
        observed.rejected, faults.invalid
    );
    println!(
        "  whole run                  {:>10.1} ms, {:.0} ns/message",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_nanos() as f64 / (config.messages.max(1)) as f64
    );
    println!("  decode + header lookup     {decode_ns:>10.0} ns/message (clean stream)");
    println!("  decode + full validation   {validate_ns:>10.0} ns/message (clean stream)");

    // Every message the venue sent intact is either in order or right after a gap.
    let delivered = config.messages - lost;
    let checks = [
        ("gaps", observed.gaps, faults.gaps),
        ("missing", observed.missing, lost),
        ("duplicates", observed.duplicates, faults.duplicated),
        ("checksum", observed.garbled_checksum, faults.corrupted),
        ("rejected", observed.rejected, faults.invalid),
        ("delivered", observed.in_order + observed.gaps, delivered),
    ];
    let mismatches: Vec<String> = checks
        .iter()
        .filter(|(_, seen, injected)| seen != injected)
        .map(|(what, seen, injected)| format!("{what}: saw {seen}, injected {injected}"))
        .collect();
    // A truncated message is garbled once, or swallowed into the next garbled run.
    if observed.garbled_other > faults.truncated
        || (faults.truncated > 0 && observed.garbled_other == 0)
    {
        return Err(format!(
            "garbled framing: saw {}, truncated {}",
            observed.garbled_other, faults.truncated
        ));
    }
    if mismatches.is_empty() {
        println!("every injected fault was detected; nothing was invented");
        Ok(())
    } else {
        Err(mismatches.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_detects_every_fault_for_many_seeds_and_versions() {
        for (seed, version) in [
            (1, Version::Fix40),
            (2, Version::Fix41),
            (3, Version::Fix42),
            (4, Version::Fix43),
            (5, Version::Fix44),
            (6, Version::Fix50Sp2),
        ] {
            let config = DemoConfig {
                messages: 20_000,
                seed,
                version,
            };
            let dictionary = SessionDictionary::new(version);
            let mut rng = Rng(seed);
            let (stream, faults) = venue_stream(&config, &mut rng);
            assert!(faults.gaps > 0 && faults.duplicated > 0 && faults.invalid > 0);
            let observed = receive(&stream, &dictionary, &mut rng, &mut String::new());
            let lost = faults.dropped + faults.corrupted + faults.truncated;
            assert_eq!(observed.gaps, faults.gaps, "seed {seed}");
            assert_eq!(observed.missing, lost, "seed {seed}");
            assert_eq!(observed.duplicates, faults.duplicated, "seed {seed}");
            assert_eq!(observed.garbled_checksum, faults.corrupted, "seed {seed}");
            assert_eq!(observed.rejected, faults.invalid, "seed {seed}");
            assert_eq!(observed.in_order + observed.gaps, config.messages - lost);
        }
    }
}
