//! Per-connection byte buffers of fixed capacity: memory stays bounded and never moves, so a
//! kernel operation in flight can point into it.
//!
//! The buffers hold their memory as a raw allocation and only ever make Rust slices of ranges no
//! kernel operation is using: while io_uring writes received bytes into the free space, or reads
//! queued bytes to send, no reference covers the region it works on.

use core::ptr::NonNull;

/// A fixed allocation addressed by raw pointer: an anonymous memory mapping of its own, so that
/// the pages a connection never touches cost no memory and those it touched go back to the
/// system when it closes. (A heap allocation would not: once the allocator has seen such sizes
/// freed it serves them from its heap, zeroes them, and keeps them after they are freed, so a
/// burst of connections would leave its buffers' full size resident for good.)
#[derive(Debug)]
struct RawBytes {
    ptr: NonNull<u8>,
    capacity: usize,
}

// SAFETY: RawBytes owns its allocation exclusively, like a Box<[u8]>.
unsafe impl Send for RawBytes {}

impl RawBytes {
    fn new(capacity: usize) -> Self {
        if capacity == 0 {
            return RawBytes {
                ptr: NonNull::dangling(),
                capacity,
            };
        }
        // SAFETY: an anonymous private mapping at an address the kernel picks: it affects no
        // memory the program already uses. Its pages read as zero until written.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                capacity,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        match NonNull::new(ptr.cast::<u8>()) {
            Some(ptr) if ptr.as_ptr() != libc::MAP_FAILED.cast::<u8>() => {
                RawBytes { ptr, capacity }
            }
            // Out of memory, as a failed heap allocation would be.
            _ => std::alloc::handle_alloc_error(
                std::alloc::Layout::array::<u8>(capacity)
                    .unwrap_or(std::alloc::Layout::new::<u8>()),
            ),
        }
    }

    /// `range` of the allocation as a shared slice.
    ///
    /// # Safety
    /// `range` must be within the capacity, and nothing may write to it while the slice lives.
    unsafe fn slice(&self, start: usize, end: usize) -> &[u8] {
        debug_assert!(start <= end && end <= self.capacity);
        // SAFETY: the caller guarantees bounds and the absence of concurrent writers.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr().add(start), end - start) }
    }

    /// `range` of the allocation as a mutable slice.
    ///
    /// # Safety
    /// `range` must be within the capacity, and nothing else may access it while the slice lives.
    unsafe fn slice_mut(&mut self, start: usize, end: usize) -> &mut [u8] {
        debug_assert!(start <= end && end <= self.capacity);
        // SAFETY: the caller guarantees bounds and exclusive access.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr().add(start), end - start) }
    }

    /// The whole allocation, for registering it with the kernel.
    fn iovec(&self) -> libc::iovec {
        libc::iovec {
            iov_base: self.ptr.as_ptr().cast(),
            iov_len: self.capacity,
        }
    }

    fn ptr_at(&self, offset: usize) -> *mut u8 {
        debug_assert!(offset <= self.capacity);
        // SAFETY: `offset` is within the allocation (or one past its end).
        unsafe { self.ptr.as_ptr().add(offset) }
    }
}

impl Drop for RawBytes {
    fn drop(&mut self) {
        if self.capacity == 0 {
            return;
        }
        // SAFETY: the pointer and length are the mapping made in `new`, unmapped only here, and
        // the owners of this type release it only once no kernel operation uses it.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.capacity) };
    }
}

/// Received bytes, contiguous, so that a FIX message can be parsed in place.
#[derive(Debug)]
pub(crate) struct RecvBuffer {
    bytes: RawBytes,
    /// Unread bytes are `start..end`; a read may be in flight into `end..capacity`.
    start: usize,
    end: usize,
}

impl RecvBuffer {
    pub(crate) fn new(capacity: usize) -> Self {
        RecvBuffer {
            bytes: RawBytes::new(capacity),
            start: 0,
            end: 0,
        }
    }

    pub(crate) fn unread(&self) -> &[u8] {
        // SAFETY: `start..end` holds completed reads; reads in flight only target `end..`.
        unsafe { self.bytes.slice(self.start, self.end) }
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// Moves the unread bytes to the front when the free space at the end is gone, or rewinds
    /// an empty buffer. Only call when no read into the free space is in flight.
    pub(crate) fn compact(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.end == self.bytes.capacity {
            let len = self.end - self.start;
            // SAFETY: both ranges are within the allocation and no operation is in flight (the
            // caller's promise); `copy` allows the overlap.
            unsafe { core::ptr::copy(self.bytes.ptr_at(self.start), self.bytes.ptr_at(0), len) };
            self.start = 0;
            self.end = len;
        }
    }

    /// Like [`RecvBuffer::compact`], and also moves the unread bytes to the front when fewer than
    /// `want` bytes are free at the end. For receives that copy in (never one the kernel targets
    /// in place): only call when no read into the free space is in flight.
    pub(crate) fn compact_for(&mut self, want: usize) {
        if self.start > 0 && self.start != self.end && self.bytes.capacity - self.end < want {
            let len = self.end - self.start;
            // SAFETY: as in `compact`: within the allocation, nothing in flight, overlap allowed.
            unsafe { core::ptr::copy(self.bytes.ptr_at(self.start), self.bytes.ptr_at(0), len) };
            self.start = 0;
            self.end = len;
        } else {
            self.compact();
        }
    }

    /// Copies as much of `data` as fits into the free space; returns how much.
    pub(crate) fn append(&mut self, data: &[u8]) -> usize {
        let space = self.free_space();
        let n = data.len().min(space.len());
        space[..n].copy_from_slice(&data[..n]);
        self.filled(n);
        n
    }

    /// Bytes that can still be received before the buffer is full, counting the consumed space
    /// a compaction would reclaim.
    pub(crate) fn room(&self) -> usize {
        self.bytes.capacity - (self.end - self.start)
    }

    /// The whole allocation, for registering it with the kernel.
    pub(crate) fn iovec(&self) -> libc::iovec {
        self.bytes.iovec()
    }

    /// The free space after the unread bytes, for a synchronous read.
    pub(crate) fn free_space(&mut self) -> &mut [u8] {
        let capacity = self.bytes.capacity;
        // SAFETY: `end..capacity` is unused by any completed data, and a synchronous caller has
        // no read in flight.
        unsafe { self.bytes.slice_mut(self.end, capacity) }
    }

    /// The free space as a raw pointer and length, for a read the kernel completes later.
    pub(crate) fn free_space_raw(&mut self) -> (*mut u8, usize) {
        (self.bytes.ptr_at(self.end), self.bytes.capacity - self.end)
    }

    /// `n` bytes were read into the free space.
    pub(crate) fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.bytes.capacity);
    }
}

