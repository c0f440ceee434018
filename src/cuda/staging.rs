//! The pinned (page-locked) staging buffers of large uploads, one pair per device: while the
//! DMA engine uploads one chunk, the CPU fills the other (see `buffer.rs` upload). Kept until
//! [`crate::cuda::empty_cache`]: pinning memory is slow (it maps and locks pages), so a model
//! load pays for it once.

use cudarc::driver::{result, sys};

use crate::cuda::device::{bind_raw, CudaDevice};
use crate::cuda::event::Event;
use crate::error::{Error, Result};

/// Size of each pinned staging buffer: uploads of at least two of them use them.
pub(crate) const STAGE_CHUNK: usize = super::STAGE_MIN / 2;

/// One pinned host allocation ([`STAGE_CHUNK`] bytes for the staging pair).
pub(crate) struct Pinned {
    ptr: usize,
    len: usize,
    ctx: usize,
    ordinal: usize,
}

impl Pinned {
    fn new(dev: &CudaDevice) -> Result<Pinned> {
        Pinned::with_len(dev, STAGE_CHUNK)
    }

    /// `len` (> 0) bytes of page-locked host memory in `dev`'s context, uninitialised: the
    /// owner writes them before a copy reads them.
    pub(crate) fn with_len(dev: &CudaDevice, len: usize) -> Result<Pinned> {
        dev.bind()?;
        // SAFETY: allocates `len` bytes of page-locked host memory for this context; the
        // bytes are uninitialised and only ever written before a copy reads them.
        let ptr = unsafe { result::malloc_host(len, 0) }.map_err(dev.err(format!(
            "allocating {len} bytes of pinned host memory for it"
        )))?;
        if ptr.is_null() {
            return Err(Error::OutOfMemory {
                what: "pinned host memory".into(),
                bytes: len,
            });
        }
        Ok(Pinned {
            ptr: ptr as usize,
            len,
            ctx: dev.cu_ctx() as usize,
            ordinal: dev.ordinal(),
        })
    }

    /// The buffer's bytes, for the host to fill.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is a live allocation of `len` bytes owned by `self`, borrowed mutably;
        // the caller waits for the buffer's last copy before touching it (buffer.rs, net_plan).
        unsafe { std::slice::from_raw_parts_mut(self.ptr as *mut u8, self.len) }
    }

    /// The buffer's bytes, for the host to read (after the copy into it was waited for).
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: as above, borrowed shared.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The buffer's address, for the copy that reads it.
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.ptr as *const u8
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // Staging drops its events' waits first, so no copy still reads this buffer. A failure
        // means the context faulted (sticky), which every later call on it reports.
        if bind_raw(self.ordinal, self.ctx as sys::CUcontext).is_ok() {
            // SAFETY: our allocation, freed once.
            let _ = unsafe { result::free_host(self.ptr as *mut std::ffi::c_void) };
        }
    }
}

/// Two pinned host buffers and the events that say when each one's last upload has read it.
pub(crate) struct Staging {
    pub(crate) bufs: [Pinned; 2],
    pub(crate) done: [Event; 2],
}

impl Staging {
    pub(crate) fn new(dev: &CudaDevice) -> Result<Staging> {
        Ok(Staging {
            bufs: [Pinned::new(dev)?, Pinned::new(dev)?],
            done: [Event::new(dev)?, Event::new(dev)?],
        })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // An upload may still be reading a buffer: wait before the pinned memory is freed.
        // (The fields drop after this: the events, then the buffers.)
        for e in &self.done {
            let _ = e.synchronize();
        }
    }
}
