//! The activations on the CPU: `out[i] = f(x[i])` over `n` contiguous elements, with ATen's
//! formulas in the input's dtype, operation for operation (`kernels/activation.cu` has the same
//! list and says which results are exact in IEEE arithmetic and which go through a libm
//! function):
//!
//! - hardtanh: `min(max(x, lo), hi)` with `std::max`'s comparison (`x < lo ? lo : x`), so NaN
//!   and the sign of a zero pass through;
//! - silu `x / (1 + exp(-x))`, sigmoid `1 / (1 + exp(-x))` (f32 over our vectorised exp);
//! - hardswish `x * min(max(x + 3, 0), 6) / 6`, hardsigmoid `min(max(x + 3, 0), 6) / 6`;
//! - gelu `x * 0.5 * (1 + erf(x * M_SQRT1_2))` and its tanh form
//!   `0.5 * x * (1 + tanh(kBeta * (x + 0.044715 * x³)))`.
//!
//! Threading: rayon over `PAR_CHUNK`-element pieces when `n` is large, the calling thread
//! otherwise. `match` on the kind happens once per piece, not per element.

use super::parallel::map_pieces;
use super::scalar::Float;
use super::vexp::{apply as vexp_apply, Kind};
use crate::dtype::DType;
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
    apply(act, Pieces { src, dst });
}

/// `v = f(v)` in place on the calling thread: the epilogue of a kernel that stores its output
/// with the activation fused (same formulas, so the same bits as [`activation`]).
pub(crate) fn activation_in_place<T: Float>(act: Activation, v: &mut [T]) {
    apply(act, InPlace(v));
}

/// How an elementwise formula is run over memory.
trait Each<T> {
    fn each(self, f: impl Fn(T) -> T + Sync);
    /// Runs `f` on the output in place, piece by piece (an out-of-place run copies the input
    /// into each piece first).
    fn slices(self, f: impl Fn(&mut [T]) + Sync);
}

/// Out of place, in parallel pieces when large.
struct Pieces<'a, T> {
    src: &'a [T],
    dst: &'a mut [T],
}

impl<T: Float> Each<T> for Pieces<'_, T> {
    #[inline(always)]
    fn each(self, f: impl Fn(T) -> T + Sync) {
        map_pieces(self.src, self.dst, |s: &[T], d: &mut [T]| {
            for (o, &x) in d.iter_mut().zip(s) {
                *o = f(x);
            }
        });
    }

    fn slices(self, f: impl Fn(&mut [T]) + Sync) {
        map_pieces(self.src, self.dst, |s: &[T], d: &mut [T]| {
            d.copy_from_slice(s);
            f(d);
        });
    }
}

/// In place, on the calling thread.
struct InPlace<'a, T>(&'a mut [T]);

impl<T: Float> Each<T> for InPlace<'_, T> {
    #[inline(always)]
    fn each(self, f: impl Fn(T) -> T + Sync) {
        for v in self.0.iter_mut() {
            *v = f(*v);
        }
    }

    fn slices(self, f: impl Fn(&mut [T]) + Sync) {
        f(self.0);
    }
}

#[inline(always)]
fn apply<T: Float>(act: Activation, on: impl Each<T>) {
    let c = T::from_f64;
    let (three, six, half) = (c(3.0), c(6.0), c(0.5));
    match act {
        Activation::Hardtanh { min_val, max_val } => {
            // Rounded to T once, as ATen's `Scalar::to<scalar_t>()`.
            let (lo, hi) = (c(min_val), c(max_val));
            on.each(|x| min1(max1(x, lo), hi));
        }
        // f32: the same formulas over the vectorised exp (`vexp.rs`, ≤ 2 ulp like Sleef's).
        Activation::Silu if T::DTYPE == DType::F32 => {
            on.slices(|v| vexp_f32(Kind::Silu, v));
        }
        Activation::Sigmoid if T::DTYPE == DType::F32 => {
            on.slices(|v| vexp_f32(Kind::Sigmoid, v));
        }
        Activation::Silu => on.each(|x| x / (T::ONE + (-x).exp())),
        Activation::Sigmoid => on.each(|x| T::ONE / (T::ONE + (-x).exp())),
        Activation::Hardswish => on.each(|x| x * min1(max1(x + three, T::ZERO), six) / six),
        Activation::Hardsigmoid => on.each(|x| min1(max1(x + three, T::ZERO), six) / six),
        Activation::Gelu(GeluApproximate::None) => {
            let alpha = c(std::f64::consts::FRAC_1_SQRT_2);
            on.each(|x| x * half * (T::ONE + (x * alpha).erf()))
        }
        Activation::Gelu(GeluApproximate::Tanh) => {
            // ATen: kBeta = M_SQRT2 * M_2_SQRTPI * 0.5 in double, then rounded to T.
            let beta = c(std::f64::consts::SQRT_2 * std::f64::consts::FRAC_2_SQRT_PI * 0.5);
            let kappa = c(0.044715);
            on.each(|x| {
                let cube = x * x * x;
                let inner = beta * (x + kappa * cube);
                half * x * (T::ONE + inner.tanh())
            })
        }
    }
}

/// The vectorised silu or sigmoid on a slice that is f32 (the caller checked `T`; were it not,
/// the scalar formula runs).
fn vexp_f32<T: Float>(kind: Kind, v: &mut [T]) {
    match super::as_f32_mut(v) {
        Some(f) => vexp_apply(kind, f),
        None => {
            for x in v.iter_mut() {
                let d = T::ONE + (-*x).exp();
                *x = match kind {
                    Kind::Silu => *x / d,
                    Kind::Sigmoid => T::ONE / d,
                };
            }
        }
    }
}
