//! Device buffers, views of them, and copies between the host and a device.
//!
//! A [`DeviceBuf`] is a raw allocation (not a cudarc slice): it frees itself on its own
//! device's context and stream, whichever thread drops it. With a memory pool the free is
//! stream-ordered (`cuMemFreeAsync` on the device's stream), so it happens after every kernel
//! and copy queued before it that reads the buffer; without one, the stream is drained first.
//!
//! Uploads of at least [`STAGE_MIN`](super::STAGE_MIN) bytes go through two pinned (page-locked)
//! buffers of [`STAGE_CHUNK`] bytes: while the DMA engine uploads one chunk, the CPU copies the
//! next one (from a mapped checkpoint: reading the file) into the other. Each buffer has an
//! event recorded after its upload; the CPU waits on it before refilling that buffer. Smaller
//! uploads go straight from pageable memory (the driver stages them itself, returning once the
//! source has been read). Downloads go straight into the destination and synchronise.

use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Arc;

use cudarc::driver::result;

use crate::cuda::device::CudaDevice;
use crate::cuda::staging::{Staging, STAGE_CHUNK};
use crate::error::{Error, Result};

/// An allocation of `len` bytes on one device. Zero-byte buffers hold no allocation (the
/// driver refuses zero-byte allocations).
pub(crate) struct DeviceBuf {
    dev: Arc<CudaDevice>,
    /// The device address; 0 for a zero-byte buffer.
    ptr: u64,
    len: usize,
}

impl std::fmt::Debug for DeviceBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DeviceBuf({} bytes on cuda:{})",
            self.len,
            self.dev.ordinal()
        )
    }
}

/// Bytes of a device buffer a kernel or copy reads: an address and a length, borrowed from the
/// buffer so it cannot be freed meanwhile.
#[derive(Clone, Copy)]
pub(crate) struct DevView<'a> {
    pub(crate) ptr: u64,
    pub(crate) len: usize,
    _buf: PhantomData<&'a DeviceBuf>,
}

/// Bytes of a device buffer a kernel writes, borrowed exclusively.
pub(crate) struct DevViewMut<'a> {
    pub(crate) ptr: u64,
    pub(crate) len: usize,
    _buf: PhantomData<&'a mut DeviceBuf>,
}

impl DeviceBuf {
    /// Allocates `len` bytes whose contents the caller overwrites before reading them.
    pub(crate) fn alloc(dev: &Arc<CudaDevice>, len: usize) -> Result<DeviceBuf> {
        let ptr = if len == 0 {
            0
        } else {
            dev.bind()?;
            let what = || format!("allocating {len} bytes");
            // SAFETY: the bytes are uninitialised; every caller writes all `len` bytes (a copy
            // or a kernel covering the whole output) before the buffer is read. A pool
            // allocation is ordered on the device's stream, where all its uses are queued.
            unsafe {
                if dev.has_pool() {
                    result::malloc_async(dev.cu_stream(), len).map_err(dev.err(what()))?
                } else {
                    result::malloc_sync(len).map_err(dev.err(what()))?
                }
            }
        };
        Ok(DeviceBuf {
            dev: dev.clone(),
            ptr,
            len,
        })
    }

    /// Its size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn device(&self) -> &Arc<CudaDevice> {
        &self.dev
    }

    /// The whole buffer, for writing by a kernel or copy; `None` for a zero-byte buffer.
    pub(crate) fn view_mut(&mut self) -> Option<DevViewMut<'_>> {
        (self.ptr != 0).then_some(DevViewMut {
            ptr: self.ptr,
            len: self.len,
            _buf: PhantomData,
        })
    }

    /// A view of bytes `range`, checked against the buffer.
    pub(crate) fn view(&self, range: Range<usize>) -> Result<DevView<'_>> {
        if range.start >= range.end || range.end > self.len || self.ptr == 0 {
            return Err(Error::Shape {
                op: "DeviceBuf::view",
                expected: format!("a non-empty byte range inside {} bytes", self.len),
                got: format!("{range:?}"),
            });
        }
        Ok(DevView {
            // In bounds of an allocation, so no overflow: the address space holds it.
            ptr: self.ptr + range.start as u64,
            len: range.len(),
            _buf: PhantomData,
        })
    }
}

impl Drop for DeviceBuf {
    fn drop(&mut self) {
        if self.ptr == 0 {
            return;
        }
        let dev = &self.dev;
        let freed = dev.bind().and_then(|()| {
            let what = || format!("freeing a {}-byte buffer", self.len);
            // SAFETY: our allocation, freed once, on its own context. With a pool the free is
            // queued on the device's stream, after every use queued there (and a cross-device
            // copy reading it made this stream wait for it: peer.rs); without one the stream is
            // drained first, so nothing still reads it.
            unsafe {
                if dev.has_pool() {
                    result::free_async(self.ptr, dev.cu_stream()).map_err(dev.err(what()))
                } else {
                    result::stream::synchronize(dev.cu_stream())
                        .and_then(|()| result::free_sync(self.ptr))
                        .map_err(dev.err(what()))
                }
            }
        });
        if let Err(e) = freed {
            dev.defer(e);
        }
    }
}

