// convert.cu: dtype conversions between float32 and float16, bfloat16, float64, as torch's
// `.to(dtype)`: bit for bit what src/ops/to_dtype.rs computes on the CPU (the `half` crate).
//
// Math: y[i] = convert(x[i]).
//   - float32 -> float16/bfloat16/ float64 -> float32: round to nearest, ties to even; values
//     beyond the largest finite become inf (float16: |x| >= 65520), tiny values become
//     subnormals or a signed zero. NaN stays NaN with its sign, the quiet bit set and the top
//     payload bits kept (as x86's F16C and the `half` crate do).
//   - float16/bfloat16 -> float32, float32 -> float64: exact (NaN quieted, payload kept).
//   The 16-bit conversions are integer arithmetic on the bits, so they do not depend on the
//   GPU's (or the emulator's) float16 support or rounding mode.
// Layout: x and y are contiguous [n] (any tensor flattened); float16/bfloat16 travel as their
//   16-bit patterns (unsigned short); y aliases nothing.
// Threads: one element per thread per iteration of a grid-stride loop over i in [0, n).
// Launch (src/kernels/shapes.rs grid_stride): block (256,1,1); grid (min(ceil(n/256), 65535),1,1);
//   no dynamic shared memory. The wrappers declare __launch_bounds__(256) (no launch uses more).
#include "common.cuh"

typedef unsigned short tp_u16;
typedef unsigned int tp_u32;

#if defined(__CUDACC__)
__device__ __forceinline__ tp_u32 cvt_bits(const float f) { return __float_as_uint(f); }
__device__ __forceinline__ float cvt_float(const tp_u32 b) { return __uint_as_float(b); }
#else
__device__ __forceinline__ tp_u32 cvt_bits(const float f) {
    tp_u32 b;
    __builtin_memcpy(&b, &f, sizeof b);
    return b;
}
__device__ __forceinline__ float cvt_float(const tp_u32 b) {
    float f;
    __builtin_memcpy(&f, &b, sizeof f);
    return f;
}
#endif

// Round-to-nearest-even increment: 1 when the dropped bits `rest` are above half of the last
// kept unit (`half`), or exactly half and the kept value `kept` is odd.
__device__ __forceinline__ tp_u32 cvt_round(const tp_u32 kept, const tp_u32 rest,
                                            const tp_u32 half) {
    return (rest > half || (rest == half && (kept & 1u))) ? 1u : 0u;
}

__device__ __forceinline__ tp_u16 f32_to_f16(const float f) {
    const tp_u32 x = cvt_bits(f);
    const tp_u32 sign = (x >> 16) & 0x8000u;
    const tp_u32 ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (tp_u16)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));  // NaN, quieted
    if (ax >= 0x477ff000u) return (tp_u16)(sign | 0x7c00u);  // >= 65520 rounds to inf
    if (ax >= 0x38800000u) {
        // Normal in float16 (>= 2^-14): rebias the exponent (127 -> 15) and round away the 13
        // low mantissa bits; a carry into the exponent field is the correct next value.
        const tp_u32 h = (ax - 0x38000000u) >> 13;
        return (tp_u16)(sign | (h + cvt_round(h, ax & 0x1fffu, 0x1000u)));
    }
    // <= 2^-25 (half the smallest subnormal, a tie that goes to even) becomes a signed zero.
    if (ax <= 0x33000000u) return (tp_u16)sign;
    // Subnormal: the 24-bit significand m times 2^(e-150), in units of 2^-24, is
    // m >> (126 - e) with e in 102..112, so the shift is 14..24.
    const tp_u32 e = ax >> 23;
    const tp_u32 m = (ax & 0x7fffffu) | 0x800000u;
    const tp_u32 shift = 126u - e;
    const tp_u32 h = m >> shift;
    return (tp_u16)(sign | (h + cvt_round(h, m & ((1u << shift) - 1u), 1u << (shift - 1u))));
}

