//! One [`CudaDevice`] per ordinal, created on first use and kept for the life of the process:
//! the primary context, the stream all work for that device goes to, the loaded PTX modules
//! and kernel functions, and the pinned staging buffers for uploads.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use cudarc::nvrtc::Ptx;

use crate::cuda::detect::{check_ordinal, panic_text};
use crate::cuda::driver_err;
use crate::cuda::staging::Staging;
use crate::device::Device;
use crate::error::{Error, NoCudaReason, Result};
use crate::kernels::{Kernel, Module};

/// A CUDA device in use by this process.
pub struct CudaDevice {
    ordinal: usize,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: Mutex<HashMap<Module, Arc<CudaModule>>>,
    functions: Mutex<HashMap<Kernel, CudaFunction>>,
    staging: Mutex<Option<Staging>>,
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaDevice(cuda:{})", self.ordinal)
    }
}

/// Devices created so far, by ordinal.
static DEVICES: Mutex<Vec<Option<Arc<CudaDevice>>>> = Mutex::new(Vec::new());

/// Locks `m`, recovering from a poisoned lock: every value guarded here stays consistent
/// between statements (caches and buffers that are only replaced whole).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl CudaDevice {
    /// The device `cuda:{ordinal}`, created (context, stream) on first use.
    pub fn get(ordinal: usize) -> Result<Arc<CudaDevice>> {
        check_ordinal(ordinal)?;
        let mut devices = lock(&DEVICES);
        if let Some(Some(d)) = devices.get(ordinal) {
            return Ok(d.clone());
        }
        let dev = Arc::new(CudaDevice::create(ordinal)?);
        if devices.len() <= ordinal {
            devices.resize(ordinal + 1, None);
        }
        devices[ordinal] = Some(dev.clone());
        Ok(dev)
    }

    fn create(ordinal: usize) -> Result<CudaDevice> {
        // Detection succeeded, but a driver can still lack a symbol that only context creation
        // uses; cudarc panics then.
        let ctx = catch_unwind(AssertUnwindSafe(|| CudaContext::new(ordinal)))
            .map_err(|p| Error::CudaUnavailable {
                device: Device::Cuda(ordinal),
                reason: NoCudaReason::DriverBroken {
                    detail: panic_text(p.as_ref()),
                },
                saved_location: None,
            })?
            .map_err(driver_err(format!("creating a context on cuda:{ordinal}")))?;
        // SAFETY: every buffer and launch of this context goes to its one default stream (below),
        // so stream order alone orders all work on this device. A cross-device copy makes the
        // source stream wait for it (buffer.rs copy_to_device), but cudarc queues the peer copy
        // itself on the source context's stream, so later work on the destination is not yet
        // ordered after it. Without tracking, cudarc creates no event pair per allocation.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.default_stream();
        Ok(CudaDevice {
            ordinal,
            ctx,
            stream,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            staging: Mutex::new(None),
        })
    }

    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    /// The stream all work on this device goes to.
    pub(crate) fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Waits until all work queued on this device has finished.
    pub fn synchronize(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(driver_err(format!("synchronizing cuda:{}", self.ordinal)))
    }

    /// The device's name as the driver reports it (e.g. `NVIDIA H200`).
    pub fn name(&self) -> Result<String> {
        self.ctx
            .name()
            .map_err(driver_err(format!("naming cuda:{}", self.ordinal)))
    }

    /// The kernel `k`, loading its PTX module into this context on first use.
    pub(crate) fn function(&self, k: Kernel) -> Result<CudaFunction> {
        if let Some(f) = lock(&self.functions).get(&k) {
            return Ok(f.clone());
        }
        let module = self.module(k.module())?;
        let f = module.load_function(k.entry()).map_err(driver_err(format!(
            "finding kernel {} in PTX module {} on cuda:{}",
            k.entry(),
            k.module().name(),
            self.ordinal
        )))?;
        lock(&self.functions).insert(k, f.clone());
        Ok(f)
    }

    fn module(&self, m: Module) -> Result<Arc<CudaModule>> {
        let mut modules = lock(&self.modules);
        if let Some(module) = modules.get(&m) {
            return Ok(module.clone());
        }
        let ptx = m.ptx();
        if ptx.is_empty() || ptx.contains('\0') {
            return Err(Error::InvalidArgument {
                op: "loading a PTX module",
                name: "ptx",
                reason: format!(
                    "the embedded PTX of module {} is empty or malformed",
                    m.name()
                ),
            });
        }
        // The driver JIT-compiles the PTX for this GPU; a driver older than the PTX ISA the
        // kernels were built with fails here with CUDA_ERROR_UNSUPPORTED_PTX_VERSION.
        let module = self
            .ctx
            .load_module(Ptx::from_src(ptx))
            .map_err(driver_err(format!(
                "loading PTX module {} on cuda:{} (the driver JIT-compiles it; an old driver \
                 rejects newer PTX)",
                m.name(),
                self.ordinal
            )))?;
        modules.insert(m, module.clone());
        Ok(module)
    }

    /// Runs `f` with this device's pinned staging buffers (allocated on first use), holding
    /// them exclusively so concurrent uploads take turns.
    pub(crate) fn with_staging<R>(&self, f: impl FnOnce(&mut Staging) -> Result<R>) -> Result<R> {
        let mut guard = lock(&self.staging);
        if guard.is_none() {
            *guard = Some(Staging::new(&self.ctx, self.ordinal)?);
        }
        match guard.as_mut() {
            Some(st) => f(st),
            None => Err(Error::InvalidArgument {
                op: "staging an upload",
                name: "staging",
                reason: "staging buffers missing after allocation".into(),
            }),
        }
    }
}
