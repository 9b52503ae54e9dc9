//! The `seqnums` file: epoch and next sender/target sequence numbers, kept in two slots that
//! are written alternately so a torn write always leaves the previous value readable.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{IoError, OpenError};
use crate::format::{
    HeaderProblem, SEQNUM_FILE_LEN, SEQNUM_SLOT_LEN, SEQNUM_SLOT_STRIDE, SeqnumSlot,
};

pub(crate) const FILE_NAME: &str = "seqnums";
pub(crate) const TEMP_NAME: &str = "seqnums.tmp";

/// Epoch and next sequence numbers as last persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeqState {
    pub(crate) epoch: u32,
    pub(crate) next_sender: u64,
    pub(crate) next_target: u64,
}

#[derive(Debug)]
pub(crate) struct SeqnumFile {
    path: PathBuf,
    file: File,
    generation: u64,
    state: SeqState,
    /// A slot was written since the last fdatasync.
    unsynced: bool,
}

impl SeqnumFile {
    /// Opens `dir/seqnums`, creating it (atomically, via a temporary file) if absent.
    pub(crate) fn open_or_create(dir: &Path) -> Result<Self, OpenError> {
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            create(dir, &path)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(IoError::at(&path, "open"))?;
        let len = file.metadata().map_err(IoError::at(&path, "stat"))?.len();
        if len != SEQNUM_FILE_LEN {
            return Err(OpenError::Truncated {
                path,
                len,
                expected: SEQNUM_FILE_LEN,
            });
        }
        let mut slots = [[0u8; SEQNUM_SLOT_LEN]; 2];
        for (index, slot) in slots.iter_mut().enumerate() {
            file.read_exact_at(slot, index as u64 * SEQNUM_SLOT_STRIDE)
                .map_err(IoError::at(&path, "read"))?;
        }
        let decoded = slots.map(|slot| SeqnumSlot::decode(&slot));
        // A slot with a valid checksum but another version was written by other software.
        for (index, result) in decoded.iter().enumerate() {
            if let Err(problem @ HeaderProblem::Version(_)) = *result {
                return Err(OpenError::BadHeader {
                    path,
                    offset: index as u64 * SEQNUM_SLOT_STRIDE + problem.offset(),
                    what: problem.describe(),
                });
            }
        }
        let newest = decoded
            .iter()
            .filter_map(|r| r.ok())
            .max_by_key(|slot| slot.generation);
        let Some(slot) = newest else {
            return Err(match decoded {
                [Err(HeaderProblem::Magic), Err(HeaderProblem::Magic)] => OpenError::BadHeader {
                    path,
                    offset: 0,
                    what: HeaderProblem::Magic.describe(),
                },
                _ => OpenError::Corrupt {
                    path,
                    offset: 0,
                    what: "neither seqnums slot is valid".to_owned(),
                },
            });
        };
        Ok(Self {
            path,
            file,
            generation: slot.generation,
            state: SeqState {
                epoch: slot.epoch,
                next_sender: slot.next_sender,
                next_target: slot.next_target,
            },
            unsynced: false,
        })
    }

    pub(crate) fn state(&self) -> SeqState {
        self.state
    }

    /// Writes `state` into the slot not holding the current value, then fdatasyncs if `sync`.
    pub(crate) fn write(&mut self, state: SeqState, sync: bool) -> Result<(), IoError> {
        let generation = self.generation + 1;
        let slot = SeqnumSlot {
            epoch: state.epoch,
            generation,
            next_sender: state.next_sender,
            next_target: state.next_target,
        };
        let offset = (generation % 2) * SEQNUM_SLOT_STRIDE;
        self.file
            .write_all_at(&slot.encode(), offset)
            .map_err(IoError::at(&self.path, "write"))?;
        self.generation = generation;
        self.state = state;
        self.unsynced = true;
        if sync {
            self.sync()?;
        }
        Ok(())
    }

    /// fdatasyncs the file if a slot was written since the last sync.
    pub(crate) fn sync(&mut self) -> Result<(), IoError> {
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(IoError::at(&self.path, "fdatasync"))?;
            self.unsynced = false;
        }
        Ok(())
    }
}

/// Writes a fresh file (epoch 1, both seqs 1) under a temporary name and renames it into
/// place, so a crash never leaves a half-written `seqnums`.
fn create(dir: &Path, path: &Path) -> Result<(), IoError> {
    let temp = dir.join(TEMP_NAME);
    let file = File::create(&temp).map_err(IoError::at(&temp, "create"))?;
    file.set_len(SEQNUM_FILE_LEN)
        .map_err(IoError::at(&temp, "set_len"))?;
    let first = SeqnumSlot {
        epoch: 1,
        generation: 0,
        next_sender: 1,
        next_target: 1,
    };
    file.write_all_at(&first.encode(), 0)
        .map_err(IoError::at(&temp, "write"))?;
    file.sync_all().map_err(IoError::at(&temp, "fsync"))?;
    fs::rename(&temp, path).map_err(IoError::at(path, "rename"))?;
    sync_dir(dir)
}

/// fsyncs a directory so entries created, renamed or removed in it survive power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), IoError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(IoError::at(dir, "fsync directory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(epoch: u32, next_sender: u64, next_target: u64) -> SeqState {
        SeqState {
            epoch,
            next_sender,
            next_target,
        }
    }

    #[test]
    fn fresh_file_starts_at_epoch_one_seq_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = SeqnumFile::open_or_create(dir.path()).unwrap();
        assert_eq!(file.state(), state(1, 1, 1));
    }

    #[test]
    fn torn_newest_slot_falls_back_to_previous_value() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = SeqnumFile::open_or_create(dir.path()).unwrap();
        file.write(state(1, 5, 7), true).unwrap();
        file.write(state(1, 6, 8), true).unwrap();
        let newest_offset = (file.generation % 2) * SEQNUM_SLOT_STRIDE;
        drop(file);
        let raw = OpenOptions::new()
            .write(true)
            .open(dir.path().join(FILE_NAME))
            .unwrap();
        raw.write_all_at(&[0xAB; 20], newest_offset + 20).unwrap();
        let reopened = SeqnumFile::open_or_create(dir.path()).unwrap();
        assert_eq!(reopened.state(), state(1, 5, 7));
    }

    #[test]
    fn both_slots_bad_is_corrupt_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        drop(SeqnumFile::open_or_create(dir.path()).unwrap());
        let path = dir.path().join(FILE_NAME);
        let raw = OpenOptions::new().write(true).open(&path).unwrap();
        raw.write_all_at(&[1; 4], 30).unwrap();
        let err = SeqnumFile::open_or_create(dir.path()).unwrap_err();
        assert!(matches!(&err, OpenError::Corrupt { path: p, offset: 0, .. } if *p == path));
        assert!(err.to_string().contains("seqnums"), "{err}");
    }

    #[test]
    fn short_file_is_truncated_error() {
        let dir = tempfile::tempdir().unwrap();
        drop(SeqnumFile::open_or_create(dir.path()).unwrap());
        let path = dir.path().join(FILE_NAME);
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(100)
            .unwrap();
        let err = SeqnumFile::open_or_create(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                OpenError::Truncated {
                    len: 100,
                    expected: 1024,
                    ..
                }
            ),
            "{err}"
        );
    }
}