__device__ __forceinline__ float f16_to_f32(const tp_u16 h) {
    const tp_u32 sign = ((tp_u32)h & 0x8000u) << 16;
    const tp_u32 e = ((tp_u32)h >> 10) & 0x1fu;
    const tp_u32 m = (tp_u32)h & 0x3ffu;
    if (e == 0x1fu) return cvt_float(sign | (m ? 0x7fc00000u | (m << 13) : 0x7f800000u));
    if (e != 0u) return cvt_float(sign | ((e + 112u) << 23) | (m << 13));  // rebias 15 -> 127
    // Zero or subnormal: m · 2^-24, exact in float32 (m < 2^10, a power-of-two scale).
    const float v = (float)m * 5.9604644775390625e-8f;
    return sign ? -v : v;
}

__device__ __forceinline__ tp_u16 f32_to_bf16(const float f) {
    const tp_u32 x = cvt_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (tp_u16)((x >> 16) | 0x0040u);  // NaN, quieted
    // The top 16 bits, rounded by the low 16; a carry runs into the exponent (up to inf).
    const tp_u32 hi = x >> 16;
    return (tp_u16)(hi + cvt_round(hi, x & 0xffffu, 0x8000u));
}

__device__ __forceinline__ float bf16_to_f32(const tp_u16 b) {
    const tp_u32 x = (tp_u32)b;
    return cvt_float(((x & 0x7fffu) > 0x7f80u ? (x | 0x0040u) : x) << 16);
}

// One functor per direction: what convert_body applies to each element.
struct ToF16 { __device__ __forceinline__ tp_u16 operator()(const float v) const { return f32_to_f16(v); } };
struct FromF16 { __device__ __forceinline__ float operator()(const tp_u16 v) const { return f16_to_f32(v); } };
struct ToBf16 { __device__ __forceinline__ tp_u16 operator()(const float v) const { return f32_to_bf16(v); } };
struct FromBf16 { __device__ __forceinline__ float operator()(const tp_u16 v) const { return bf16_to_f32(v); } };
// float <-> double: the hardware conversion (round to nearest even; exact when widening).
struct ToF64 { __device__ __forceinline__ double operator()(const float v) const { return (double)v; } };
struct FromF64 { __device__ __forceinline__ float operator()(const double v) const { return (float)v; } };

template <typename S, typename D, typename F>
__device__ __forceinline__ void convert_body(const EltwiseParams p, const S* __restrict__ x,
                                             D* __restrict__ y, const F f) {
    // The store is inside the loop's bound i < n.
    TP_GRID_STRIDE_LOOP(i, p.n) { y[i] = f(x[i]); }
}

extern "C" __global__ void __launch_bounds__(256) convert_f32_f16(EltwiseParams p, const float* __restrict__ x /* [n] */, tp_u16* __restrict__ y /* [n] */) { convert_body(p, x, y, ToF16()); }
extern "C" __global__ void __launch_bounds__(256) convert_f16_f32(EltwiseParams p, const tp_u16* __restrict__ x /* [n] */, float* __restrict__ y /* [n] */) { convert_body(p, x, y, FromF16()); }
extern "C" __global__ void __launch_bounds__(256) convert_f32_bf16(EltwiseParams p, const float* __restrict__ x /* [n] */, tp_u16* __restrict__ y /* [n] */) { convert_body(p, x, y, ToBf16()); }
extern "C" __global__ void __launch_bounds__(256) convert_bf16_f32(EltwiseParams p, const tp_u16* __restrict__ x /* [n] */, float* __restrict__ y /* [n] */) { convert_body(p, x, y, FromBf16()); }
extern "C" __global__ void __launch_bounds__(256) convert_f32_f64(EltwiseParams p, const float* __restrict__ x /* [n] */, double* __restrict__ y /* [n] */) { convert_body(p, x, y, ToF64()); }
extern "C" __global__ void __launch_bounds__(256) convert_f64_f32(EltwiseParams p, const double* __restrict__ x /* [n] */, float* __restrict__ y /* [n] */) { convert_body(p, x, y, FromF64()); }
