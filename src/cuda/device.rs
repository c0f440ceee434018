//! One [`CudaDevice`] per ordinal, created on first use and kept for the life of the process:
//! the primary context, the one explicit stream all work for that device goes to, the memory
//! pool's settings, the loaded PTX modules and kernel functions, and the pinned staging
//! buffers for uploads.
//!
//! Why an explicit stream, not stream 0: `CUstream` 0 means "the legacy stream of whatever
//! context is current on the calling thread", so the same call queues work on different GPUs
//! depending on which thread makes it. Every call here names its stream, and binds its own
//! context first ([`CudaDevice::bind`]) with the raw `cuCtxSetCurrent`: cudarc's
//! `bind_to_thread` would also clear an error the driver stored earlier.

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};

use cudarc::driver::{result, sys, CudaContext, CudaFunction, CudaModule, CudaStream};
use cudarc::nvrtc::Ptx;

use crate::cuda::detect::{check_ordinal, panic_text};
use crate::cuda::fault::{driver_err, to_error};
use crate::cuda::staging::Staging;
use crate::device::Device;
use crate::error::{Error, NoCudaReason, Result};
use crate::kernels::{Kernel, Module};

/// A CUDA device in use by this process.
pub struct CudaDevice {
    ordinal: usize,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    /// The device's default memory pool, when it has one (then buffers are stream-ordered:
    /// `cuMemAllocAsync`/`cuMemFreeAsync` on `stream`). Kept as an address: the handle is a
    /// raw pointer, used only in driver calls.
    pool: Option<usize>,
    modules: Mutex<HashMap<Module, Arc<CudaModule>>>,
    functions: Mutex<HashMap<Kernel, CudaFunction>>,
    staging: Mutex<Option<Staging>>,
    /// The first failure of a buffer free (a `Drop` cannot return it), reported by the next
    /// [`CudaDevice::synchronize`].
    deferred: Mutex<Option<Error>>,
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaDevice(cuda:{})", self.ordinal)
    }
}

/// Devices created so far, by ordinal.
static DEVICES: Mutex<Vec<Option<Arc<CudaDevice>>>> = Mutex::new(Vec::new());

