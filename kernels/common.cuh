// common.cuh: what every tensorport kernel shares.
//
// - 64-bit thread indices (`tp_global_thread`, `tp_grid_stride`) and the grid-stride loop
//   `TP_GRID_STRIDE_LOOP`: the block index is widened to 64 bits *before* it is multiplied, so a
//   grid of 2^31 threads (or a capped grid looping over 2^40 elements) never wraps
//   (candle#3604 is the bug this prevents).
// - `TP_INFINITY` and `tp_isnan`, which under NVRTC come from its builtins (NVRTC has no host
//   headers) and under the CPU emulator's shim from <cmath>/<limits>.
// - `tp_min_ll`: CUDA's `min(long long, long long)` overload does not exist in plain C++.
// - `tp_f64_from_bits`: a params field that carries an f64 (`f64::to_bits` on the host; params
//   fields are all 64-bit integers), and the float math the elementwise kernels call
//   (`tp_exp`, `tp_erf`, `tp_tanh`, `tp_fma`): CUDA's accurate (not fast-math) functions under
//   NVRTC, <cmath>'s under the emulator, so results may differ from each other and from the CPU
//   op by the libraries' few ulp (each kernel's header says which of its results are exact).
//
// Compiles under NVRTC (`--std=c++14 -default-device`, compute_70+) and, through
// `kernels/emu/csrc/shim.h`, as C++17 with g++. Include no host header here.
#pragma once

// The params structs, generated from src/kernels/decl.rs into the build directory (build.rs for
// NVRTC, kernels/emu/build.rs for the emulator).
#include "params.cuh"

#if defined(__CUDACC__)
// NVRTC: the bit pattern of +inf; there is no INFINITY macro without <math.h>.
#define TP_INFINITY (__int_as_float(0x7f800000))
__device__ __forceinline__ bool tp_isnan(float v) { return isnan(v); }
__device__ __forceinline__ double tp_f64_from_bits(long long b) { return __longlong_as_double(b); }
__device__ __forceinline__ float tp_exp(float v) { return expf(v); }
__device__ __forceinline__ float tp_erf(float v) { return erff(v); }
__device__ __forceinline__ float tp_tanh(float v) { return tanhf(v); }
__device__ __forceinline__ float tp_fma(float a, float b, float c) { return fmaf(a, b, c); }
#else
// CPU emulator: the shim has already included <cmath> and <limits>.
#define TP_INFINITY (std::numeric_limits<float>::infinity())
__device__ __forceinline__ bool tp_isnan(float v) { return std::isnan(v); }
__device__ __forceinline__ double tp_f64_from_bits(long long b) {
    double d;
    __builtin_memcpy(&d, &b, sizeof d);  // the defined way to reinterpret bits (no header)
    return d;
}
__device__ __forceinline__ float tp_exp(float v) { return std::exp(v); }
__device__ __forceinline__ float tp_erf(float v) { return std::erf(v); }
__device__ __forceinline__ float tp_tanh(float v) { return std::tanh(v); }
__device__ __forceinline__ float tp_fma(float a, float b, float c) { return std::fma(a, b, c); }
#endif

// This thread's index in a 1-D grid, computed in 64 bits: blockIdx.x * blockDim.x overflows
// 32 bits once the grid holds 2^32 threads.
__device__ __forceinline__ long long tp_global_thread() {
    return (long long)blockIdx.x * (long long)blockDim.x + (long long)threadIdx.x;
}

// Threads in a 1-D grid, 64-bit: the step of a grid-stride loop.
__device__ __forceinline__ long long tp_grid_stride() {
    return (long long)gridDim.x * (long long)blockDim.x;
}

// for (i = global thread; i < n; i += threads in the grid). The host caps the grid
// (src/kernels/shapes.rs), so this loop is what covers sizes beyond the cap.
#define TP_GRID_STRIDE_LOOP(i, n) \
    for (long long i = tp_global_thread(); i < (long long)(n); i += tp_grid_stride())

// Fully unroll the next loop (constant trip count). A macro because the pragma's spelling differs:
// NVRTC takes `#pragma unroll`, g++ `#pragma GCC unroll N` and warns on the CUDA spelling.
// TP_NO_UNROLL keeps the next loop rolled (one copy of a large body).
#if defined(__CUDACC__)
#define TP_UNROLL _Pragma("unroll")
#define TP_NO_UNROLL _Pragma("unroll 1")
#else
#define TP_UNROLL _Pragma("GCC unroll 16")
#define TP_NO_UNROLL _Pragma("GCC unroll 1")
#endif

__device__ __forceinline__ long long tp_min_ll(long long a, long long b) { return a < b ? a : b; }

// A double passed through a 64-bit params field (every params field is a long long, so a float
// argument such as batch norm's eps travels as its IEEE bits, `f64::to_bits` on the host).
#if defined(__CUDACC__)
__device__ __forceinline__ double tp_bits_to_double(long long bits) { return __longlong_as_double(bits); }
#else
__device__ __forceinline__ double tp_bits_to_double(long long bits) {
    double d;
    __builtin_memcpy(&d, &bits, sizeof d);
    return d;
}
// NVRTC contracts a * b + c into one FMA by default (--fmad=true); kernels that must match the
// CPU bit for bit spell every rounding with the _rn intrinsics (never contracted) and every
// fused multiply-add with __fmaf_rn. g++ on x86-64 without -mfma never fuses, so the plain
// operators are the same thing here, and std::fma is the correctly rounded fused one.
__device__ __forceinline__ float __fmul_rn(float a, float b) { return a * b; }
__device__ __forceinline__ float __fadd_rn(float a, float b) { return a + b; }
__device__ __forceinline__ float __fsub_rn(float a, float b) { return a - b; }
__device__ __forceinline__ float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
#endif
