//! Property test: random appends, seqnum updates, resets and reopens of a `FileStore`
//! (and of a `MemoryStore`) agree with a simple model.

use gapless_store::{
    AppendError, Durability, FileStore, MemoryStore, MessageStore, StoreConfig, StoredMessage,
};
use proptest::prelude::*;

/// Small segments so the runs cross many segment boundaries.
const SEGMENT_SIZE: u64 = 512;

#[derive(Debug, Clone)]
enum Op {
    /// Append at the next sender seq plus `gap`, `len` bytes (may exceed the segment).
    Append {
        gap: u64,
        len: usize,
        time: i64,
    },
    /// Re-append the last seq, which must be refused.
    AppendDuplicate,
    SetNextSender {
        ahead: u64,
    },
    SetNextTarget(u64),
    Reset,
    Flush,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0..3u64, 0..420usize, any::<i64>())
            .prop_map(|(gap, len, time)| Op::Append { gap, len, time }),
        1 => Just(Op::AppendDuplicate),
        1 => (0..4u64).prop_map(|ahead| Op::SetNextSender { ahead }),
        1 => (1..10_000u64).prop_map(Op::SetNextTarget),
        1 => Just(Op::Reset),
        1 => Just(Op::Flush),
        2 => Just(Op::Reopen),
    ]
}

#[derive(Debug)]
struct Model {
    epoch: u32,
    messages: Vec<(u64, i64, Vec<u8>)>,
    next_sender: u64,
    next_target: u64,
}

impl Model {
    fn last_seq(&self) -> u64 {
        self.messages.last().map_or(0, |m| m.0)
    }
}

fn body(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
}

fn check<S: MessageStore>(store: &S, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(store.epoch(), model.epoch);
    prop_assert_eq!(store.next_sender_seq(), model.next_sender);
    prop_assert_eq!(store.next_target_seq(), model.next_target);
    prop_assert_eq!(store.last_seq(), model.last_seq());
    let expected: Vec<StoredMessage<'_>> = model
        .messages
        .iter()
        .map(|(seq, time, bytes)| StoredMessage {
            seq: *seq,
            sending_time_ns: *time,
            bytes,
        })
        .collect();
    prop_assert_eq!(store.range(1, 0).collect::<Vec<_>>(), expected.clone());
    for message in &expected {
        prop_assert_eq!(store.get(message.seq), Some(*message));
    }
    prop_assert_eq!(store.get(model.last_seq() + 1), None);
    if let (Some(first), Some(last)) = (expected.first(), expected.last()) {
        let (begin, end) = (first.seq + 1, last.seq.saturating_sub(1));
        let inner: Vec<_> = expected
            .iter()
            .copied()
            .filter(|m| m.seq >= begin && m.seq <= end)
            .collect();
        prop_assert_eq!(store.range(begin, end).collect::<Vec<_>>(), inner);
    }
    Ok(())
}

/// Applies `op` to the store and the model; the caller does the reopening for `Op::Reopen`.
fn step<S: MessageStore>(
    store: &mut S,
    model: &mut Model,
    op: &Op,
    max_len: usize,
) -> Result<(), TestCaseError> {
    match *op {
        Op::Append { gap, len, time } => {
            let seq = model.next_sender + gap;
            let bytes = body(seq, len);
            match store.append(seq, time, &bytes) {
                Ok(appended) => {
                    prop_assert!(len <= max_len);
                    prop_assert_eq!(appended.seq, seq);
                    model.messages.push((seq, time, bytes));
                    model.next_sender = seq + 1;
                }
                Err(AppendError::TooLarge { .. }) => prop_assert!(len > max_len),
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            }
        }
        Op::AppendDuplicate => {
            let last = model.last_seq();
            if last > 0 {
                let refused = matches!(
                    store.append(last, 0, b"dup"),
                    Err(AppendError::SeqNotIncreasing { .. })
                );
                prop_assert!(refused);
            }
        }
        Op::SetNextSender { ahead } => {
            let next = model.last_seq() + 1 + ahead;
            store
                .set_next_sender_seq(next)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            model.next_sender = next;
        }
        Op::SetNextTarget(next) => {
            store
                .set_next_target_seq(next)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            model.next_target = next;
        }
        Op::Reset => {
            store
                .reset()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            *model = Model {
                epoch: model.epoch + 1,
                messages: Vec::new(),
                next_sender: 1,
                next_target: 1,
            };
        }
        Op::Flush => {
            store
                .flush()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(store.durable_seq(), model.last_seq());
        }
        Op::Reopen => {}
    }
    Ok(())
}

fn new_model() -> Model {
    Model {
        epoch: 1,
        messages: Vec::new(),
        next_sender: 1,
        next_target: 1,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn file_store_matches_model(ops in prop::collection::vec(op(), 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig::new(Durability::Batched { every: 3 }).with_segment_size(SEGMENT_SIZE);
        let max_len = config.max_message_len();
        let mut store = FileStore::open(dir.path(), config).unwrap();
        let mut model = new_model();
        for op in &ops {
            if let Op::Reopen = op {
                drop(store);
                store = FileStore::open(dir.path(), config).unwrap();
            }
            step(&mut store, &mut model, op, max_len)?;
            check(&store, &model)?;
        }
    }

    #[test]
    fn memory_store_matches_model(ops in prop::collection::vec(op(), 1..80)) {
        let mut store = MemoryStore::new();
        let mut model = new_model();
        for op in &ops {
            step(&mut store, &mut model, op, usize::MAX)?;
            check(&store, &model)?;
        }
    }
}
