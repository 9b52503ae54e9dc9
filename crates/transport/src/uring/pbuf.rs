//! A provided-buffer ring (IORING_REGISTER_PBUF_RING): a pool of equal buffers the kernel picks
//! from when a multishot receive completes, handed back to it once their bytes are copied out.
//!
//! The ring of entries is a page-aligned anonymous mapping shared with the kernel; the kernel
//! reads entries up to the tail this side publishes, and says which buffer it filled in each
//! completion. A buffer the kernel has filled belongs to this side until it is pushed back.

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::Submitter;
use io_uring::types::BufRingEntry;

/// The buffer group id of the one ring a transport registers.
pub(super) const GROUP: u16 = 0;

#[derive(Debug)]
pub(super) struct BufRing {
    /// The entries, `entries` of them, in an anonymous mapping of `map_len` bytes.
    ring: *mut BufRingEntry,
    map_len: usize,
    /// The buffers, `entries * buf_len` bytes, in a second anonymous mapping.
    pool: *mut u8,
    pool_len: usize,
    entries: u16,
    buf_len: u32,
    /// The next tail to publish.
    tail: u16,
    registered: bool,
}

// SAFETY: the mappings are owned exclusively by this value, like a Box.
unsafe impl Send for BufRing {}

fn map(len: usize) -> io::Result<*mut u8> {
    // SAFETY: an anonymous private mapping with no address hint aliases nothing.
    let ptr = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(ptr.cast())
    }
}

impl BufRing {
    /// `entries` (a power of two, at most 32768) buffers of `buf_len` bytes, all given to the
    /// kernel once registered.
    pub(super) fn new(entries: u16, buf_len: u32) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || entries > 32768 || buf_len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "provided buffers: a power of two up to 32768, of a non-zero length",
            ));
        }
        let map_len = usize::from(entries) * core::mem::size_of::<BufRingEntry>();
        let pool_len = usize::from(entries)
            .checked_mul(buf_len as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "pool too large"))?;
        let ring = map(map_len)?.cast::<BufRingEntry>();
        let pool = match map(pool_len) {
            Ok(pool) => pool,
            Err(e) => {
                // SAFETY: `ring` is the mapping of `map_len` bytes made above, unused.
                unsafe { libc::munmap(ring.cast(), map_len) };
                return Err(e);
            }
        };
        let mut this = BufRing {
            ring,
            map_len,
            pool,
            pool_len,
            entries,
            buf_len,
            tail: 0,
            registered: false,
        };
        for bid in 0..entries {
            this.give(bid);
        }
        this.publish();
        Ok(this)
    }

    /// Registers the ring as group [`GROUP`].
    pub(super) fn register(&mut self, submitter: &Submitter<'_>) -> io::Result<()> {
        // SAFETY: the entries stay mapped until `unregister` or, if that is never called, until
        // this value is dropped, which the transport does only after the ring is idle (or never,
        // leaking it, when the kernel might still use it).
        unsafe {
            submitter.register_buf_ring_with_flags(self.ring as u64, self.entries, GROUP, 0)
        }?;
        self.registered = true;
        Ok(())
    }

    pub(super) fn unregister(&mut self, submitter: &Submitter<'_>) {
        if self.registered && submitter.unregister_buf_ring(GROUP).is_ok() {
            self.registered = false;
        }
    }

    pub(super) fn buf_len(&self) -> u32 {
        self.buf_len
    }

    /// Adds buffer `bid` to the entries; the kernel sees it after [`BufRing::publish`].
    pub(super) fn give(&mut self, bid: u16) {
        if bid >= self.entries {
            return;
        }
        let slot = usize::from(self.tail & (self.entries - 1));
        // SAFETY: `slot` is below `entries`, within the mapping; the kernel reads only entries
        // before the published tail, and this one is at or after it.
        let entry = unsafe { &mut *self.ring.add(slot) };
        // SAFETY: `bid < entries`, so the buffer lies within the pool mapping.
        let addr = unsafe { self.pool.add(usize::from(bid) * self.buf_len as usize) };
        entry.set_addr(addr as u64);
        entry.set_len(self.buf_len);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes every entry given so far visible to the kernel.
    pub(super) fn publish(&self) {
        // SAFETY: the tail field overlays the first entry's reserved field, within the mapping,
        // 2-byte aligned; the kernel reads it concurrently, hence the atomic release store, which
        // also orders the entries written before it.
        let tail = unsafe { &*BufRingEntry::tail(self.ring).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }

    /// `len` bytes from `offset` in buffer `bid`, which a completion handed to this side.
    pub(super) fn bytes(&self, bid: u16, offset: u32, len: u32) -> &[u8] {
        let start = usize::from(bid) * self.buf_len as usize + offset as usize;
        let end = (start + len as usize)
            .min(self.pool_len)
            .min(usize::from(bid) * self.buf_len as usize + self.buf_len as usize);
        if bid >= self.entries || start >= end {
            return &[];
        }
        // SAFETY: `start..end` lies within buffer `bid` of the pool; the kernel filled it and
        // does not write it again until the buffer is given back, which needs `&mut self`.
        unsafe { core::slice::from_raw_parts(self.pool.add(start), end - start) }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both mappings were made in `new` with these lengths; the owner drops this
        // only when the kernel no longer uses them (unregistered, or the ring is gone).
        unsafe {
            libc::munmap(self.ring.cast(), self.map_len);
            libc::munmap(self.pool.cast(), self.pool_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buf_ring_with_a_non_power_of_two_count_is_refused() {
        assert_eq!(
            BufRing::new(3, 64).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(BufRing::new(4, 64).is_ok());
    }

    #[test]
    fn buf_ring_returns_slices_within_one_buffer() {
        let ring = BufRing::new(4, 64).unwrap();
        assert_eq!(ring.bytes(1, 0, 64).len(), 64);
        assert_eq!(ring.bytes(1, 60, 64).len(), 4);
        assert_eq!(ring.bytes(4, 0, 64).len(), 0);
    }
}
