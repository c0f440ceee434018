//! Owned host memory: 64-byte-aligned buffers, and a small cache of large freed ones.

use std::alloc::{self, Layout};

use crate::error::{Error, Result};

/// Alignment of owned host buffers: a cache line, enough for every dtype and for SIMD loads.
pub const HOST_ALIGN: usize = 64;

/// A zero-initialised, 64-byte-aligned host buffer.
pub struct AlignedBuf {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively, like a Vec<u8>.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only hands out &[u8].
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// Allocates `len` zero bytes. Fresh zeroed pages come from the kernel lazily, so this costs
    /// nothing until the buffer is touched.
    pub fn zeroed(len: usize) -> Result<AlignedBuf> {
        if len == 0 {
            return Ok(AlignedBuf {
                ptr: std::ptr::NonNull::<u64>::dangling().cast(),
                len: 0,
            });
        }
        let layout = Layout::from_size_align(len, HOST_ALIGN).map_err(|_| Error::Overflow {
            what: format!("host buffer of {len} bytes"),
        })?;
        // SAFETY: layout has non-zero size.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        match std::ptr::NonNull::new(ptr) {
            Some(ptr) => Ok(AlignedBuf { ptr, len }),
            None => Err(Error::OutOfMemory {
                what: "a host buffer".into(),
                bytes: len,
            }),
        }
    }

    /// A buffer of `len` bytes whose contents the caller will overwrite completely: a recycled
    /// buffer of exactly that size when the host cache has one (no page faults), else fresh
    /// zeroed memory. Recycled contents are stale but initialised.
    pub fn for_overwrite(len: usize) -> Result<AlignedBuf> {
        match pool::take(len) {
            Some(b) => Ok(b),
            None => AlignedBuf::zeroed(len),
        }
    }

    /// Copies `bytes` into a new aligned buffer.
    pub fn from_slice(bytes: &[u8]) -> Result<AlignedBuf> {
        let mut b = AlignedBuf::zeroed(bytes.len())?;
        b.as_mut_slice().copy_from_slice(bytes);
        Ok(b)
    }

    pub(super) fn empty() -> AlignedBuf {
        AlignedBuf {
            ptr: std::ptr::NonNull::<u64>::dangling().cast(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr is valid for len bytes (or dangling with len 0).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and we hold &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: allocated in `zeroed` with this exact layout.
            unsafe {
                alloc::dealloc(
                    self.ptr.as_ptr(),
                    Layout::from_size_align_unchecked(self.len, HOST_ALIGN),
                )
            }
        }
    }
}

/// A small cache of large freed host buffers, so hot loops that allocate same-sized outputs
/// (inference at a fixed batch size) reuse warm memory instead of faulting in fresh pages,
/// like PyTorch's caching allocators. Bounded in total size; only exact sizes are reused.
mod pool {
    use super::AlignedBuf;
    use std::sync::Mutex;

    /// Buffers smaller than this come cheaply from the system allocator.
    const MIN_BYTES: usize = 1 << 20;
    /// At most this much memory is kept idle in the cache.
    const MAX_CACHED: usize = 1 << 30;

    static CACHE: Mutex<Vec<AlignedBuf>> = Mutex::new(Vec::new());

    pub(super) fn take(len: usize) -> Option<AlignedBuf> {
        if len < MIN_BYTES {
            return None;
        }
        let mut c = CACHE.lock().ok()?;
        let i = c.iter().position(|b| b.len() == len)?;
        Some(c.swap_remove(i))
    }

    pub(super) fn give(buf: AlignedBuf) {
        if buf.len() < MIN_BYTES || buf.len() > MAX_CACHED {
            return;
        }
        let Ok(mut c) = CACHE.lock() else { return };
        let mut total: usize = c.iter().map(|b| b.len()).sum::<usize>() + buf.len();
        // Evict the oldest buffers until the new one fits.
        while total > MAX_CACHED && !c.is_empty() {
            total -= c.remove(0).len();
        }
        c.push(buf);
    }

    /// Frees every cached buffer.
    pub fn clear() {
        if let Ok(mut c) = CACHE.lock() {
            c.clear();
        }
    }
}

/// Frees the host buffers kept for reuse.
pub fn clear_host_cache() {
    pool::clear();
}

/// Hands a freed buffer to the cache (which keeps it only when it is worth keeping).
pub(super) fn recycle(buf: AlignedBuf) {
    pool::give(buf);
}
