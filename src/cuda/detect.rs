//! Finding out, without ever panicking, whether this process can use CUDA and how many devices
//! it has. The answer is probed once and cached.
//!
//! cudarc's dynamic loader panics when `libcuda` is missing or lacks a symbol, so the probe:
//! 1. `dlopen`s the candidate library names first (`is_culib_present`): no library, no driver;
//! 2. looks up every entry point tensorport calls ([`REQUIRED`]) in the library cudarc opened,
//!    so a driver without one is [`NoCudaReason::MissingSymbol`] here instead of a panic deep
//!    inside a later call;
//! 3. calls `cuInit` + `cuDeviceGetCount` inside `catch_unwind` (belt and braces);
//! 4. maps `CUDA_ERROR_NO_DEVICE` (and a count of 0) to "no device", and
//!    `CUDA_ERROR_STUB_LIBRARY` to [`NoCudaReason::StubDriver`]: cudarc tries `libcuda.so`
//!    before `libcuda.so.1`, so the toolkit's link-time stub on `LD_LIBRARY_PATH` wins over the
//!    real driver, and its `cuInit` returns 34;
//! 5. never formats a `DriverError` with `{}`/`{:?}` (that calls `cuGetErrorString`, itself a
//!    driver call); it prints the raw code and the enum name instead.
//!
//! `catch_unwind` cannot help under `panic = "abort"`; step 1 covers the common case there.
//! A caught panic still reaches the process's panic hook (which prints it by default).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use cudarc::driver::{sys, CudaContext, DriverError};

use crate::cuda::fault::describe;
use crate::device::Device;
use crate::error::{Error, NoCudaReason};

static AVAILABILITY: OnceLock<Result<usize, NoCudaReason>> = OnceLock::new();

/// The number of usable CUDA devices, or why there are none. Probed once per process.
pub(crate) fn availability() -> Result<usize, NoCudaReason> {
    AVAILABILITY.get_or_init(probe).clone()
}

/// Checks that `cuda:{ordinal}` exists.
pub(crate) fn check_ordinal(ordinal: usize) -> Result<(), Error> {
    let unavailable = |reason| Error::CudaUnavailable {
        device: Device::Cuda(ordinal),
        reason,
        saved_location: None,
    };
    let count = availability().map_err(unavailable)?;
    if ordinal >= count {
        return Err(unavailable(NoCudaReason::OrdinalOutOfRange {
            ordinal,
            count,
        }));
    }
    Ok(())
}

/// Every driver entry point tensorport reaches, directly or through cudarc, on any path.
/// Checked once at detection, so a missing one is a typed reason, not a panic later.
pub(crate) const REQUIRED: &[&str] = &[
    "cuInit",
    "cuDeviceGetCount",
    "cuDeviceGet",
    "cuDeviceGetName",
    "cuDeviceGetAttribute",
    "cuDevicePrimaryCtxRetain",
    "cuDevicePrimaryCtxRelease_v2",
    "cuCtxGetCurrent",
    "cuCtxSetCurrent",
    "cuCtxSynchronize",
    "cuStreamCreate",
    "cuStreamSynchronize",
    "cuStreamWaitEvent",
    "cuEventCreate",
    "cuEventRecord",
    "cuEventSynchronize",
    "cuEventDestroy_v2",
    "cuMemAlloc_v2",
    "cuMemFree_v2",
    "cuMemAllocAsync",
    "cuMemFreeAsync",
    "cuDeviceGetDefaultMemPool",
    "cuMemPoolSetAttribute",
    "cuMemPoolTrimTo",
    "cuMemHostAlloc",
    "cuMemFreeHost",
    "cuMemcpyHtoDAsync_v2",
    "cuMemcpyDtoHAsync_v2",
    "cuMemcpyDtoDAsync_v2",
    "cuMemcpyPeerAsync",
    "cuModuleLoadData",
    "cuModuleGetFunction",
    "cuLaunchKernel",
    "cuStreamBeginCapture_v2",
    "cuStreamEndCapture",
    "cuGraphInstantiateWithFlags",
    "cuGraphLaunch",
    "cuGraphExecDestroy",
    "cuGraphDestroy",
];

/// The text of a caught panic payload.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the CUDA driver loader panicked".to_string()
    }
}

/// Names the driver library to use, by absolute path, instead of cudarc's search by name.
pub(crate) const DRIVER_ENV: &str = "TENSORPORT_CUDA_DRIVER";