thread_local! {
    /// `(ordinal, stream)` while this thread captures a graph for that device.
    static CAPTURING: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

/// Locks `m`, recovering from a poisoned lock: every value guarded here stays consistent
/// between statements (caches and buffers that are only replaced whole).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The pool keeps this many freed bytes instead of returning them to the OS at each
/// synchronisation (the driver's default threshold is 0, which makes every forward pass map
/// its activations anew). `u64::MAX`: keep everything, as PyTorch's caching allocator does;
/// [`crate::cuda::empty_cache`] gives it back.
const POOL_RELEASE_THRESHOLD: u64 = u64::MAX;

/// Makes context `ctx` (of `cuda:{ordinal}`) current on the calling thread with the raw driver
/// call, for owners (events, pinned buffers) that outlive a borrow of their device.
pub(crate) fn bind_raw(ordinal: usize, ctx: sys::CUcontext) -> Result<()> {
    let current = result::ctx::get_current().map_err(driver_err(ordinal, "binding its context"))?;
    if current != Some(ctx) {
        // SAFETY: `ctx` is a device's primary context, retained for the process's life.
        unsafe { result::ctx::set_current(ctx) }
            .map_err(driver_err(ordinal, "binding its context"))?;
    }
    Ok(())
}

impl CudaDevice {
    /// The device `cuda:{ordinal}`, created (context, stream, pool settings) on first use.
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
        // Detection checked every symbol we use, but keep a panic inside cudarc from crossing
        // into the caller all the same.
        let ctx = catch_unwind(AssertUnwindSafe(|| CudaContext::new(ordinal)))
            .map_err(|p| Error::CudaUnavailable {
                device: Device::Cuda(ordinal),
                reason: NoCudaReason::DriverBroken {
                    detail: panic_text(p.as_ref()),
                },
                saved_location: None,
            })?
            .map_err(driver_err(ordinal, "creating its context"))?;
        // SAFETY: all work on this device goes to `stream` below, in order, and cross-device
        // copies order both streams with events themselves (peer.rs); tensorport's buffers are
        // raw allocations, not cudarc slices, so cudarc's per-slice events would track nothing.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(driver_err(ordinal, "creating its stream"))?;
        let pool = if ctx.has_async_alloc() {
            Some(Self::configure_pool(ordinal, &ctx)?)
        } else {
            None
        };
        Ok(CudaDevice {
            ordinal,
            ctx,
            stream,
            pool,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            staging: Mutex::new(None),
            deferred: Mutex::new(None),
        })
    }

    /// The default memory pool, with its release threshold raised.
    fn configure_pool(ordinal: usize, ctx: &CudaContext) -> Result<usize> {
        let err = || driver_err(ordinal, "configuring its memory pool");
        let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
        // SAFETY: out-pointer to a local; the device handle is the context's own.
        unsafe { sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device()).result() }
            .map_err(err())?;
        let mut threshold = POOL_RELEASE_THRESHOLD;
        // SAFETY: RELEASE_THRESHOLD takes a pointer to a cuuint64_t, which `threshold` is.
        unsafe {
            result::mem_pool::set_attribute(
                pool,
                sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                (&mut threshold as *mut u64).cast(),
            )
        }
        .map_err(err())?;
        Ok(pool as usize)
    }

    /// Its ordinal: this is `cuda:{ordinal}`.
    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    /// The stream all work on this device goes to: its own, or, on a thread inside
    /// [`crate::cuda::graph::CudaGraph::capture`] for this device, the capture's side stream
    /// (so a capture never sees, or disturbs, what other threads queue meanwhile).
    pub(crate) fn cu_stream(&self) -> sys::CUstream {
        match CAPTURING.with(Cell::get) {
            Some((ordinal, stream)) if ordinal == self.ordinal => stream as sys::CUstream,
            _ => self.stream.cu_stream(),
        }
    }

    /// Runs `f` with this thread's work for this device going to `stream` (a capture).
    pub(crate) fn with_stream<R>(&self, stream: sys::CUstream, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<(usize, usize)>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CAPTURING.with(|c| c.set(self.0));
            }
        }
        let _restore =
            Restore(CAPTURING.with(|c| c.replace(Some((self.ordinal, stream as usize)))));
        f()
    }

    /// Its context's raw handle (for peer copies, which name both contexts).
    pub(crate) fn cu_ctx(&self) -> sys::CUcontext {
        self.ctx.cu_ctx()
    }

    /// Whether buffers are stream-ordered allocations from the device's memory pool.
    pub(crate) fn has_pool(&self) -> bool {
        self.pool.is_some()
    }

    /// `map_err` adapter for a driver failure while doing `op` on this device.
    pub(crate) fn err(&self, op: impl Into<String>) -> impl FnOnce(result::DriverError) -> Error {
        driver_err(self.ordinal, op)
    }

    /// Makes this device's context current on the calling thread, with the raw driver call (no
    /// stored error is read or cleared on the way).
    pub(crate) fn bind(&self) -> Result<()> {
        bind_raw(self.ordinal, self.ctx.cu_ctx())
    }

    /// Remembers a failure that a `Drop` could not return.
    pub(crate) fn defer(&self, e: Error) {
        lock(&self.deferred).get_or_insert(e);
    }

    /// Waits until all work queued on this device has finished; reports a failure of an
    /// earlier asynchronous operation or buffer free.
    pub fn synchronize(&self) -> Result<()> {
        self.bind()?;
        // SAFETY: the stream is this device's own, alive for the process's life.
        unsafe { result::stream::synchronize(self.cu_stream()) }
            .map_err(self.err("synchronizing"))?;
        match lock(&self.deferred).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Frees the pinned staging buffers and returns the pool's unused memory to the OS.
    pub(crate) fn empty_cache(&self) -> Result<()> {
        self.synchronize()?;
        drop(lock(&self.staging).take());
        if let Some(pool) = self.pool {
            // SAFETY: the pool is this device's default pool; trimming to 0 releases only
            // memory no allocation holds.
            unsafe { result::mem_pool::trim_to(pool as sys::CUmemoryPool, 0) }
                .map_err(self.err("trimming its memory pool"))?;
        }
        Ok(())
    }

    /// The device's name as the driver reports it (e.g. `NVIDIA H200`).
    pub fn name(&self) -> Result<String> {
        self.ctx.name().map_err(self.err("reading its name"))
    }

    /// The kernel `k`, loading its PTX module into this context on first use.
    pub(crate) fn function(&self, k: Kernel) -> Result<CudaFunction> {
        if let Some(f) = lock(&self.functions).get(&k) {
            return Ok(f.clone());
        }
        let module = self.module(k.module())?;
        let f = module.load_function(k.entry()).map_err(self.err(format!(
            "finding kernel {} in PTX module {}",
            k.entry(),
            k.module().name(),
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
        let module = self.ctx.load_module(Ptx::from_src(ptx)).map_err(|e| {
            to_error(
                self.ordinal,
                format!(
                    "loading PTX module {} (the driver JIT-compiles it; an old driver rejects \
                         newer PTX)",
                    m.name()
                ),
                e,
            )
        })?;
        modules.insert(m, module.clone());
        Ok(module)
    }

    /// Runs `f` with this device's pinned staging buffers (allocated on first use), holding
    /// them exclusively so concurrent uploads take turns.
    pub(crate) fn with_staging<R>(&self, f: impl FnOnce(&mut Staging) -> Result<R>) -> Result<R> {
        let mut guard = lock(&self.staging);
        if guard.is_none() {
            *guard = Some(Staging::new(self)?);
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
