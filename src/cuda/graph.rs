//! CUDA graphs: a sequence of kernel launches captured once from the device's stream and
//! replayed with one driver call. A small-batch forward is a handful of short kernels whose
//! cost is mostly launch overhead (several microseconds each on the host); replaying the
//! captured graph submits them all at once.
//!
//! What is captured is the launches themselves: their kernels, shapes and arguments, device
//! addresses included. So the buffers a graph reads and writes must outlive it and stay where
//! they are, and a replay computes on whatever those buffers hold then (the owner, e.g.
//! `nn::NetCudaPlan`, refills its input buffer and replays). Nothing but kernel launches may
//! happen on the stream during the capture: no copies, allocations or frees (the driver
//! refuses them, and the capture is void, with a typed error). The capture runs on a side
//! stream of its own, so other threads using the device meanwhile neither disturb it nor are
//! refused.

use std::sync::Arc;

use cudarc::driver::{result, sys};

use crate::cuda::device::CudaDevice;
use crate::cuda::side_stream::SideStream;
use crate::error::Result;

/// An instantiated graph of launches on one device's stream.
pub(crate) struct CudaGraph {
    dev: Arc<CudaDevice>,
    graph: sys::CUgraph,
    exec: sys::CUgraphExec,
}

// SAFETY: the handles are plain driver objects usable from any thread once the device's
// context is bound (every call below binds it first); nothing here is thread-affine.
unsafe impl Send for CudaGraph {}
// SAFETY: `&CudaGraph` only launches, which the driver allows concurrently.
unsafe impl Sync for CudaGraph {}

impl CudaGraph {
    /// Captures the launches `record` makes for `dev` into a graph. The capture runs on `side`
    /// (a stream of `dev` nothing else uses): while `record` runs, this thread's work for `dev`
    /// goes there ([`CudaDevice::with_stream`]), other threads' work still goes to the device's
    /// stream, untouched. `record` must only launch kernels; anything else fails the capture.
    pub(crate) fn capture(
        dev: &Arc<CudaDevice>,
        side: &SideStream,
        record: impl FnOnce() -> Result<()>,
    ) -> Result<CudaGraph> {
        dev.bind()?;
        let stream = side.cu_stream();
        // Relaxed: loading a module or querying the driver from this thread stays legal
        // during the capture (the first launch of a kernel loads its PTX).
        // SAFETY: `side` is a live stream of `dev`'s context.
        unsafe {
            result::stream::begin_capture(
                stream,
                sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED,
            )
        }
        .map_err(dev.err("beginning a graph capture"))?;
        let recorded = dev.with_stream(stream, record);
        // The capture must end whatever `record` did, or the stream stays unusable.
        // SAFETY: as above; the stream is capturing.
        let ended = unsafe { result::stream::end_capture(stream) };
        recorded?;
        let graph = ended.map_err(dev.err("ending the graph capture"))?;
        // SAFETY: `graph` is the valid graph the capture just made.
        let exec =
            match unsafe { result::graph::instantiate(graph, sys::CUgraphInstantiate_flags(0)) } {
                Ok(exec) => exec,
                Err(e) => {
                    // SAFETY: not instantiated, so nothing else refers to it.
                    let _ = unsafe { result::graph::destroy(graph) };
                    return Err(dev.err("instantiating the captured graph")(e));
                }
            };
        Ok(CudaGraph {
            dev: dev.clone(),
            graph,
            exec,
        })
    }

    /// Queues every captured launch on the device's stream, in capture order.
    pub(crate) fn launch(&self) -> Result<()> {
        self.dev.bind()?;
        // SAFETY: `exec` is alive (dropped only with self) and belongs to this device; the
        // buffers its launches address are kept alive by the graph's owner.
        unsafe { result::graph::launch(self.exec, self.dev.cu_stream()) }
            .map_err(self.dev.err("launching a CUDA graph"))
    }
}

impl Drop for CudaGraph {
    fn drop(&mut self) {
        if let Err(e) = self.dev.bind() {
            self.dev.defer(e);
            return;
        }
        // SAFETY: both handles are ours and no longer used; a replay already queued keeps
        // running (the driver allows destroying an exec with launches in flight).
        let freed = unsafe {
            result::graph::exec_destroy(self.exec).and_then(|()| result::graph::destroy(self.graph))
        };
        if let Err(e) = freed {
            self.dev.defer(self.dev.err("destroying a CUDA graph")(e));
        }
    }
}
