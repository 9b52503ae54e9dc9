//! Every committed vector in hw/tb/vectors gives the same descriptors from the RTL as from the
//! software checker, under back-to-back beats and under random stalls on both sides.

use std::path::PathBuf;

use gapless_hwsim::{Drive, differential, vector};

fn vector_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../hw/tb/vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "vec"))
        .collect();
    files.sort();
    files
}

#[test]
fn committed_vectors_match_the_software_checker() {
    let files = vector_files();
    assert!(!files.is_empty(), "no vectors in hw/tb/vectors");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read vector");
        let events = vector::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for drive in [
            Drive::default(),
            Drive {
                seed: 7,
                consumer_stall: 128,
                producer_idle: 64,
            },
        ] {
            if let Err(mismatch) = differential(&events, drive) {
                panic!("{} ({drive:?}): {mismatch}", file.display());
            }
        }
    }
}

#[test]
fn hand_written_vectors_cover_every_verdict() {
    let mut seen = [false; 8];
    for file in vector_files() {
        let events = vector::parse(&std::fs::read_to_string(&file).expect("read vector"))
            .expect("parse vector");
        for d in gapless_hwsim::software(&events) {
            seen[usize::from(d.verdict)] = true;
        }
    }
    assert_eq!(&seen[1..], &[true; 7], "verdicts 1..=7 seen");
}
