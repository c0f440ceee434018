//! What every kernel declaration provides ([`KernelDef`]) and the one check of a launch's
//! operands against it, shared by the CUDA launch and the emulator tests.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::{Kernel, LaunchShape};

/// One pointer parameter of a kernel, as `decl.rs` declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OperandSpec {
    /// Its name in the kernel's signature.
    pub name: &'static str,
    /// The kernel writes it (`*mut`); otherwise it only reads it (`*const`).
    pub writes: bool,
    /// The element type it points to.
    pub dtype: DType,
    /// The kernel reads it only under a condition on the params (a bias); else it is null.
    pub optional: bool,
}

/// A kernel of `decl.rs`: everything a launch needs besides the buffers.
pub(crate) trait KernelDef {
    /// The params struct, passed by value as the first argument.
    type Params: bytemuck::Pod;
    /// The kernel.
    const KERNEL: Kernel;
    /// Its operands, in parameter order.
    const OPERANDS: &'static [OperandSpec];
    /// Grid, block and dynamic shared memory for `p`.
    fn shape(p: &Self::Params) -> Result<LaunchShape>;
    /// Each operand's element count under `p`, `None` for an optional operand `p` leaves out.
    fn lengths(p: &Self::Params) -> Result<Vec<Option<u64>>>;
}

/// What a launch passes for one operand: whether it is writable, and its size in bytes
/// (`None`: no buffer, a null pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ArgInfo {
    /// A writable buffer.
    pub writes: bool,
    /// Its length in bytes, or `None` for no buffer.
    pub bytes: Option<usize>,
}

/// Checks the buffers of a launch of `K` with `p`: one per operand, writable exactly where the
/// kernel writes, present exactly where it reads, and each exactly as long as `p` implies (so
/// every access the kernel makes under `p` stays inside its buffer). The launch shape is
/// checked too. Returns the shape.
pub(crate) fn check_args<K: KernelDef>(p: &K::Params, args: &[ArgInfo]) -> Result<LaunchShape> {
    let entry = K::KERNEL.entry();
    let bad = |name: &'static str, reason: String| Error::InvalidArgument {
        op: entry,
        name,
        reason,
    };
    if args.len() != K::OPERANDS.len() {
        return Err(bad(
            "operands",
            format!(
                "{} buffers passed, the kernel takes {}",
                args.len(),
                K::OPERANDS.len()
            ),
        ));
    }
    let lengths = K::lengths(p)?;
    for ((spec, arg), len) in K::OPERANDS.iter().zip(args).zip(lengths) {
        if spec.writes != arg.writes {
            let what = if spec.writes { "written" } else { "read-only" };
            return Err(bad(spec.name, format!("is {what} by the kernel")));
        }
        match (len, arg.bytes) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(bad(spec.name, "passed, but the params leave it out".into()))
            }
            (Some(_), None) => {
                return Err(bad(spec.name, "missing, but the params need it".into()))
            }
            (Some(n), Some(bytes)) => {
                let want = usize::try_from(n)
                    .ok()
                    .and_then(|n| n.checked_mul(spec.dtype.size()))
                    .ok_or_else(|| Error::Overflow {
                        what: format!("{entry} operand {} of {n} elements", spec.name),
                    })?;
                if want != bytes {
                    return Err(Error::Shape {
                        op: entry,
                        expected: format!(
                            "operand {} of {n} {} elements ({want} bytes)",
                            spec.name, spec.dtype
                        ),
                        got: format!("{bytes} bytes"),
                    });
                }
            }
        }
    }
    K::shape(p)
}

/// The element count of an operand: the product of `factors`, each a params field that must
/// not be negative, checked for overflow.
pub(crate) fn operand_len(entry: &'static str, operand: &str, factors: &[i64]) -> Result<u64> {
    factors.iter().try_fold(1u64, |acc, &f| {
        let f = u64::try_from(f).map_err(|_| Error::InvalidArgument {
            op: entry,
            name: "params",
            reason: format!("a size of operand {operand} is negative ({f})"),
        })?;
        acc.checked_mul(f).ok_or_else(|| Error::Overflow {
            what: format!("{entry} operand {operand} element count"),
        })
    })
}

/// Channels per group, or -1 (refused as a negative size) when `groups` is not positive.
pub(crate) fn per_group(channels: i64, groups: i64) -> i64 {
    if groups > 0 {
        channels / groups
    } else {
        -1
    }
}
