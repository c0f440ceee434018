//! The recipe Net on one GPU at a fixed batch, planned once and run again and again: every
//! activation buffer allocated up front, the five launches (two fused conv → relu → pool, three
//! linears) captured into a CUDA graph on the first run and replayed after. A steady-state
//! [`NetCudaPlan::forward_host`] allocates nothing and makes three driver calls (the upload, the
//! replay, the download); [`NetCudaPlan::forward`] adds one allocation, its result; and
//! [`NetCudaPlan::forward_host_many`] runs many batches with their copies on a second stream,
//! overlapping the compute (`net_plan_pipe.rs`).
//!
//! The kernels, params and order are exactly [`Net::forward`]'s on that device, so the logits are
//! the same bit for bit. The plan holds its own references to the Net's weights (a later change
//! to the Net's tensors does not reach the plan: make a new one).

use std::sync::Arc;

use crate::cuda::graph::CudaGraph;
use crate::cuda::side_stream::SideStream;
use crate::cuda::{CudaDevice, DevView, DevViewMut, DeviceBuf};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::shapes::{conv2d_kernel, ConvKernel};
use crate::kernels::{Conv2dParams, LinearParams};
use crate::nn::{Conv2d, Linear, Net};
use crate::ops::is_pool_2x2;
use crate::ops::operands::cuda::{device_of, tensor, view};
use crate::tensor::Tensor;
use crate::Device;

#[path = "net_plan_pipe.rs"]
mod pipe;
use pipe::Pipeline;

const OP: &str = "Net CUDA plan";

/// One convolution stage: its fused params and its layer's tensors.
struct ConvStage {
    p: Conv2dParams,
    w: Tensor,
    b: Option<Tensor>,
}

/// One linear stage.
struct LinearStage {
    p: LinearParams,
    w: Tensor,
    b: Option<Tensor>,
}

/// An input buffer, an output buffer and the graph that runs the Net from one to the other.
struct Slot {
    input: DeviceBuf,
    output: DeviceBuf,
    graph: Option<CudaGraph>,
}

/// The recipe Net at one batch size on one GPU; see the module docs.
pub struct NetCudaPlan {
    dev: Arc<CudaDevice>,
    batch: usize,
    convs: [ConvStage; 2],
    linears: [LinearStage; 3],
    /// Each stage's output but the last, shared by the slots' graphs (which run one after
    /// another on the device's stream).
    mids: [DeviceBuf; 4],
    /// Slot 0 for single forwards; slot 1 too for the pipelined one.
    slots: Vec<Slot>,
    pipe: Option<Pipeline>,
    /// The stream graphs are captured on (made with the first capture).
    capture: Option<SideStream>,
}

impl std::fmt::Debug for NetCudaPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NetCudaPlan(batch {} on cuda:{}, {})",
            self.batch,
            self.dev.ordinal(),
            if self.slots.iter().any(|s| s.graph.is_some()) {
                "graph captured"
            } else {
                "not run yet"
            }
        )
    }
}

fn overflow(dims: &[usize]) -> Error {
    Error::Overflow {
        what: format!("{OP} buffer {dims:?}"),
    }
}

/// The element count of `dims`, checked.
fn numel(dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| overflow(dims))
}

fn refuse(reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        op: OP,
        name: "net",
        reason: reason.into(),
    }
}

impl Net {
    /// Plans this Net for `batch` images of `[3, 32, 32]` on the GPU its parameters are on
    /// (move it there first with `to_device`). Refused for a Net on the CPU, one whose layers
    /// were changed so that a convolution is not followed by the fused relu and 2x2 pool the
    /// plan's kernels implement, or a batch of 0.
    pub fn cuda_plan(&self, batch: usize) -> Result<NetCudaPlan> {
        if batch == 0 {
            return Err(refuse("a batch of at least one image"));
        }
        let dev =
            match self.conv1.weight.device() {
                Device::Cuda(_) => device_of(&self.conv1.weight)?,
                Device::Cpu => return Err(refuse(
                    "the Net's parameters are on the CPU; move it to a GPU with to_device first",
                )),
            };
        if !is_pool_2x2(&self.pool.args) {
            return Err(refuse(format!(
                "the plan fuses nn.MaxPool2d(2) only, the Net has {:?}",
                self.pool.args
            )));
        }
        let c1 = conv_stage(&dev, &self.conv1, &[batch, 3, 32, 32])?;
        let a1 = c1.p.out_pooled();
        let c2 = conv_stage(&dev, &self.conv2, &a1)?;
        let a2 = c2.p.out_pooled();
        let flat = numel(&a2[1..])?;
        let l1 = linear_stage(&dev, &self.fc1, batch, flat)?;
        let l2 = linear_stage(&dev, &self.fc2, batch, l1.p.n as usize)?;
        let l3 = linear_stage(&dev, &self.fc3, batch, l2.p.n as usize)?;
        // Every size checked: a batch (or a changed layer) too large to address is an error,
        // not an overflow.
        let f32s = |dims: &[usize]| -> Result<DeviceBuf> {
            let bytes = numel(dims)?.checked_mul(4).ok_or_else(|| overflow(dims))?;
            DeviceBuf::alloc(&dev, bytes)
        };
        let mids = [
            f32s(&a1)?,
            f32s(&a2)?,
            f32s(&[batch, l1.p.n as usize])?,
            f32s(&[batch, l2.p.n as usize])?,
        ];
        let slot = Slot {
            input: f32s(&[batch, 3, 32, 32])?,
            output: f32s(&[batch, l3.p.n as usize])?,
            graph: None,
        };
        Ok(NetCudaPlan {
            dev,
            batch,
            convs: [c1, c2],
            linears: [l1, l2, l3],
            mids,
            slots: vec![slot],
            pipe: None,
            capture: None,
        })
    }
}

