//! A side stream: a second stream on a device, beside the one all other work goes to. Two uses:
//! uploads and downloads that overlap the kernels on the device's own stream (the DMA engines
//! run beside the SMs), ordered against it only by events (`event.rs` `record_on` /
//! `wait_on_stream`, placed by `nn::NetCudaPlan`'s pipelined forward); and graph captures
//! (`graph.rs`), so that capturing never touches the stream other threads are using.

use std::sync::Arc;

use cudarc::driver::{result, sys};

use crate::cuda::buffer::{DevView, DevViewMut};
use crate::cuda::device::CudaDevice;
use crate::cuda::staging::Pinned;
use crate::error::{Error, Result};

/// A non-blocking stream of one device's context, destroyed (after draining) on drop.
pub(crate) struct SideStream {
    dev: Arc<CudaDevice>,
    stream: usize,
}

impl SideStream {
    pub(crate) fn new(dev: &Arc<CudaDevice>) -> Result<SideStream> {
        dev.bind()?;
        let stream = result::stream::create(result::stream::StreamKind::NonBlocking)
            .map_err(dev.err("creating a side stream"))?;
        Ok(SideStream {
            dev: dev.clone(),
            stream: stream as usize,
        })
    }

    /// The raw stream, for events.
    pub(crate) fn cu_stream(&self) -> sys::CUstream {
        self.stream as sys::CUstream
    }

    fn same_len(what: &'static str, a: usize, b: usize) -> Result<()> {
        if a != b {
            return Err(Error::Shape {
                op: what,
                expected: format!("{a} bytes"),
                got: format!("{b} bytes"),
            });
        }
        Ok(())
    }

    /// Queues `src` → `dst`. The caller must not write `src` again, nor let it go, before an
    /// event recorded after this copy has completed.
    pub(crate) fn upload(&self, src: &Pinned, dst: DevViewMut<'_>) -> Result<()> {
        Self::same_len("copy stream upload", src.len(), dst.len)?;
        self.dev.bind()?;
        // SAFETY: `src` is pinned host memory of dst.len bytes that its owner keeps unchanged
        // until the copy completes (the contract above); `dst` lies in a live allocation of
        // this device, kept alive by its owner past the copy (frees are stream-ordered on the
        // compute stream, which the owner orders after this copy by events).
        unsafe { result::memcpy_htod_async(dst.ptr, src.as_slice(), self.cu_stream()) }
            .map_err(self.dev.err("uploading on its copy stream"))
    }

    /// Queues `src` → `dst`. The caller reads `dst` only after an event recorded after this
    /// copy has completed, and keeps `src` alive until then.
    pub(crate) fn download(&self, src: DevView<'_>, dst: &mut Pinned) -> Result<()> {
        Self::same_len("copy stream download", dst.len(), src.len)?;
        self.dev.bind()?;
        // SAFETY: as `upload`, the other way.
        unsafe { result::memcpy_dtoh_async(dst.as_mut_slice(), src.ptr, self.cu_stream()) }
            .map_err(self.dev.err("downloading on its copy stream"))
    }
}

impl Drop for SideStream {
    fn drop(&mut self) {
        if let Err(e) = self.dev.bind() {
            self.dev.defer(e);
            return;
        }
        // SAFETY: our stream; drained first so no copy still reads memory its owner frees next.
        let done = unsafe {
            result::stream::synchronize(self.cu_stream())
                .and_then(|()| result::stream::destroy(self.cu_stream()))
        };
        if let Err(e) = done {
            self.dev.defer(self.dev.err("destroying a side stream")(e));
        }
    }
}
