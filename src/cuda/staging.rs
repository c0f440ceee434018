//! The pinned (page-locked) staging buffers of large uploads, one pair per device: while the
//! DMA engine uploads one chunk, the CPU fills the other (see `buffer.rs` upload).

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaEvent, PinnedHostSlice};

use crate::cuda::driver_err;
use crate::error::Result;

/// Size of each pinned staging buffer: uploads of at least two of them use them.
pub(crate) const STAGE_CHUNK: usize = super::STAGE_MIN / 2;

/// Two pinned host buffers and the events that say when each one's last upload has read it.
pub(crate) struct Staging {
    pub(crate) bufs: [PinnedHostSlice<u8>; 2],
    pub(crate) done: [CudaEvent; 2],
}

impl Staging {
    pub(crate) fn new(ctx: &Arc<CudaContext>, ordinal: usize) -> Result<Staging> {
        let err = || {
            driver_err(format!(
                "allocating pinned staging memory for cuda:{ordinal}"
            ))
        };
        // SAFETY: pinned bytes are uninitialised; each chunk is fully written before its upload.
        let a = unsafe { ctx.alloc_pinned::<u8>(STAGE_CHUNK) }.map_err(err())?;
        // SAFETY: as above.
        let b = unsafe { ctx.alloc_pinned::<u8>(STAGE_CHUNK) }.map_err(err())?;
        let ea = ctx.new_event(None).map_err(err())?;
        let eb = ctx.new_event(None).map_err(err())?;
        Ok(Staging {
            bufs: [a, b],
            done: [ea, eb],
        })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // An upload may still be reading a buffer: wait before the pinned memory is freed.
        // Errors here have nowhere to go (cudarc records them in the context).
        for e in &self.done {
            let _ = e.synchronize();
        }
    }
}
