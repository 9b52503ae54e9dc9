//! The inputs of the corpus campaigns: the fuzz corpus files as they are, and deterministic
//! mutations of each (the same seed gives the same inputs on every machine).

use std::io;
use std::path::Path;

use gapless_sim::Rng;

/// The ways an input is changed, one per mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    /// One byte replaced by a random one.
    FlipByte,
    /// Cut short at a random point: a message that never completes.
    Truncate,
    /// A random span repeated in place.
    DuplicateSpan,
    /// An SOH inserted at a random point: an empty or split field.
    InsertSoh,
    /// The digits after the first `9=` replaced by a number too large for any integer.
    HugeBodyLength,
    /// The input twice in a row, the second copy with one byte flipped.
    Doubled,
}

const MUTATIONS: [Mutation; 6] = [
    Mutation::FlipByte,
    Mutation::Truncate,
    Mutation::DuplicateSpan,
    Mutation::InsertSoh,
    Mutation::HugeBodyLength,
    Mutation::Doubled,
];

/// The files of every directory in `dirs` (sorted by name, so the order is stable), each
/// followed by `mutations` mutations of it drawn from `seed`. A directory that does not exist is
/// skipped (the libFuzzer corpus is not committed); an empty result is the caller's problem.
pub fn load(dirs: &[&Path], mutations: u32, seed: u64) -> io::Result<Vec<Vec<u8>>> {
    let mut files = Vec::new();
    for dir in dirs {
        if !dir.is_dir() {
            continue;
        }
        let mut paths: Vec<_> = std::fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<io::Result<_>>()?;
        paths.sort();
        for path in paths.into_iter().filter(|p| p.is_file()) {
            files.push(std::fs::read(path)?);
        }
    }
    Ok(with_mutations(files, mutations, seed))
}

/// Each input followed by `mutations` mutations of it.
pub fn with_mutations(inputs: Vec<Vec<u8>>, mutations: u32, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(inputs.len() * (mutations as usize + 1));
    for input in inputs {
        for _ in 0..mutations {
            let kind = MUTATIONS[rng.below(MUTATIONS.len() as u64) as usize];
            out.push(mutate(&input, kind, &mut rng));
        }
        out.push(input);
    }
    out
}

fn mutate(input: &[u8], kind: Mutation, rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    if out.is_empty() {
        return out;
    }
    let at = rng.below(out.len() as u64) as usize;
    match kind {
        Mutation::FlipByte => out[at] = rng.next_u64() as u8,
        Mutation::Truncate => out.truncate(at.max(1)),
        Mutation::DuplicateSpan => {
            let end = (at + 1 + rng.below(32) as usize).min(out.len());
            let span = out[at..end].to_vec();
            out.splice(at..at, span);
        }
        Mutation::InsertSoh => out.insert(at, 0x01),
        Mutation::HugeBodyLength => {
            if let Some(start) = find(&out, b"\x019=").map(|i| i + 3) {
                let end = out[start..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .map_or(out.len(), |n| start + n);
                out.splice(start..end, b"99999999999999999999999".iter().copied());
            }
        }
        Mutation::Doubled => {
            let mut second = input.to_vec();
            second[at] ^= 0x20;
            out.extend_from_slice(&second);
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEARTBEAT: &[u8] = b"8=FIX.4.4\x019=49\x0135=0\x0134=2\x0149=A\x0156=B\x0110=172\x01";

    #[test]
    fn test_same_seed_gives_same_inputs() {
        let a = with_mutations(vec![HEARTBEAT.to_vec()], 20, 7);
        let b = with_mutations(vec![HEARTBEAT.to_vec()], 20, 7);
        assert_eq!(a, b);
        assert_eq!(a.len(), 21);
        assert_eq!(a.last().map(Vec::as_slice), Some(HEARTBEAT));
    }

    #[test]
    fn test_other_seed_gives_other_mutations() {
        let a = with_mutations(vec![HEARTBEAT.to_vec()], 20, 7);
        let b = with_mutations(vec![HEARTBEAT.to_vec()], 20, 8);
        assert_ne!(a, b);
    }

    #[test]
    fn test_huge_body_length_replaces_the_digits() {
        let out = mutate(HEARTBEAT, Mutation::HugeBodyLength, &mut Rng::new(1));
        assert!(find(&out, b"\x019=99999999999999999999999\x0135=0").is_some());
    }

    #[test]
    fn test_load_skips_a_missing_directory() {
        let inputs = load(&[Path::new("/nonexistent/gapless-abuse")], 3, 1);
        assert!(inputs.is_ok_and(|inputs| inputs.is_empty()));
    }
}
