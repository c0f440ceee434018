//! A checked wrapper around the `gemm` crate's strided matrix product, so the unsafe call and
//! its bounds reasoning live in one place.

use super::Float;
use crate::error::{Error, Result};

/// A read-only strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Copy, Clone)]
pub(crate) struct MatRef<'a, T> {
    pub data: &'a [T],
    pub rs: usize,
    pub cs: usize,
}

/// The last index a `rows × cols` view with strides `rs`, `cs` touches, or `None` on overflow.
fn last_index(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    (rows - 1)
        .checked_mul(rs)?
        .checked_add((cols - 1).checked_mul(cs)?)
}

fn isize_of(v: usize) -> Result<isize> {
    isize::try_from(v).map_err(|_| Error::Overflow {
        what: format!("gemm stride {v}"),
    })
}

/// `c[m × n] (row stride ldc) = (accumulate ? c : 0) + a[m × k] · b[k × n]`, using up to
/// `threads` rayon workers (1 = the calling thread only).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul<T: Float>(
    m: usize,
    n: usize,
    k: usize,
    c: &mut [T],
    ldc: usize,
    accumulate: bool,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    threads: usize,
) -> Result<()> {
    if m == 0 || n == 0 {
        return Ok(());
    }
    let bad = |what: &str| Error::Shape {
        op: "gemm",
        expected: format!("{what} inside its buffer for m={m} n={n} k={k}"),
        got: "a view past the end".into(),
    };
    if last_index(m, n, ldc, 1).is_none_or(|i| i >= c.len()) {
        return Err(bad("output"));
    }
    if k == 0 {
        // An empty reduction: the product is zero.
        if !accumulate {
            for row in c.chunks_mut(ldc).take(m) {
                row[..n].fill(T::ZERO);
            }
        }
        return Ok(());
    }
    if last_index(m, k, a.rs, a.cs).is_none_or(|i| i >= a.data.len()) {
        return Err(bad("lhs"));
    }
    if last_index(k, n, b.rs, b.cs).is_none_or(|i| i >= b.data.len()) {
        return Err(bad("rhs"));
    }
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let (ldc, ars, acs, brs, bcs) = (
        isize_of(ldc)?,
        isize_of(a.rs)?,
        isize_of(a.cs)?,
        isize_of(b.rs)?,
        isize_of(b.cs)?,
    );
    // SAFETY: every index the product touches was checked above to lie inside `c`, `a.data`
    // and `b.data`; `c` is borrowed mutably, so it cannot alias `a` or `b`; strides fit isize.
    // `gemm` computes dst = alpha·dst + beta·lhs·rhs and ignores alpha when read_dst is false.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc,
            accumulate,
            a.data.as_ptr(),
            acs,
            ars,
            b.data.as_ptr(),
            bcs,
            brs,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            par,
        );
    }
    Ok(())
}