impl Conv2dParams {
    /// `[N, C_out, H_out / 2, W_out / 2]` (what a pooled launch stores).
    fn out_pooled(&self) -> [usize; 4] {
        [self.n, self.c_out, self.stored_h(), self.stored_w()].map(|x| x as usize)
    }
}

fn same_device(dev: &CudaDevice, name: &str, t: &Tensor) -> Result<()> {
    if t.device() != Device::Cuda(dev.ordinal()) || t.dtype() != DType::F32 || !t.is_contiguous() {
        return Err(refuse(format!(
            "{name} must be a contiguous float32 tensor on cuda:{}, got {} {:?} on {}",
            dev.ordinal(),
            t.dtype(),
            t.shape(),
            t.device()
        )));
    }
    Ok(())
}

fn conv_stage(dev: &CudaDevice, c: &Conv2d, input: &[usize]) -> Result<ConvStage> {
    same_device(dev, "a convolution's weight", &c.weight)?;
    if let Some(b) = &c.bias {
        same_device(dev, "a convolution's bias", b)?;
    }
    let a = &c.args;
    let mut p = Conv2dParams::new(
        input,
        c.weight.shape(),
        c.bias.is_some(),
        a.stride,
        a.padding,
        a.dilation,
        a.groups,
    )?;
    let small = matches!(
        conv2d_kernel(&p),
        ConvKernel::Small3 | ConvKernel::Small5 | ConvKernel::Small7
    );
    if !small || p.h_out < 2 || p.w_out < 2 {
        return Err(refuse(format!(
            "a convolution {:?} over {input:?} has no pooling kernel",
            c.weight.shape()
        )));
    }
    p.relu = c.fused_relu as i64;
    p.pool = 2;
    Ok(ConvStage {
        p,
        w: c.weight.clone(),
        b: c.bias.clone(),
    })
}

fn linear_stage(dev: &CudaDevice, l: &Linear, batch: usize, k: usize) -> Result<LinearStage> {
    same_device(dev, "a linear layer's weight", &l.weight)?;
    if let Some(b) = &l.bias {
        same_device(dev, "a linear layer's bias", b)?;
    }
    let p = LinearParams::new(
        &[batch, k],
        l.weight.shape(),
        l.bias.as_ref().map(|b| b.shape()),
        l.fused_relu,
    )?;
    Ok(LinearStage {
        p,
        w: l.weight.clone(),
        b: l.bias.clone(),
    })
}

impl NetCudaPlan {
    /// The batch it was planned for.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Logits per image (fc3's outputs).
    fn classes(&self) -> usize {
        self.linears[2].p.n as usize
    }

    /// The device it runs on.
    pub fn device(&self) -> Device {
        Device::Cuda(self.dev.ordinal())
    }

