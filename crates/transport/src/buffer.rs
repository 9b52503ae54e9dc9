//! Per-connection byte buffers of fixed capacity: memory stays bounded and never moves, so a
//! kernel operation in flight can point into it.
//!
//! The buffers hold their memory as a raw allocation and only ever make Rust slices of ranges no
//! kernel operation is using: while io_uring writes received bytes into the free space, or reads
//! queued bytes to send, no reference covers the region it works on.

use core::ptr::NonNull;

/// A fixed heap allocation addressed by raw pointer.
#[derive(Debug)]
struct RawBytes {
    ptr: NonNull<u8>,
    capacity: usize,
}

// SAFETY: RawBytes owns its allocation exclusively, like a Box<[u8]>.
unsafe impl Send for RawBytes {}

impl RawBytes {
    fn new(capacity: usize) -> Self {
        let boxed: Box<[u8]> = vec![0u8; capacity].into_boxed_slice();
        let ptr = NonNull::new(Box::into_raw(boxed).cast::<u8>()).unwrap_or(NonNull::dangling());
        RawBytes { ptr, capacity }
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
        let slice = core::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.capacity);
        // SAFETY: the pointer and length came from `Box::into_raw` of a boxed slice of this
        // capacity, and the owners of this type release it only once no kernel operation uses it.
        drop(unsafe { Box::from_raw(slice) });
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
}
