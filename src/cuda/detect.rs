//! Finding out, without ever panicking, whether this process can use CUDA and how many devices
//! it has. The answer is probed once and cached.
//!
//! cudarc's dynamic loader panics when `libcuda` is missing or lacks a symbol, so the probe:
//! 1. `dlopen`s the candidate library names first (`is_culib_present`): no library, no driver;
//! 2. calls `cuInit` + `cuDeviceGetCount` inside `catch_unwind` (a missing symbol panics);
//! 3. maps `CUDA_ERROR_NO_DEVICE` (and a count of 0) to "no device";
//! 4. never formats a `DriverError` with `{}`/`{:?}` (that calls `cuGetErrorString`, itself a
//!    driver call); it prints the raw code and the enum name instead.
//!
//! `catch_unwind` cannot help under `panic = "abort"`; step 1 covers the common case there.
//! A caught panic still reaches the process's panic hook (which prints it by default).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use cudarc::driver::{sys, CudaContext, DriverError};

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

/// `CUDA_ERROR_X (code N)`, without calling into the driver.
pub(crate) fn describe(e: DriverError) -> (i32, String) {
    (e.0 as i32, format!("{:?}", e.0))
}

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

fn probe() -> Result<usize, NoCudaReason> {
    // SAFETY: only tries `dlopen` on the driver's library names and closes them again; no driver
    // function is called.
    if !unsafe { sys::is_culib_present() } {
        return Err(NoCudaReason::NoDriverLibrary);
    }
    let counted = catch_unwind(AssertUnwindSafe(CudaContext::device_count));
    classify(counted.map_err(|p| panic_text(p.as_ref())))
}

/// Maps the outcome of `cuInit` + `cuDeviceGetCount` (or the panic it raised) to a count or a
/// reason. Split out so the mapping is tested without a driver.
fn classify(counted: Result<Result<i32, DriverError>, String>) -> Result<usize, NoCudaReason> {
    match counted {
        Err(panic) => Err(NoCudaReason::DriverBroken { detail: panic }),
        Ok(Err(e)) if e.0 == sys::CUresult::CUDA_ERROR_NO_DEVICE => Err(NoCudaReason::NoDevice),
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
