//! Copies between device buffers: on one device, or from one GPU to another.
//!
//! A copy to another GPU is queued on the *destination's* stream, so every later kernel and
//! download there runs after it, and is fenced on both sides with events:
//!
//! ```text
//! source stream:  ...writes src... [ready] ------------------------ wait(copied) ... free src
//! dest stream:    ... wait(ready) [cuMemcpyPeerAsync src -> dst] [copied] ... reads dst
//! ```
//!
//! `ready` makes the copy read `src` only once the work that produced it has run; `copied`
//! keeps the source stream from freeing or overwriting `src` while the copy still reads it.
//! (cudarc's cross-context `memcpy_dtod` queues the peer copy on stream 0, which is the legacy
//! stream of whichever context happens to be current, in practice the source's: later work on
//! the destination then raced the copy.) `cuMemcpyPeerAsync` works with or without peer access
//! enabled (without, the driver stages through host memory).

use std::ops::Range;
use std::sync::Arc;

use cudarc::driver::{result, sys};

use crate::cuda::buffer::DeviceBuf;
use crate::cuda::device::CudaDevice;
use crate::cuda::event::Event;
use crate::error::{Error, Result};

/// Copies `src` to a new buffer on `dst_dev` (the same or another device).
pub(crate) fn copy_to_device(src: &DeviceBuf, dst_dev: &Arc<CudaDevice>) -> Result<DeviceBuf> {
    copy_range_to_device(src, 0..src.len(), dst_dev)
}

/// Copies bytes `range` of `src` to a new buffer on `dst_dev`.
pub(crate) fn copy_range_to_device(
    src: &DeviceBuf,
    range: Range<usize>,
    dst_dev: &Arc<CudaDevice>,
) -> Result<DeviceBuf> {
    let mut dst = DeviceBuf::alloc(dst_dev, range.len())?;
    copy_into(src, range, &mut dst, 0)?;
    Ok(dst)
}

/// Copies bytes `range` of `src` into `dst` at byte `at`, in stream order on both devices.
pub(crate) fn copy_into(
    src: &DeviceBuf,
    range: Range<usize>,
    dst: &mut DeviceBuf,
    at: usize,
) -> Result<()> {
    let n = range.len();
    if n == 0 {
        return Ok(());
    }
    let dst_len = dst.len();
    let out_of_bounds = || Error::Shape {
        op: "device copy",
        expected: format!("{n} bytes at {at} inside a {dst_len}-byte destination"),
        got: format!("bytes {range:?} of a {}-byte source", src.len()),
    };
    let s = src.view(range.clone())?;
    let src_dev = src.device().clone();
    let dst_dev = dst.device().clone();
    let end = at.checked_add(n).ok_or_else(out_of_bounds)?;
    let d = match dst.view_mut() {
        Some(d) if end <= d.len => d.ptr + at as u64,
        _ => return Err(out_of_bounds()),
    };
    let what = || {
        format!(
            "copying {n} bytes from cuda:{} to cuda:{}",
            src_dev.ordinal(),
            dst_dev.ordinal()
        )
    };
    if Arc::ptr_eq(&src_dev, &dst_dev) {
        dst_dev.bind()?;
        // SAFETY: `n` bytes inside two live allocations on this device (checked above; `dst`
        // is borrowed mutably, so distinct from `src`), queued on its stream after whatever
        // wrote `src`.
        unsafe { result::memcpy_dtod_async(d, s.ptr, n, dst_dev.cu_stream()) }
            .map_err(dst_dev.err(what()))?;
        return Ok(());
    }
    let ready = Event::recorded(&src_dev)?;
    ready.wait_on(&dst_dev)?;
    dst_dev.bind()?;
    // SAFETY: `n` bytes inside a live allocation on each device (checked above); each context
    // handle is its device's own; the copy runs on the destination's stream after `ready`,
    // i.e. after everything queued to produce `src`.
    unsafe {
        sys::cuMemcpyPeerAsync(
            d,
            dst_dev.cu_ctx(),
            s.ptr,
            src_dev.cu_ctx(),
            n,
            dst_dev.cu_stream(),
        )
        .result()
    }
    .map_err(dst_dev.err(what()))?;
    let copied = Event::recorded(&dst_dev)?;
    copied.wait_on(&src_dev)
}
