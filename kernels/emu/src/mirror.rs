//! Mirrors of tensorport's params structs (`src/ops/params.rs`, `kernels/params.cuh`), used to
//! read the params bytes and work out how long each buffer must be. The root crate's
//! `tests/emu_kernels.rs` checks these, tensorport's and the C layouts against each other.

use crate::{EmuError, Result};

/// Mirror of `Conv2dParams`.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Conv2dParams {
    pub n: i64,
    pub c_in: i64,
    pub h: i64,
    pub w: i64,
    pub c_out: i64,
    pub kh: i64,
    pub kw: i64,
    pub stride_h: i64,
    pub stride_w: i64,
    pub pad_h: i64,
    pub pad_w: i64,
    pub dil_h: i64,
    pub dil_w: i64,
    pub groups: i64,
    pub h_out: i64,
    pub w_out: i64,
    pub has_bias: i64,
}

/// Mirror of `Pool2dParams`.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Pool2dParams {
    pub n: i64,
    pub c: i64,
    pub h: i64,
    pub w: i64,
    pub kh: i64,
    pub kw: i64,
    pub stride_h: i64,
    pub stride_w: i64,
    pub pad_h: i64,
    pub pad_w: i64,
    pub dil_h: i64,
    pub dil_w: i64,
    pub h_out: i64,
    pub w_out: i64,
}

/// Mirror of `LinearParams`.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LinearParams {
    pub m: i64,
    pub k: i64,
    pub n: i64,
    pub has_bias: i64,
    pub relu: i64,
}

/// Mirror of `EltwiseParams`.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct EltwiseParams {
    pub n: i64,
}

fn bad(kernel: &'static str, reason: String) -> EmuError {
    EmuError::BadParams { kernel, reason }
}

/// The product of named non-negative sizes, as a `usize`, with overflow checked.
pub(crate) fn count(kernel: &'static str, dims: &[(&str, i64)]) -> Result<usize> {
    dims.iter().try_fold(1usize, |acc, &(name, v)| {
        let v = usize::try_from(v).map_err(|_| bad(kernel, format!("{name} = {v} is negative")))?;
        acc.checked_mul(v)
            .ok_or_else(|| bad(kernel, format!("size overflows at {name}")))
    })
}

/// Loop-control fields the kernel divides by or steps with.
pub(crate) fn check_pool(kernel: &'static str, p: &Pool2dParams) -> Result<()> {
    for (name, v) in [
        ("kh", p.kh),
        ("kw", p.kw),
        ("stride_h", p.stride_h),
        ("stride_w", p.stride_w),
        ("dil_h", p.dil_h),
        ("dil_w", p.dil_w),
    ] {
        if v < 1 {
            return Err(bad(kernel, format!("{name} = {v} must be at least 1")));
        }
    }
    if p.pad_h < 0 || p.pad_w < 0 {
        return Err(bad(kernel, "negative padding".into()));
    }
    Ok(())
}

/// Elements each buffer of a launch must hold.
pub(crate) struct Lens {
    pub x: usize,
    pub w: usize,
    pub b: usize,
    pub y: usize,
}

pub(crate) fn conv_lens(kernel: &'static str, p: &Conv2dParams) -> Result<Lens> {
    if p.groups < 1 || p.c_in % p.groups != 0 || p.c_out % p.groups != 0 {
        return Err(bad(
            kernel,
            format!(
                "groups = {} must be positive and divide c_in = {} and c_out = {}",
                p.groups, p.c_in, p.c_out
            ),
        ));
    }
    for (name, v) in [
        ("stride_h", p.stride_h),
        ("stride_w", p.stride_w),
        ("dil_h", p.dil_h),
        ("dil_w", p.dil_w),
    ] {
        if v < 1 {
            return Err(bad(kernel, format!("{name} = {v} must be at least 1")));
        }
    }
    if p.pad_h < 0 || p.pad_w < 0 || !(p.has_bias == 0 || p.has_bias == 1) {
        return Err(bad(kernel, "negative padding or has_bias not 0/1".into()));
    }
    let cg = p.c_in / p.groups;
    Ok(Lens {
        x: count(
            kernel,
            &[("n", p.n), ("c_in", p.c_in), ("h", p.h), ("w", p.w)],
        )?,
        w: count(
            kernel,
            &[
                ("c_out", p.c_out),
                ("c_in/groups", cg),
                ("kh", p.kh),
                ("kw", p.kw),
            ],
        )?,
        b: if p.has_bias != 0 {
            count(kernel, &[("c_out", p.c_out)])?
        } else {
            0
        },
        y: count(
            kernel,
            &[
                ("n", p.n),
                ("c_out", p.c_out),
                ("h_out", p.h_out),
                ("w_out", p.w_out),
            ],
        )?,
    })
}

pub(crate) fn linear_lens(kernel: &'static str, p: &LinearParams) -> Result<Lens> {
    if !(p.has_bias == 0 || p.has_bias == 1) {
        return Err(bad(kernel, format!("has_bias = {} is not 0/1", p.has_bias)));
    }
    Ok(Lens {
        x: count(kernel, &[("m", p.m), ("k", p.k)])?,
        w: count(kernel, &[("n", p.n), ("k", p.k)])?,
        b: if p.has_bias != 0 {
            count(kernel, &[("n", p.n)])?
        } else {
            0
        },
        y: count(kernel, &[("m", p.m), ("n", p.n)])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_rejects_negative_and_overflow() {
        assert_eq!(count("k", &[("a", 3), ("b", 4)]), Ok(12));
        assert!(count("k", &[("a", -1)]).is_err());
        assert!(count("k", &[("a", i64::MAX), ("b", i64::MAX), ("c", 4)]).is_err());
    }
}