/// Bytes waiting to be sent.
#[derive(Debug)]
pub(crate) struct SendQueue {
    bytes: RawBytes,
    /// Queued bytes are `start..end`; a write from them may be in flight.
    start: usize,
    end: usize,
}

impl SendQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        SendQueue {
            bytes: RawBytes::new(capacity),
            start: 0,
            end: 0,
        }
    }

    /// Copies as much of `data` as fits; returns how much. With `may_move` false (a write from
    /// the queue is in flight) the queued bytes stay where they are and only the space after
    /// them is used.
    pub(crate) fn push(&mut self, data: &[u8], may_move: bool) -> usize {
        let capacity = self.bytes.capacity;
        if may_move && self.end + data.len() > capacity && self.start > 0 {
            let len = self.end - self.start;
            // SAFETY: within the allocation; no write from the queue is in flight (`may_move`).
            unsafe { core::ptr::copy(self.bytes.ptr_at(self.start), self.bytes.ptr_at(0), len) };
            self.start = 0;
            self.end = len;
        }
        let n = data.len().min(capacity - self.end);
        // SAFETY: `end..end + n` is free space: no completed data and no operation reads it.
        unsafe { self.bytes.slice_mut(self.end, self.end + n) }.copy_from_slice(&data[..n]);
        self.end += n;
        n
    }

    /// The whole allocation, for registering it with the kernel.
    pub(crate) fn iovec(&self) -> libc::iovec {
        self.bytes.iovec()
    }

    pub(crate) fn queued(&self) -> &[u8] {
        // SAFETY: nothing writes to queued bytes; the kernel only reads them.
        unsafe { self.bytes.slice(self.start, self.end) }
    }

    pub(crate) fn sent(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recv_buffer_compacts_only_when_full_at_the_end() {
        let mut b = RecvBuffer::new(8);
        b.free_space()[..6].copy_from_slice(b"abcdef");
        b.filled(6);
        b.consume(2);
        b.compact();
        assert_eq!(b.free_space().len(), 2);
        b.free_space()[..2].copy_from_slice(b"gh");
        b.filled(2);
        b.compact();
        assert_eq!(b.unread(), b"cdefgh");
        assert_eq!(b.free_space().len(), 2);
        b.consume(6);
        b.compact();
        assert_eq!(b.free_space().len(), 8);
    }

    #[test]
    fn recv_buffer_with_little_room_at_the_end_moves_for_an_append() {
        let mut b = RecvBuffer::new(8);
        assert_eq!(b.append(b"abcdef"), 6);
        b.consume(4);
        assert_eq!(b.room(), 6);
        b.compact_for(4);
        assert_eq!(b.unread(), b"ef");
        assert_eq!(b.append(b"ghijklmn"), 6);
        assert_eq!(b.unread(), b"efghijkl");
        assert_eq!(b.room(), 0);
    }

    #[test]
    fn send_queue_accepts_what_fits() {
        let mut q = SendQueue::new(8);
        assert_eq!(q.push(b"abcdef", true), 6);
        assert_eq!(q.push(b"ghij", true), 2);
        q.sent(4);
        assert_eq!(q.queued(), b"efgh");
        assert_eq!(q.push(b"xyz", false), 0);
        assert_eq!(q.push(b"xyz", true), 3);
        assert_eq!(q.queued(), b"efghxyz");
        q.sent(7);
        assert!(q.is_empty());
    }

    /// Resident memory of this process, from /proc/self/status.
    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn buffers_untouched_cost_no_resident_memory_and_touched_go_back() {
        const COUNT: usize = 256;
        const SIZE: usize = 1 << 20;
        // Connections come and go: a larger buffer (a send queue) and a round of buffers made,
        // touched a little and freed first. A heap allocator would now serve the next round
        // from its heap, zeroing (so touching) all of it.
        drop(SendQueue::new(4 * SIZE));
        let round = |touch: bool| -> Vec<SendQueue> {
            let mut queues: Vec<SendQueue> = (0..COUNT).map(|_| SendQueue::new(SIZE)).collect();
            if touch {
                for q in &mut queues {
                    assert_eq!(q.push(&[7u8; 4096], true), 4096);
                }
            }
            queues
        };
        drop(round(true));
        let before = resident_kib();
        let queues = round(false);
        let untouched = resident_kib().saturating_sub(before);
        // 256 MiB allocated; other tests of this binary run meanwhile, hence some margin.
        assert!(
            untouched < 16 * 1024,
            "{untouched} KiB resident for untouched buffers"
        );
        drop(queues);
        drop(round(true));
        let after = resident_kib().saturating_sub(before);
        assert!(
            after < 16 * 1024,
            "{after} KiB still resident after the buffers were freed"
        );
    }
}
