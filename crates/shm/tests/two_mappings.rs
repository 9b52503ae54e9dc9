//! A producer and a consumer on separate mappings of one file, on separate threads, as two
//! processes would be: every record arrives once, intact, in order.

use std::time::{Duration, Instant};

use gapless_shm::{PushError, Ring};

const RECORDS: u64 = 500_000;

#[test]
fn separate_mappings_pass_every_record_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ring");
    let producer_ring = Ring::create(&path, 4096).unwrap();
    let consumer_ring = Ring::open(&path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);

    let producer = std::thread::spawn(move || {
        let mut producer = producer_ring.producer();
        let mut full = 0u64;
        for seq in 0..RECORDS {
            // Lengths vary so that records wrap at every possible offset.
            let len = 8 + (seq % 57) as usize;
            loop {
                match producer.try_push_with(len, |dst| {
                    dst[..8].copy_from_slice(&seq.to_le_bytes());
                    dst[8..].fill(seq as u8);
                }) {
                    Ok(()) => break,
                    Err(PushError::Full) => {
                        full += 1;
                        assert!(Instant::now() < deadline, "consumer stalled");
                        std::thread::yield_now();
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        full
    });

    let mut consumer = consumer_ring.consumer();
    let mut expected = 0u64;
    while expected < RECORDS {
        let got = consumer.try_pop_with(|payload| {
            let seq = u64::from_le_bytes(payload[..8].try_into().unwrap());
            assert_eq!(payload.len(), 8 + (seq % 57) as usize);
            assert!(
                payload[8..].iter().all(|&b| b == seq as u8),
                "torn record {seq}"
            );
            seq
        });
        match got {
            Some(seq) => {
                assert_eq!(seq, expected);
                expected += 1;
            }
            None => {
                assert!(Instant::now() < deadline, "producer stalled");
                std::thread::yield_now();
            }
        }
    }
    let full = producer.join().unwrap();
    assert_eq!(consumer.ring().occupancy(), 0);
    println!("{RECORDS} records through a 4 KiB ring; producer found it full {full} times");
}
