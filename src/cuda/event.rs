//! A CUDA event owned by tensorport: recorded on one device's stream, waited on by the host or
//! by any device's stream (that is how work on two GPUs is ordered). Destroying an event whose
//! work is still pending is allowed: the driver releases it once that work completes.

use cudarc::driver::{result, sys};

use crate::cuda::device::{bind_raw, CudaDevice};
use crate::cuda::fault::driver_err;
use crate::error::Result;

/// An event of `cuda:{ordinal}`'s context. The handles are raw pointers, used only in driver
/// calls, kept as addresses.
pub(crate) struct Event {
    ev: usize,
    ctx: usize,
    ordinal: usize,
}

impl Event {
    /// A fresh event (timing disabled: cheaper, and we never time with it) in `dev`'s context.
    pub(crate) fn new(dev: &CudaDevice) -> Result<Event> {
        dev.bind()?;
        let ev = result::event::create(sys::CUevent_flags::CU_EVENT_DISABLE_TIMING)
            .map_err(dev.err("creating an event"))?;
        Ok(Event {
            ev: ev as usize,
            ctx: dev.cu_ctx() as usize,
            ordinal: dev.ordinal(),
        })
    }

    /// A fresh event recorded after all work queued so far on `dev`'s stream.
    pub(crate) fn recorded(dev: &CudaDevice) -> Result<Event> {
        let e = Event::new(dev)?;
        e.record(dev)?;
        Ok(e)
    }

    /// Records the work queued so far on `dev`'s stream (its own device's).
    pub(crate) fn record(&self, dev: &CudaDevice) -> Result<()> {
        self.record_on(dev, dev.cu_stream())
    }

    /// Records the work queued so far on `stream`, a stream of `dev`'s context (its copy
    /// stream).
    pub(crate) fn record_on(&self, dev: &CudaDevice, stream: sys::CUstream) -> Result<()> {
        dev.bind()?;
        // SAFETY: the event and the stream belong to `dev`'s context (the event was made by
        // `Event::new(dev)` for the same device: callers record only on their own device).
        unsafe { result::event::record(self.ev as sys::CUevent, stream) }
            .map_err(dev.err("recording an event"))
    }

    /// Makes `stream`, a stream of `dev`'s context, wait for the work this event recorded.
    pub(crate) fn wait_on_stream(&self, dev: &CudaDevice, stream: sys::CUstream) -> Result<()> {
        dev.bind()?;
        // SAFETY: a live event and a live stream of `dev`'s context.
        unsafe {
            result::stream::wait_event(
                stream,
                self.ev as sys::CUevent,
                sys::CUevent_wait_flags::CU_EVENT_WAIT_DEFAULT,
            )
        }
        .map_err(dev.err("waiting for an event on its copy stream"))
    }

    /// Makes `dev`'s stream (any device's) wait for the work this event recorded.
    pub(crate) fn wait_on(&self, dev: &CudaDevice) -> Result<()> {
        dev.bind()?;
        // SAFETY: a live event and `dev`'s own stream; waiting across contexts is allowed.
        unsafe {
            result::stream::wait_event(
                dev.cu_stream(),
                self.ev as sys::CUevent,
                sys::CUevent_wait_flags::CU_EVENT_WAIT_DEFAULT,
            )
        }
        .map_err(dev.err(format!(
            "waiting for an event of cuda:{} on its stream",
            self.ordinal
        )))
    }

    /// Blocks the host until the recorded work has finished.
    pub(crate) fn synchronize(&self) -> Result<()> {
        bind_raw(self.ordinal, self.ctx as sys::CUcontext)?;
        // SAFETY: a live event of this context.
        unsafe { result::event::synchronize(self.ev as sys::CUevent) }
            .map_err(driver_err(self.ordinal, "waiting for an event"))
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // A failure here means the context is already faulted (sticky); every later call on it
        // reports that, so there is nothing to add.
        if bind_raw(self.ordinal, self.ctx as sys::CUcontext).is_ok() {
            // SAFETY: the event is ours and never used after this.
            let _ = unsafe { result::event::destroy(self.ev as sys::CUevent) };
        }
    }
}
