// activation.cu: y = f(x) elementwise for the activations of ActivationParams::kind, float32.
//
// Math, as ATen's CPU kernels compute it in the input's dtype (aten/src/ATen/native/cpu/
// Activation.cpp, UnaryOpsKernel.cpp, TensorCompareKernel.cpp's clamp), operation for
// operation:
//   0 hardtanh:    v = x < lo ? lo : x; y = hi < v ? hi : v   (std::min(std::max(x, lo), hi):
//                  NaN stays NaN, -0.0 stays -0.0 when lo = 0; lo/hi are f64s rounded to T)
//   1 silu:        y = x / (1 + exp(-x))
//   2 sigmoid:     y = 1 / (1 + exp(-x))
//   3 hardswish:   t = min(max(x + 3, 0), 6); y = x * t / 6
//   4 hardsigmoid: t = min(max(x + 3, 0), 6); y = t / 6
//   5 gelu:        y = x * 0.5 * (1 + erf(x * M_SQRT1_2))
//   6 gelu tanh:   y = 0.5 * x * (1 + tanh(kBeta * (x + 0.044715 * x * x * x))),
//                  kBeta = M_SQRT2 * M_2_SQRTPI * 0.5 computed in double, then rounded to T
// min/max are "a < b ? b : a" and "b < a ? b : a" (std::max/std::min), so a NaN argument
// passes through. Kinds 0, 3 and 4 are exact in IEEE arithmetic (the same bits as the CPU op
// and PyTorch); 1, 2, 5, 6 call expf/erff/tanhf, whose last-ulp rounding differs between CUDA,
// glibc and PyTorch's vectorised Sleef/polynomial versions (the tests state the tolerance).
// Under NVRTC's default --fmad=true the x + 0.044715 * x^3 of kind 6 may fuse into one FMA.
// Layout: x and y are contiguous [n] (any tensor flattened); y aliases nothing.
// Threads: one element per thread per iteration of a grid-stride loop over i in [0, n); `kind`
//   is uniform across the grid, so the switch never diverges within a warp.
// Launch (src/kernels/shapes.rs grid_stride): block (256,1,1); grid (min(ceil(n/256), 65535),1,1);
//   no dynamic shared memory. The wrapper declares __launch_bounds__(256) (no launch uses more).
#include "common.cuh"

// Activation::code in src/ops/activation.rs. The emulator tests run every kind against the CPU
// op, so a code renumbered on one side only fails there.
#define ACT_HARDTANH 0
#define ACT_SILU 1
#define ACT_SIGMOID 2
#define ACT_HARDSWISH 3
#define ACT_HARDSIGMOID 4
#define ACT_GELU 5
#define ACT_GELU_TANH 6

// std::max / std::min as ATen's scalar loops call them: the first argument wins unless the
// comparison says otherwise, so NaN in the first argument survives.
template <typename T>
__device__ __forceinline__ T act_max(const T a, const T b) { return a < b ? b : a; }
template <typename T>
__device__ __forceinline__ T act_min(const T a, const T b) { return b < a ? b : a; }

template <typename T>
__device__ __forceinline__ T act_one(const int kind, const T x, const T lo, const T hi) {
    switch (kind) {
        case ACT_HARDTANH:
            return act_min(act_max(x, lo), hi);
        case ACT_SILU:
            return x / (T(1) + tp_exp(-x));
        case ACT_SIGMOID:
            return T(1) / (T(1) + tp_exp(-x));
        case ACT_HARDSWISH:
            return x * act_min(act_max(x + T(3), T(0)), T(6)) / T(6);
        case ACT_HARDSIGMOID:
            return act_min(act_max(x + T(3), T(0)), T(6)) / T(6);
        case ACT_GELU:
            // M_SQRT1_2 rounded to T, as ATen's scalar_t(M_SQRT1_2).
            return x * T(0.5) * (T(1) + tp_erf(x * T(0.70710678118654752440)));
        default: {  // ACT_GELU_TANH (the host sends no other code)
            // M_SQRT2 * M_2_SQRTPI * 0.5 in double, then rounded once to T, as ATen does.
            const T beta = T(1.41421356237309504880 * 1.12837916709551257390 * 0.5);
            const T kappa = T(0.044715);
            const T cube = x * x * x;
            const T inner = beta * (x + kappa * cube);
            return T(0.5) * x * (T(1) + tp_tanh(inner));
        }
    }
}

template <typename T>
__device__ __forceinline__ void activation_body(const ActivationParams p, const T* __restrict__ x,
                                                T* __restrict__ y) {
    const int kind = (int)p.kind;  // 0..6, checked by the host
    // The host's f64 arguments rounded to T once here, as ATen's Scalar::to<scalar_t>().
    const T lo = T(tp_f64_from_bits(p.lo));
    const T hi = T(tp_f64_from_bits(p.hi));
    // The store is inside the loop's bound i < n.
    TP_GRID_STRIDE_LOOP(i, p.n) { y[i] = act_one(kind, x[i], lo, hi); }
}

extern "C" __global__ void __launch_bounds__(256) activation_f32(ActivationParams p, const float* __restrict__ x /* [n] */, float* __restrict__ y /* [n] */) { activation_body<float>(p, x, y); }