/// Opens the library `TENSORPORT_CUDA_DRIVER` names, once, and keeps it open: cudarc's later
/// `dlopen("libcuda.so")` then returns it when its SONAME is one of the names cudarc tries
/// (the project's driver double's is `libcuda.so`). For the tests' driver double in child
/// processes (the CLI), and for pointing at one driver among several installs.
fn open_named_driver() -> Result<(), NoCudaReason> {
    static OPENED: OnceLock<Result<(), NoCudaReason>> = OnceLock::new();
    OPENED
        .get_or_init(|| {
            let Some(path) = std::env::var_os(DRIVER_ENV) else {
                return Ok(());
            };
            // SAFETY: loading a library runs its initialisers; the variable names a CUDA driver
            // library, which has none beyond the driver's own.
            match unsafe { libloading::Library::new(&path) } {
                Ok(lib) => {
                    // Kept for the life of the process: cudarc's handle is the same library.
                    std::mem::forget(lib);
                    Ok(())
                }
                Err(e) => Err(NoCudaReason::DriverBroken {
                    detail: format!("{DRIVER_ENV}={}: {e}", path.to_string_lossy()),
                }),
            }
        })
        .clone()
}

fn probe() -> Result<usize, NoCudaReason> {
    open_named_driver()?;
    // SAFETY: only tries `dlopen` on the driver's library names and closes them again; no driver
    // function is called.
    if !unsafe { sys::is_culib_present() } {
        return Err(NoCudaReason::NoDriverLibrary);
    }
    missing_symbol()?;
    let counted = catch_unwind(AssertUnwindSafe(CudaContext::device_count));
    classify(counted.map_err(|p| panic_text(p.as_ref())))
}

/// The first of [`REQUIRED`] that the library cudarc loads lacks.
fn missing_symbol() -> Result<(), NoCudaReason> {
    let found = catch_unwind(|| {
        // SAFETY: `culib` opens the same library cudarc's calls use (it is present: checked by
        // the caller); `get` only looks a name up, nothing is called.
        let lib = unsafe { sys::culib() };
        REQUIRED
            .iter()
            .find(|name| unsafe { lib.get::<*const std::ffi::c_void>(name.as_bytes()) }.is_err())
            .map(|name| (*name).to_string())
    });
    match found {
        Ok(None) => Ok(()),
        Ok(Some(symbol)) => Err(NoCudaReason::MissingSymbol { symbol }),
        Err(p) => Err(NoCudaReason::DriverBroken {
            detail: panic_text(p.as_ref()),
        }),
    }
}

/// Maps the outcome of `cuInit` + `cuDeviceGetCount` (or the panic it raised) to a count or a
/// reason. Split out so the mapping is tested without a driver.
fn classify(counted: Result<Result<i32, DriverError>, String>) -> Result<usize, NoCudaReason> {
    match counted {
        Err(panic) => Err(NoCudaReason::DriverBroken { detail: panic }),
        Ok(Err(e)) if e.0 == sys::CUresult::CUDA_ERROR_NO_DEVICE => Err(NoCudaReason::NoDevice),
        Ok(Err(e)) if e.0 == sys::CUresult::CUDA_ERROR_STUB_LIBRARY => {
            Err(NoCudaReason::StubDriver)
        }
        Ok(Err(e)) => {
            let (code, name) = describe(e);
            Err(NoCudaReason::DriverBroken {
                detail: format!("cuInit/cuDeviceGetCount failed with {name} (code {code})"),
            })
        }
        Ok(Ok(n)) => match usize::try_from(n) {
            Ok(0) => Err(NoCudaReason::NoDevice),
            Ok(n) => Ok(n),
            Err(_) => Err(NoCudaReason::DriverBroken {
                detail: format!("cuDeviceGetCount returned {n}"),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_maps_every_outcome() {
        use sys::CUresult as R;
        assert_eq!(classify(Ok(Ok(2))), Ok(2));
        assert_eq!(classify(Ok(Ok(0))), Err(NoCudaReason::NoDevice));
        assert_eq!(
            classify(Ok(Err(DriverError(R::CUDA_ERROR_NO_DEVICE)))),
            Err(NoCudaReason::NoDevice)
        );
        let Err(NoCudaReason::DriverBroken { detail }) =
            classify(Ok(Err(DriverError(R::CUDA_ERROR_NOT_INITIALIZED))))
        else {
            panic!("expected DriverBroken");
        };
        assert!(detail.contains("CUDA_ERROR_NOT_INITIALIZED"), "{detail}");
        assert_eq!(
            classify(Ok(Err(DriverError(R::CUDA_ERROR_STUB_LIBRARY)))),
            Err(NoCudaReason::StubDriver)
        );
        assert!(matches!(
            classify(Err("Missing symbol cuInit".into())),
            Err(NoCudaReason::DriverBroken { .. })
        ));
        assert!(matches!(
            classify(Ok(Ok(-1))),
            Err(NoCudaReason::DriverBroken { .. })
        ));
    }

    #[test]
    fn probe_never_panics_and_is_cached() {
        let a = availability();
        assert_eq!(a, availability());
        assert_eq!(super::super::device_count(), a.clone().unwrap_or(0));
        if let Err(reason) = a {
            let err = check_ordinal(0).unwrap_err();
            assert!(matches!(err, Error::CudaUnavailable { reason: r, .. } if r == reason));
        }
    }
}
