//! `nn.DataParallel`: one model, several devices, a batch split between them.
//!
//! As PyTorch's: the module lives on the first device; each forward splits the input along
//! dimension 0 into `ceil(n / devices)`-row chunks (so a small batch uses fewer devices, as
//! `torch.chunk` does), runs replica `i` on device `i` with its chunk, all at once (one host
//! thread per device; each device's work goes to its own stream), and gathers the outputs along
//! dimension 0 on the output device. Each row of the result is computed exactly as a
//! single-device forward computes it, so the result is bit-identical to one. Its
//! [`Module::state_dict`] names every tensor `module.<name>`, as PyTorch's does, so its
//! checkpoints load in either.
//!
//! Replicas are made on first use and after any change through [`Module::visit_mut`]
//! (`load_state_dict`, `to_device`): the copies on the other devices are tensors moved there,
//! never stale.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{join_name, Module, TensorKind};
use crate::storage::Storage;
use crate::tensor::{contiguous_strides, Tensor};

/// A module replicated over devices, each forward's batch split between them.
pub struct DataParallel<M: Module + Clone> {
    module: M,
    devices: Vec<Device>,
    output: Device,
    /// One replica per device (the first is a clone of `module`, sharing its tensors); `None`
    /// until the first forward or after a change to `module`.
    replicas: Mutex<Option<Arc<Vec<M>>>>,
}

impl<M: Module + Clone> DataParallel<M> {
    /// Wraps `module` for `devices` (`device_ids`), gathering on the first one
    /// (`output_device`'s default). The module is moved to the first device. The devices
    /// must be distinct; none may be `cpu` next to GPUs (PyTorch refuses that too).
    pub fn new(mut module: M, devices: &[Device]) -> Result<DataParallel<M>> {
        let Some(&first) = devices.first() else {
            return Err(Error::InvalidArgument {
                op: "DataParallel::new",
                name: "devices",
                reason: "no devices".into(),
            });
        };
        for (i, d) in devices.iter().enumerate() {
            if devices[..i].contains(d) {
                return Err(Error::InvalidArgument {
                    op: "DataParallel::new",
                    name: "devices",
                    reason: format!("{d} is listed twice in {devices:?}"),
                });
            }
        }
        if devices.len() > 1 && devices.contains(&Device::Cpu) {
            return Err(Error::InvalidArgument {
                op: "DataParallel::new",
                name: "devices",
                reason: format!("cpu cannot share a batch with GPUs: {devices:?}"),
            });
        }
        module.to_device(&first)?;
        Ok(DataParallel {
            module,
            devices: devices.to_vec(),
            output: first,
            replicas: Mutex::new(None),
        })
    }

    /// Gathers outputs on `device` instead of the first device (`output_device`; `cpu` is
    /// allowed).
    pub fn with_output_device(mut self, device: Device) -> DataParallel<M> {
        self.output = device;
        self
    }

    /// The wrapped module (`dp.module`), on the first device.
    pub fn module(&self) -> &M {
        &self.module
    }

    /// The wrapped module, back out of the wrapper.
    pub fn into_inner(self) -> M {
        self.module
    }

    /// The devices the batch is split between.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    fn replicas(&self) -> Result<Arc<Vec<M>>> {
        let mut guard = self.replicas.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = guard.as_ref() {
            return Ok(r.clone());
        }
        let mut replicas = Vec::with_capacity(self.devices.len());
        replicas.push(self.module.clone());
        for d in &self.devices[1..] {
            let mut r = self.module.clone();
            r.to_device(d)?;
            replicas.push(r);
        }
        let r = Arc::new(replicas);
        *guard = Some(r.clone());
        Ok(r)
    }
}

/// The bytes of `t` (contiguous, as every op output is) within its storage.
fn byte_range(op: &'static str, t: &Tensor) -> Result<Range<usize>> {
    if !t.is_contiguous() {
        return Err(Error::InvalidArgument {
            op,
            name: "input",
            reason: format!(
                "a contiguous tensor is needed to split or gather along dim 0, got size {:?} \
                 stride {:?}",
                t.shape(),
                t.strides()
            ),
        });
    }
    let item = t.dtype().size();
    let overflow = || Error::Overflow {
        what: format!("{op} byte range"),
    };
    let start = t.storage_offset().checked_mul(item).ok_or_else(overflow)?;
    let len = t.numel().checked_mul(item).ok_or_else(overflow)?;
    Ok(start..start.checked_add(len).ok_or_else(overflow)?)
}