/// Copies host bytes to a new buffer on `dev`.
pub(crate) fn upload(dev: &Arc<CudaDevice>, src: &[u8]) -> Result<DeviceBuf> {
    let mut buf = DeviceBuf::alloc(dev, src.len())?;
    let Some(dst) = buf.view_mut() else {
        return Ok(buf);
    };
    if src.len() < super::STAGE_MIN {
        dev.bind()?;
        // SAFETY: `dst` is a live allocation of exactly src.len() bytes on `dev`; from pageable
        // memory the driver has read `src` when the call returns.
        unsafe { result::memcpy_htod_async(dst.ptr, src, dev.cu_stream()) }
            .map_err(dev.err(format!("copying {} bytes to it", src.len())))?;
    } else {
        dev.with_staging(|st| upload_staged(dev, st, src, dst))?;
    }
    Ok(buf)
}

/// Copies host bytes into `dst` at byte `at` (a small, pageable copy: the driver has read `src`
/// when this returns).
pub(crate) fn upload_into(dst: &mut DeviceBuf, at: usize, src: &[u8]) -> Result<()> {
    if src.is_empty() {
        return Ok(());
    }
    let dev = dst.device().clone();
    let len = dst.len();
    let ptr = match (dst.view_mut(), at.checked_add(src.len())) {
        (Some(d), Some(end)) if end <= d.len => d.ptr + at as u64,
        _ => {
            return Err(Error::Shape {
                op: "upload",
                expected: format!("{} bytes at {at} inside a {len}-byte buffer", src.len()),
                got: format!("{} bytes", src.len()),
            })
        }
    };
    dev.bind()?;
    // SAFETY: the range lies inside `dst`'s live allocation (checked above).
    unsafe { result::memcpy_htod_async(ptr, src, dev.cu_stream()) }
        .map_err(dev.err(format!("copying {} bytes to it", src.len())))
}

/// The double-buffered pinned upload of `src` (at least one chunk long) into `dst`.
fn upload_staged(
    dev: &CudaDevice,
    st: &mut Staging,
    src: &[u8],
    dst: DevViewMut<'_>,
) -> Result<()> {
    let total = src.len();
    let mut start = 0;
    let mut slot = 0;
    while start < total {
        // Every copy moves one whole chunk, so the pinned buffer and the device range have the
        // same length; the last chunk ends at `total` and overlaps the one before it (the
        // overlapping bytes are equal, and both copies run in stream order).
        let s = start.min(total.saturating_sub(STAGE_CHUNK));
        let e = s + STAGE_CHUNK;
        let chunk = src.get(s..e).ok_or_else(|| Error::Overflow {
            what: format!("staging chunk {s}..{e} of {total} bytes"),
        })?;
        if e > dst.len {
            return Err(Error::Overflow {
                what: format!("device range {s}..{e} of {} bytes", dst.len),
            });
        }
        // The previous upload from this buffer must have finished reading it.
        st.done[slot].synchronize()?;
        st.bufs[slot].as_mut_slice().copy_from_slice(chunk);
        dev.bind()?;
        // SAFETY: the pinned buffer holds STAGE_CHUNK bytes and stays untouched until the event
        // recorded right after this copy has completed (checked above before each refill, and
        // by Staging's drop); the device range s..e lies inside `dst` (checked above).
        unsafe {
            let pinned = std::slice::from_raw_parts(st.bufs[slot].as_ptr(), STAGE_CHUNK);
            result::memcpy_htod_async(dst.ptr + s as u64, pinned, dev.cu_stream())
        }
        .map_err(dev.err(format!("staged copy of {total} bytes to it")))?;
        st.done[slot].record(dev)?;
        start = e;
        slot ^= 1;
    }
    Ok(())
}

/// Copies `src` into `dst` (of the same length) on `dev`'s stream, where both live.
pub(crate) fn copy_on_device(
    dev: &CudaDevice,
    src: DevView<'_>,
    dst: DevViewMut<'_>,
) -> Result<()> {
    if src.len != dst.len {
        return Err(Error::Shape {
            op: "device copy",
            expected: format!("a destination of {} bytes", src.len),
            got: format!("{} bytes", dst.len),
        });
    }
    dev.bind()?;
    // SAFETY: both views lie inside live allocations of `dev` (their borrows keep them alive
    // until the call returns, and frees are ordered after the copy on the same stream), are
    // `src.len` bytes long, and `dst` is borrowed exclusively, so they do not overlap.
    unsafe { result::memcpy_dtod_async(dst.ptr, src.ptr, src.len, dev.cu_stream()) }
        .map_err(dev.err(format!("copying {} bytes on the device", src.len)))
}

/// Copies bytes `range` of `buf` into `out` (of the same length) and waits for the copy.
pub(crate) fn download(buf: &DeviceBuf, range: Range<usize>, out: &mut [u8]) -> Result<()> {
    if range.is_empty() && out.is_empty() {
        return Ok(());
    }
    if range.len() != out.len() {
        return Err(Error::Shape {
            op: "download",
            expected: format!("a host buffer of {} bytes", range.len()),
            got: format!("{} bytes", out.len()),
        });
    }
    let dev = buf.device();
    let n = out.len();
    let view = buf.view(range)?;
    dev.bind()?;
    // SAFETY: `view` lies inside a live allocation of `dev` and is `n` bytes long, as is `out`;
    // the stream is synchronised before `out` is handed back.
    unsafe { result::memcpy_dtoh_async(out, view.ptr, dev.cu_stream()) }
        .map_err(dev.err(format!("copying {n} bytes from it")))?;
    dev.synchronize()
}
