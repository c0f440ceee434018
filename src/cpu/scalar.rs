//! The element traits the CPU kernels are generic over: [`Scalar`] for everything that is
//! compared (relu, max pooling, argmax: every real dtype), [`Arith`] for the elementwise
//! arithmetic PyTorch does on every real dtype (add, mul), and [`Float`] for what is computed with
//! floats only (convolution, linear, softmax: float32 and float64).

use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

use crate::dtype::Element;

/// A real element type the CPU kernels can compare. `LOWEST` is where a max starts (-inf for
/// floats, as PyTorch's pooling starts, and the minimum for integers).
pub(crate) trait Scalar: Element + PartialOrd {
    /// The value below every other (a max starts here).
    const LOWEST: Self;
    /// Zero.
    const ZERO: Self;
    /// Whether this is a NaN (never, for integers).
    fn is_nan(self) -> bool;
}

/// Elementwise arithmetic on every real dtype, as PyTorch does it: IEEE for floats, two's
/// complement wraparound for integers (`torch.add` of two int8 127s is -2).
pub(crate) trait Arith: Scalar {
    /// `self + other`.
    fn add(self, other: Self) -> Self;
    /// `self · other`.
    fn mul(self, other: Self) -> Self;
}

/// The float element types the CPU kernels compute in.
pub(crate) trait Float:
    Scalar
    + Default
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
{
    /// One.
    const ONE: Self;
    /// `self · a + b` with one rounding; only fast where the FMA instruction is enabled.
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// `e^self`.
    fn exp(self) -> Self;
    /// The error function (musl's, through the `libm` crate: `std` has none).
    fn erf(self) -> Self;
    /// The hyperbolic tangent.
    fn tanh(self) -> Self;
    /// The natural logarithm.
    fn ln(self) -> Self;
    /// The correctly rounded square root (IEEE, as C's `sqrt`).
    fn sqrt(self) -> Self;
    /// `v` rounded to this type (to nearest, ties to even), as PyTorch's `Scalar::to<T>()` and
    /// C++'s `static_cast`.
    fn from_f64(v: f64) -> Self;
    /// `v` rounded once to this type (an int64 divisor turned into a float, as C++ does).
    fn from_i64(v: i64) -> Self;
}

macro_rules! float {
    ($($t:ty => $erf:path),*) => {$(
        impl Scalar for $t {
            const LOWEST: Self = <$t>::NEG_INFINITY;
            const ZERO: Self = 0.0;
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
        impl Arith for $t {
            #[inline(always)]
            fn add(self, other: Self) -> Self {
                self + other
            }
            #[inline(always)]
            fn mul(self, other: Self) -> Self {
                self * other
            }
        }
        impl Float for $t {
            const ONE: Self = 1.0;
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$t>::mul_add(self, a, b)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn erf(self) -> Self {
                $erf(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                // `as` from f64 rounds to nearest, ties to even (and keeps NaN and infinities).
                v as $t
            }
            #[inline(always)]
            fn from_i64(v: i64) -> Self {
                v as $t
            }
        }
    )*};
}

macro_rules! int {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            const LOWEST: Self = <$t>::MIN;
            const ZERO: Self = 0;
            #[inline(always)]
            fn is_nan(self) -> bool {
                false
            }
        }
        impl Arith for $t {
            #[inline(always)]
            fn add(self, other: Self) -> Self {
                self.wrapping_add(other)
            }
            #[inline(always)]
            fn mul(self, other: Self) -> Self {
                self.wrapping_mul(other)
            }
        }
    )*};
}

float!(f32 => libm::erff, f64 => libm::erf);
int!(i64, i32, i16, i8, u8);

/// PyTorch's running-max step, `if (val > max || isnan(val)) max = val`, with `cur` the max so
/// far. Folding it over taps in scan order gives the last NaN if any, else the first of equal
/// maxima (which decides the sign of a zero result). It is associative, so pairwise trees give
/// the same bits as the sequential scan.
#[inline(always)]
pub(crate) fn max_step<T: Scalar>(cur: T, val: T) -> T {
    if val > cur || val.is_nan() {
        val
    } else {
        cur
    }
}

/// relu with PyTorch's comparison, `x < 0 ? 0 : x`: NaN stays NaN (the comparison is false),
/// -0.0 stays -0.0, unsigned integers pass through.
#[inline(always)]
pub(crate) fn relu1<T: Scalar>(x: T) -> T {
    if x < T::ZERO {
        T::ZERO
    } else {
        x
    }
}

/// [`relu1`] over a slice, in place, on the calling thread (the epilogue of conv2d and linear,
/// and each piece of the parallel `relu_`).
#[inline(always)]
pub(crate) fn relu_slice<T: Scalar>(v: &mut [T]) {
    for x in v {
        *x = relu1(*x);
    }
}
