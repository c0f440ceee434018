//! Driver errors as tensorport errors: which device, which operation, and whether the device
//! survived.
//!
//! CUDA reports two kinds of failure. Most (`CUDA_ERROR_OUT_OF_MEMORY`, a bad launch
//! configuration) concern one call and leave the context usable: [`Error::Cuda`]. A fault while
//! work ran (an illegal address, a failed kernel, a hardware error) is *sticky*: the driver
//! reports it from every later call on that context until the process exits, and the work
//! queued after it never ran: [`Error::CudaFault`], so a caller can tell "retry smaller" from
//! "this device is gone".
//!
//! A `DriverError` is never formatted with `{}`: that calls `cuGetErrorString`, a driver call
//! that may itself be missing or failing; the enum's name is taken from the binding instead.

use cudarc::driver::{sys::CUresult, DriverError};

use crate::device::Device;
use crate::error::Error;

/// Whether the driver keeps reporting `code` on the context for the rest of the process (the
/// CUDA programming guide's "sticky" errors).
pub(crate) fn is_sticky(code: CUresult) -> bool {
    use CUresult as R;
    matches!(
        code,
        R::CUDA_ERROR_ILLEGAL_ADDRESS
            | R::CUDA_ERROR_LAUNCH_FAILED
            | R::CUDA_ERROR_LAUNCH_TIMEOUT
            | R::CUDA_ERROR_HARDWARE_STACK_ERROR
            | R::CUDA_ERROR_ILLEGAL_INSTRUCTION
            | R::CUDA_ERROR_MISALIGNED_ADDRESS
            | R::CUDA_ERROR_INVALID_ADDRESS_SPACE
            | R::CUDA_ERROR_INVALID_PC
            | R::CUDA_ERROR_ASSERT
            | R::CUDA_ERROR_ECC_UNCORRECTABLE
    )
}

/// `(code, name)` of a driver error, without calling into the driver.
pub(crate) fn describe(e: DriverError) -> (i32, String) {
    (e.0 as i32, format!("{:?}", e.0))
}

/// The error for driver error `e` while doing `op` on `cuda:{ordinal}`.
pub(crate) fn to_error(ordinal: usize, op: String, e: DriverError) -> Error {
    let device = Device::Cuda(ordinal);
    let (code, name) = describe(e);
    if is_sticky(e.0) {
        Error::CudaFault {
            device,
            op,
            code,
            name,
        }
    } else {
        Error::Cuda {
            device,
            op,
            code,
            name,
        }
    }
}

/// `map_err` adapter: [`to_error`] for `op` (formatted only on failure).
pub(crate) fn driver_err(
    ordinal: usize,
    op: impl Into<String>,
) -> impl FnOnce(DriverError) -> Error {
    move |e| to_error(ordinal, op.into(), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sticky_codes_become_faults_and_others_plain_errors() {
        let fault = to_error(
            1,
            "launching relu_f32".into(),
            DriverError(CUresult::CUDA_ERROR_ILLEGAL_ADDRESS),
        );
        assert!(
            matches!(&fault, Error::CudaFault { device: Device::Cuda(1), code: 700, name, .. }
                if name == "CUDA_ERROR_ILLEGAL_ADDRESS"),
            "{fault:?}"
        );
        let text = fault.to_string();
        assert!(text.contains("cuda:1") && text.contains("sticky"), "{text}");
        let oom = to_error(
            0,
            "allocating 4096 bytes".into(),
            DriverError(CUresult::CUDA_ERROR_OUT_OF_MEMORY),
        );
        assert!(
            matches!(
                oom,
                Error::Cuda {
                    device: Device::Cuda(0),
                    code: 2,
                    ..
                }
            ),
            "{oom:?}"
        );
        assert!(!is_sticky(CUresult::CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES));
        assert!(is_sticky(CUresult::CUDA_ERROR_LAUNCH_FAILED));
    }
}