/// Rows `rows` of the contiguous `x`, copied to `device` (only those rows travel).
fn scatter_rows(x: &Tensor, rows: Range<usize>, device: Device) -> Result<Tensor> {
    const OP: &str = "DataParallel scatter";
    let all = byte_range(OP, x)?;
    let n = x.shape()[0];
    let row_bytes = all.len().checked_div(n).unwrap_or(0);
    let start = all.start + rows.start * row_bytes;
    let end = all.start + rows.end * row_bytes;
    let mut shape = x.shape().to_vec();
    shape[0] = rows.len();
    let storage = x.storage().range_to_device(start..end, device)?;
    Tensor::from_storage(
        storage,
        x.dtype(),
        0,
        shape.clone(),
        contiguous_strides(&shape),
    )
}

/// The outputs concatenated along dim 0, on `device`.
fn gather(outputs: &[Tensor], device: Device) -> Result<Tensor> {
    const OP: &str = "DataParallel gather";
    let first = outputs.first().ok_or(Error::InvalidArgument {
        op: OP,
        name: "outputs",
        reason: "no outputs".into(),
    })?;
    let mut shape = first.shape().to_vec();
    if shape.is_empty() {
        return Err(Error::Shape {
            op: OP,
            expected: "outputs with a batch dimension".into(),
            got: "a 0-d output".into(),
        });
    }
    shape[0] = 0;
    let mut parts: Vec<(&Storage, Range<usize>)> = Vec::with_capacity(outputs.len());
    for o in outputs {
        if o.dtype() != first.dtype() || o.shape().get(1..) != first.shape().get(1..) {
            return Err(Error::Shape {
                op: OP,
                expected: format!(
                    "{} outputs of shape [_, {:?}]",
                    first.dtype(),
                    &first.shape()[1..]
                ),
                got: format!("{} {:?}", o.dtype(), o.shape()),
            });
        }
        shape[0] += o.shape()[0];
        parts.push((o.storage(), byte_range(OP, o)?));
    }
    let storage = Storage::concat(&parts, device)?;
    Tensor::from_storage(
        storage,
        first.dtype(),
        0,
        shape.clone(),
        contiguous_strides(&shape),
    )
}

impl<M: Module + Clone> Module for DataParallel<M> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let n = *x.shape().first().ok_or_else(|| Error::Shape {
            op: "DataParallel::forward",
            expected: "an input with a batch dimension".into(),
            got: "a 0-d tensor".into(),
        })?;
        if self.devices.len() == 1 || n <= 1 {
            let y = self.module.forward(&x.to(&self.devices[0])?)?;
            return y.to(&self.output);
        }
        let replicas = self.replicas()?;
        // torch.chunk: equal chunks of ceil(n / k) rows, the last one shorter; fewer chunks
        // than devices when n is small.
        let per = n.div_ceil(self.devices.len());
        let chunks: Vec<Range<usize>> = (0..n).step_by(per).map(|s| s..(s + per).min(n)).collect();
        let outputs: Vec<Result<Tensor>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .iter()
                .zip(replicas.iter().zip(&self.devices))
                .map(|(rows, (replica, dev))| {
                    scope.spawn(move || replica.forward(&scatter_rows(x, rows.clone(), *dev)?))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::InvalidArgument {
                            op: "DataParallel::forward",
                            name: "replica",
                            reason: "a replica's forward panicked".into(),
                        })
                    })
                })
                .collect()
        });
        let outputs: Vec<Tensor> = outputs.into_iter().collect::<Result<_>>()?;
        gather(&outputs, self.output)
    }

    fn visit(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor)) {
        self.module
            .visit(&mut |k, kind, t| f(&join_name("module", k), kind, t));
    }

    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor)) {
        *self.replicas.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
        self.module
            .visit_mut(&mut |k, kind, t| f(&join_name("module", k), kind, t));
    }

    fn visit_modules(&self, f: &mut dyn FnMut(&str, i64)) {
        f("", 1);
        self.module
            .visit_modules(&mut |p, v| f(&join_name("module", p), v));
    }
}