    /// Logits `[batch, 10]` on the plan's device for `x` `[batch, 3, 32, 32]` float32, on the
    /// host or on the plan's device.
    pub fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let want = [self.batch, 3, 32, 32];
        if x.shape() != want || x.dtype() != DType::F32 {
            return Err(Error::Shape {
                op: OP,
                expected: format!("float32 input {want:?}"),
                got: format!("{} {:?}", x.dtype(), x.shape()),
            });
        }
        match x.device() {
            Device::Cpu => {
                let bytes = x.contiguous_bytes()?;
                crate::cuda::upload_into(&mut self.slots[0].input, 0, &bytes)?;
            }
            d if d == self.device() => {
                let src = view(OP, "input", x)?;
                let dst = self.slots[0]
                    .input
                    .view_mut()
                    .ok_or_else(|| refuse("empty input"))?;
                crate::cuda::buffer::copy_on_device(&self.dev, src, dst)?;
            }
            d => {
                return Err(Error::DeviceMismatch {
                    op: OP,
                    expected: self.device(),
                    got: d,
                })
            }
        }
        self.replay(0)?;
        let out = &self.slots[0].output;
        let mut y = DeviceBuf::alloc(&self.dev, out.len())?;
        let dst = y.view_mut().ok_or_else(|| refuse("empty output"))?;
        crate::cuda::buffer::copy_on_device(&self.dev, out.view(0..out.len())?, dst)?;
        tensor(y, DType::F32, &[self.batch, self.linears[2].p.n as usize])
    }

    /// The whole forward from host memory to host memory with no allocation: `x` is
    /// `batch * 3 * 32 * 32` floats (NCHW), `logits` `batch * 10`. Returns when `logits` holds
    /// the result.
    pub fn forward_host(&mut self, x: &[f32], logits: &mut [f32]) -> Result<()> {
        let (nx, ny) = (
            self.batch * 3 * 32 * 32,
            self.batch * self.linears[2].p.n as usize,
        );
        if x.len() != nx || logits.len() != ny {
            return Err(Error::Shape {
                op: OP,
                expected: format!("{nx} input floats and {ny} logits"),
                got: format!("{} and {}", x.len(), logits.len()),
            });
        }
        crate::cuda::upload_into(&mut self.slots[0].input, 0, bytemuck::cast_slice(x))?;
        self.replay(0)?;
        let out = &self.slots[0].output;
        crate::cuda::download(out, 0..out.len(), bytemuck::cast_slice_mut(logits))
    }

    /// Runs slot `i`'s graph; its first call runs the launches once directly (loading their
    /// modules and checking every launch), then captures them.
    fn replay(&mut self, i: usize) -> Result<()> {
        if self.capture.is_none() && self.slots.get(i).is_some_and(|s| s.graph.is_none()) {
            self.capture = Some(SideStream::new(&self.dev)?);
        }
        let (convs, linears, mids) = (&self.convs, &self.linears, &mut self.mids);
        let slot = self
            .slots
            .get_mut(i)
            .ok_or_else(|| refuse(format!("no slot {i}")))?;
        if let Some(g) = &slot.graph {
            return g.launch();
        }
        let dev = self.dev.clone();
        let (input, output) = (&slot.input, &mut slot.output);
        launch_all(&dev, convs, linears, input, mids, output)?;
        let side = self
            .capture
            .as_ref()
            .ok_or_else(|| refuse("no capture stream"))?;
        let graph = CudaGraph::capture(&dev, side, || {
            launch_all(&dev, convs, linears, input, mids, output)
        })?;
        slot.graph = Some(graph);
        Ok(())
    }
}

fn whole(b: &DeviceBuf) -> Result<DevView<'_>> {
    b.view(0..b.len())
}

fn whole_mut(b: &mut DeviceBuf) -> Result<DevViewMut<'_>> {
    b.view_mut().ok_or_else(|| refuse("an empty activation"))
}

/// The five launches: `input` → mids\[0\] → ... → mids\[3\] → `output`.
fn launch_all(
    dev: &Arc<CudaDevice>,
    convs: &[ConvStage; 2],
    linears: &[LinearStage; 3],
    input: &DeviceBuf,
    mids: &mut [DeviceBuf; 4],
    output: &mut DeviceBuf,
) -> Result<()> {
    let [m0, m1, m2, m3] = mids;
    conv(dev, &convs[0], whole(input)?, whole_mut(m0)?)?;
    conv(dev, &convs[1], whole(m0)?, whole_mut(m1)?)?;
    lin(dev, &linears[0], whole(m1)?, whole_mut(m2)?)?;
    lin(dev, &linears[1], whole(m2)?, whole_mut(m3)?)?;
    lin(dev, &linears[2], whole(m3)?, whole_mut(output)?)
}

fn conv(dev: &CudaDevice, c: &ConvStage, x: DevView<'_>, y: DevViewMut<'_>) -> Result<()> {
    let b = c.b.as_ref().map(|b| view(OP, "bias", b)).transpose()?;
    let w = view(OP, "weight", &c.w)?;
    crate::cuda::conv2d::conv2d_f32(dev, &c.p, x, w, b, None, y)
}

fn lin(dev: &CudaDevice, l: &LinearStage, x: DevView<'_>, y: DevViewMut<'_>) -> Result<()> {
    let b = l.b.as_ref().map(|b| view(OP, "bias", b)).transpose()?;
    let w = view(OP, "weight", &l.w)?;
    crate::cuda::linear::linear_f32(dev, &l.p, x, w, b, y)
}
