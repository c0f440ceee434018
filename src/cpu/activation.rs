//! The activations on the CPU: `out[i] = f(x[i])` over `n` contiguous elements, with ATen's
//! formulas in the input's dtype, operation for operation (`kernels/activation.cu` has the same
//! list and says which results are exact in IEEE arithmetic and which go through a libm
//! function):
//!
//! - hardtanh: `min(max(x, lo), hi)` with `std::max`'s comparison (`x < lo ? lo : x`), so NaN
//!   and the sign of a zero pass through;
//! - silu `x / (1 + exp(-x))`, sigmoid `1 / (1 + exp(-x))`;
//! - hardswish `x * min(max(x + 3, 0), 6) / 6`, hardsigmoid `min(max(x + 3, 0), 6) / 6`;
//! - gelu `x * 0.5 * (1 + erf(x * M_SQRT1_2))` and its tanh form
//!   `0.5 * x * (1 + tanh(kBeta * (x + 0.044715 * x³)))`.
//!
//! Threading: rayon over `PAR_CHUNK`-element pieces when `n` is large, the calling thread
//! otherwise. `match` on the kind happens once per piece, not per element.

use super::parallel::map_pieces;
use super::scalar::Float;
use crate::ops::activation::Activation;
use crate::ops::GeluApproximate;

/// `std::max(a, b)`: `b` only when `a < b`, so a NaN `a` survives.
#[inline(always)]
fn max1<T: Float>(a: T, b: T) -> T {
    if a < b {
        b
    } else {
        a
    }
}

/// `std::min(a, b)`: `b` only when `b < a`, so a NaN `a` survives.
#[inline(always)]
fn min1<T: Float>(a: T, b: T) -> T {
    if b < a {
        b
    } else {
        a
    }
}

/// `dst = f(src)` for the activation `act`; the slices have equal lengths.
pub(crate) fn activation<T: Float>(act: Activation, src: &[T], dst: &mut [T]) {
    let c = T::from_f64;
    let (three, six, half) = (c(3.0), c(6.0), c(0.5));
    match act {
        Activation::Hardtanh { min_val, max_val } => {
            // Rounded to T once, as ATen's `Scalar::to<scalar_t>()`.
            let (lo, hi) = (c(min_val), c(max_val));
            each(src, dst, |x| min1(max1(x, lo), hi));
        }
        Activation::Silu => each(src, dst, |x| x / (T::ONE + (-x).exp())),
        Activation::Sigmoid => each(src, dst, |x| T::ONE / (T::ONE + (-x).exp())),
        Activation::Hardswish => each(src, dst, |x| x * min1(max1(x + three, T::ZERO), six) / six),
        Activation::Hardsigmoid => each(src, dst, |x| min1(max1(x + three, T::ZERO), six) / six),
        Activation::Gelu(GeluApproximate::None) => {
            let alpha = c(std::f64::consts::FRAC_1_SQRT_2);
            each(src, dst, |x| x * half * (T::ONE + (x * alpha).erf()))
        }
        Activation::Gelu(GeluApproximate::Tanh) => {
            // ATen: kBeta = M_SQRT2 * M_2_SQRTPI * 0.5 in double, then rounded to T.
            let beta = c(std::f64::consts::SQRT_2 * std::f64::consts::FRAC_2_SQRT_PI * 0.5);
            let kappa = c(0.044715);
            each(src, dst, |x| {
                let cube = x * x * x;
                let inner = beta * (x + kappa * cube);
                half * x * (T::ONE + inner.tanh())
            })
        }
    }
}

/// `dst[i] = f(src[i])`, in parallel pieces when large.
#[inline(always)]
fn each<T: Float>(src: &[T], dst: &mut [T], f: impl Fn(T) -> T + Sync) {
    map_pieces(src, dst, |s: &[T], d: &mut [T]| {
        for (o, &x) in d.iter_mut().zip(s) {
            *o = f(x);
        }
    });
}
