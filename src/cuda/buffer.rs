//! Device buffers and every copy between the host and devices.
//!
//! Uploads of at least [`STAGE_MIN`](super::STAGE_MIN) bytes go through two pinned (page-locked) buffers of
//! [`STAGE_CHUNK`] bytes: while the DMA engine uploads one chunk, the CPU copies the next one
//! (from a mapped checkpoint: reading the file) into the other. Each buffer has an event
//! recorded after its upload; the CPU waits on it before refilling that buffer. Smaller uploads
//! go straight from pageable memory (the driver stages them itself, returning once the source
//! has been read). Downloads go straight into the destination and synchronise.

use std::ops::Range;
use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaView};

use crate::cuda::device::CudaDevice;
use crate::cuda::driver_err;
use crate::cuda::staging::{Staging, STAGE_CHUNK};
use crate::error::{Error, Result};

/// An allocation of `len` bytes on one device. Zero-byte buffers hold no allocation (the
/// driver refuses zero-byte allocations).
pub(crate) struct DeviceBuf {
    dev: Arc<CudaDevice>,
    slice: Option<CudaSlice<u8>>,
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

impl DeviceBuf {
    /// Allocates `len` bytes whose contents the caller overwrites before reading them.
    pub(crate) fn alloc(dev: &Arc<CudaDevice>, len: usize) -> Result<DeviceBuf> {
        let slice = if len == 0 {
            None
        } else {
            // SAFETY: the bytes are uninitialised; every caller writes all `len` bytes (a copy or
            // a kernel covering the whole output) before the buffer is read.
            let s = unsafe { dev.stream().alloc::<u8>(len) }.map_err(driver_err(format!(
                "allocating {len} bytes on cuda:{}",
                dev.ordinal()
            )))?;
            Some(s)
        };
        Ok(DeviceBuf {
            dev: dev.clone(),
            slice,
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

    /// The allocation, for writing by a kernel; `None` for a zero-byte buffer.
    pub(crate) fn slice_mut(&mut self) -> Option<&mut CudaSlice<u8>> {
        self.slice.as_mut()
    }

    /// A view of bytes `range`, checked against the buffer.
    pub(crate) fn view(&self, range: Range<usize>) -> Result<CudaView<'_, u8>> {
        let bad = || Error::Shape {
            op: "DeviceBuf::view",
            expected: format!("a non-empty byte range inside {} bytes", self.len),
            got: format!("{range:?}"),
        };
        if range.start >= range.end || range.end > self.len {
            return Err(bad());
        }
        self.slice
            .as_ref()
            .and_then(|s| s.try_slice(range.clone()))
            .ok_or_else(bad)
    }
}

/// Copies host bytes to a new buffer on `dev`.
pub(crate) fn upload(dev: &Arc<CudaDevice>, src: &[u8]) -> Result<DeviceBuf> {
    let mut buf = DeviceBuf::alloc(dev, src.len())?;
    let what = || format!("copying {} bytes to cuda:{}", src.len(), dev.ordinal());
    let Some(dst) = buf.slice.as_mut() else {
        return Ok(buf);
    };
    if src.len() < super::STAGE_MIN {
        dev.stream()
            .memcpy_htod(src, dst)
            .map_err(driver_err(what()))?;
    } else {
        dev.with_staging(|st| upload_staged(dev, st, src, dst))?;
    }
    Ok(buf)
}

/// The double-buffered pinned upload of `src` (at least one chunk long) into `dst`.
fn upload_staged(
    dev: &CudaDevice,
    st: &mut Staging,
    src: &[u8],
    dst: &mut CudaSlice<u8>,
) -> Result<()> {
    let total = src.len();
    let err = || {
        driver_err(format!(
            "staged copy of {total} bytes to cuda:{}",
            dev.ordinal()
        ))
    };
    let mut start = 0;
    let mut slot = 0;
    while start < total {
        // Every copy moves one whole chunk, so the pinned buffer and the device view have the
        // same length; the last chunk ends at `total` and overlaps the one before it (the
        // overlapping bytes are equal, and both copies run in stream order).
        let s = start.min(total.saturating_sub(STAGE_CHUNK));
        let e = s + STAGE_CHUNK;
        let chunk = src.get(s..e).ok_or_else(|| Error::Overflow {
            what: format!("staging chunk {s}..{e} of {total} bytes"),
        })?;
        // The previous upload from this buffer must have finished reading it.
        st.done[slot].synchronize().map_err(err())?;
        st.bufs[slot]
            .as_mut_slice()
            .map_err(err())?
            .copy_from_slice(chunk);
        let dst_len = dst.len();
        let mut view = dst.try_slice_mut(s..e).ok_or_else(|| Error::Overflow {
            what: format!("device range {s}..{e} of {dst_len} bytes"),
        })?;
        dev.stream()
            .memcpy_htod(&st.bufs[slot], &mut view)
            .map_err(err())?;
        st.done[slot].record(dev.stream()).map_err(err())?;
        start = e;
        slot ^= 1;
    }
    Ok(())
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
    let err = || driver_err(format!("copying {n} bytes from cuda:{}", dev.ordinal()));
    let view = buf.view(range)?;
    dev.stream().memcpy_dtoh(&view, out).map_err(err())?;
    dev.stream().synchronize().map_err(err())
}

/// Copies `src` to a new buffer on `dst_dev` (the same or another device). Another device is
/// reached with a peer copy (the driver stages through the host when peer access is off); if
/// the driver refuses it, through host memory here.
pub(crate) fn copy_to_device(src: &DeviceBuf, dst_dev: &Arc<CudaDevice>) -> Result<DeviceBuf> {
    let mut dst = DeviceBuf::alloc(dst_dev, src.len)?;
    let (Some(s), Some(d)) = (src.slice.as_ref(), dst.slice.as_mut()) else {
        return Ok(dst);
    };
    let src_dev = src.device();
    let what = || {
        format!(
            "copying {} bytes from cuda:{} to cuda:{}",
            src.len,
            src_dev.ordinal(),
            dst_dev.ordinal()
        )
    };
    if Arc::ptr_eq(src_dev, dst_dev) {
        dst_dev
            .stream()
            .memcpy_dtod(s, d)
            .map_err(driver_err(what()))?;
        return Ok(dst);
    }
    // cudarc makes the destination stream wait for the source stream before the peer copy.
    if dst_dev.stream().memcpy_dtod(s, d).is_ok() {
        // The source stream must not free or overwrite `src` before the copy has read it.
        let copied = dst_dev
            .stream()
            .record_event(None)
            .map_err(driver_err(what()))?;
        src_dev.stream().wait(&copied).map_err(driver_err(what()))?;
        return Ok(dst);
    }
    let mut host = Vec::new();
    host.try_reserve_exact(src.len)
        .map_err(|_| Error::OutOfMemory {
            what: format!("a host copy of a {}-byte device buffer", src.len),
            bytes: src.len,
        })?;
    host.resize(src.len, 0u8);
    download(src, 0..src.len, &mut host)?;
    upload(dst_dev, &host)
}
