//! The store a configured session journals to: in memory or in files, chosen at run time.

use gapless_store::{AnyStore, FileStore, MemoryStore, OpenError, StoreConfig};

use crate::config::StoreKind;

/// Opens the store a session's configuration names.
pub fn open_store(kind: &StoreKind) -> Result<AnyStore, OpenError> {
    Ok(match kind {
        StoreKind::Memory => AnyStore::Memory(MemoryStore::new()),
        StoreKind::File { path, durability } => {
            AnyStore::File(FileStore::open(path, StoreConfig::new(*durability))?)
        }
    })
}
