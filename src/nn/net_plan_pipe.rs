//! `NetCudaPlan::forward_host_many`: many batches from host memory with the copies overlapping
//! the compute. Two slots (input buffer, output buffer, graph) alternate; a copy stream uploads
//! batch i+1 from a pinned buffer and downloads batch i-1 into another while the device's own
//! stream runs batch i's graph, and the host fills and empties the pinned buffers meanwhile.
//!
//! Ordering, for batch i in slot s = i % 2 (events per slot: `uploaded`, `computed`,
//! `downloaded`):
//! - the host refills pinned input s after `uploaded[s]` of batch i-2 (its last reader);
//! - the copy stream uploads into input s after `computed[s]` of batch i-2 (its last reader),
//!   and the compute stream runs graph s after `uploaded[s]`, then records `computed[s]`;
//! - the copy stream downloads output s after `computed[s]`, into pinned output s, which the
//!   host emptied (batch i-2) before this download was queued;
//! - output s is rewritten by batch i+2's graph only after its `uploaded` event, which the copy
//!   stream reaches after batch i's download: the copy stream runs its work in order.
//!
//! Downloads are queued one batch late, so the copy stream never waits on the batch in flight
//! before the next upload.

use super::{NetCudaPlan, Slot};
use crate::cuda::event::Event;
use crate::cuda::side_stream::SideStream;
use crate::cuda::staging::Pinned;
use crate::cuda::DeviceBuf;
use crate::error::{Error, Result};

/// The copy stream, pinned buffers and events of the pipelined forward, per slot.
pub(super) struct Pipeline {
    copy: SideStream,
    pin_in: [Pinned; 2],
    pin_out: [Pinned; 2],
    uploaded: [Event; 2],
    computed: [Event; 2],
    downloaded: [Event; 2],
}

impl NetCudaPlan {
    /// Logits for any number of batches of `batch` images, host memory to host memory, with the
    /// uploads and downloads overlapping the compute: `images` holds `k * batch` images NCHW
    /// (`k * batch * 3 * 32 * 32` floats), `logits` `k * batch * 10`. The first call makes a
    /// second slot, a copy stream and four pinned buffers of one batch each; later calls
    /// allocate nothing. Each batch's logits are bit for bit [`NetCudaPlan::forward_host`]'s.
    pub fn forward_host_many(&mut self, images: &[f32], logits: &mut [f32]) -> Result<()> {
        let per_in = self.batch * 3 * 32 * 32;
        let per_out = self.batch * self.classes();
        let k = images.len() / per_in;
        if images.len() != k * per_in || logits.len() != k * per_out {
            return Err(Error::Shape {
                op: "Net CUDA plan",
                expected: format!(
                    "a whole number of batches: {per_in} input floats and {per_out} logits each"
                ),
                got: format!("{} input floats and {} logits", images.len(), logits.len()),
            });
        }
        if k == 0 {
            return Ok(());
        }
        self.ensure_pipeline()?;
        for i in 0..=k {
            if i < k {
                let src = &images[i * per_in..][..per_in];
                self.issue(i, bytemuck::cast_slice(src))?;
            }
            if i >= 1 {
                self.queue_download(i - 1)?;
            }
            if i >= 2 {
                self.collect(i - 2, &mut logits[(i - 2) * per_out..][..per_out])?;
            }
        }
        // The loop collects batches 0..k-1 (two behind); the last one is still out.
        self.collect(k - 1, &mut logits[(k - 1) * per_out..][..per_out])
    }

    fn ensure_pipeline(&mut self) -> Result<()> {
        if self.pipe.is_some() {
            return Ok(());
        }
        let dev = self.dev.clone();
        if self.slots.len() < 2 {
            let (i, o) = (self.slots[0].input.len(), self.slots[0].output.len());
            self.slots.push(Slot {
                input: DeviceBuf::alloc(&dev, i)?,
                output: DeviceBuf::alloc(&dev, o)?,
                graph: None,
            });
        }
        let (i, o) = (self.slots[0].input.len(), self.slots[0].output.len());
        self.pipe = Some(Pipeline {
            copy: SideStream::new(&dev)?,
            pin_in: [Pinned::with_len(&dev, i)?, Pinned::with_len(&dev, i)?],
            pin_out: [Pinned::with_len(&dev, o)?, Pinned::with_len(&dev, o)?],
            uploaded: [Event::new(&dev)?, Event::new(&dev)?],
            computed: [Event::new(&dev)?, Event::new(&dev)?],
            downloaded: [Event::new(&dev)?, Event::new(&dev)?],
        });
        Ok(())
    }

    fn pipe(&mut self) -> Result<&mut Pipeline> {
        self.pipe.as_mut().ok_or_else(missing)
    }

    /// Batch `i`: into pinned input, uploaded on the copy stream, run on the compute stream.
    fn issue(&mut self, i: usize, src: &[u8]) -> Result<()> {
        let s = i % 2;
        let dev = self.dev.clone();
        let p = self.pipe()?;
        if i >= 2 {
            p.uploaded[s].synchronize()?;
            p.computed[s].wait_on_stream(&dev, p.copy.cu_stream())?;
        }
        p.pin_in[s].as_mut_slice().copy_from_slice(src);
        let p = self.pipe.as_mut().ok_or_else(missing)?;
        let dst = self.slots[s].input.view_mut().ok_or_else(missing)?;
        p.copy.upload(&p.pin_in[s], dst)?;
        p.uploaded[s].record_on(&dev, p.copy.cu_stream())?;
        p.uploaded[s].wait_on(&dev)?;
        self.replay(s)?;
        self.pipe()?.computed[s].record(&dev)
    }

    /// Batch `i`'s logits, downloaded on the copy stream once its graph has run.
    fn queue_download(&mut self, i: usize) -> Result<()> {
        let s = i % 2;
        let dev = self.dev.clone();
        let p = self.pipe.as_mut().ok_or_else(missing)?;
        p.computed[s].wait_on_stream(&dev, p.copy.cu_stream())?;
        let out = &self.slots[s].output;
        p.copy
            .download(out.view(0..out.len())?, &mut p.pin_out[s])?;
        p.downloaded[s].record_on(&dev, p.copy.cu_stream())
    }

    /// Waits for batch `i`'s download and copies its logits out of the pinned buffer.
    fn collect(&mut self, i: usize, logits: &mut [f32]) -> Result<()> {
        let p = self.pipe()?;
        let s = i % 2;
        p.downloaded[s].synchronize()?;
        bytemuck::cast_slice_mut(logits).copy_from_slice(p.pin_out[s].as_slice());
        Ok(())
    }
}

fn missing() -> Error {
    Error::InvalidArgument {
        op: "Net CUDA plan",
        name: "pipeline",
        reason: "not set up".into(),
    }
}
