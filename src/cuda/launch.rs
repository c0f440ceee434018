//! The one place where the kernels' launch shapes (`crate::ops::launch`, owned by the kernel
//! author and proven by the emulator tests) become cudarc launch configurations, and where the
//! params structs are declared passable to kernels by value.

use cudarc::driver::{DeviceRepr, LaunchConfig};

use crate::ops::launch::LaunchShape;
use crate::ops::params::{Conv2dParams, EltwiseParams, LinearParams, Pool2dParams};

// SAFETY: each params struct is `#[repr(C)]` with only `i64` fields (no padding, no pointers),
// mirrored field for field by `kernels/params.cuh`, and kernels take it by value.
unsafe impl DeviceRepr for Conv2dParams {}
// SAFETY: as above.
unsafe impl DeviceRepr for Pool2dParams {}
// SAFETY: as above.
unsafe impl DeviceRepr for LinearParams {}
// SAFETY: as above.
unsafe impl DeviceRepr for EltwiseParams {}

/// The cudarc launch configuration for a launch shape (already `u32`-checked by its maker).
pub(crate) fn config(shape: LaunchShape) -> LaunchConfig {
    let [gx, gy, gz] = shape.grid;
    let [bx, by, bz] = shape.block;
    LaunchConfig {
        grid_dim: (gx, gy, gz),
        block_dim: (bx, by, bz),
        shared_mem_bytes: shape.shared_bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_copies_every_dimension() {
        let s = LaunchShape {
            grid: [7, 5, 3],
            block: [32, 8, 1],
            shared_bytes: 4096,
        };
        let c = config(s);
        assert_eq!(c.grid_dim, (7, 5, 3));
        assert_eq!(c.block_dim, (32, 8, 1));
        assert_eq!(c.shared_mem_bytes, 4096);
    }
}
