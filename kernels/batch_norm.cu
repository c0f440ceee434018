// batch_norm.cu: inference batch norm (training=False) over float32, channel dim 1.
//
// Math: torch's CPU inference kernel (batch_norm_cpu_collect_linear_and_constant_terms, then
//   batch_norm_cpu_contiguous_impl) as torch 2.15 computes it, one rounding per step:
//     invstd = 1 / sqrt(var[c] + (float)eps)      (eps rounded to float first, as torch does)
//     alpha  = invstd * w[c]                       (w = 1 when absent)
//     beta   = fma(-mean[c], alpha, b[c])          (b - mean*alpha, one rounding; b = 0 if absent)
//     y      = fma(x, alpha, beta)                 (one rounding)
//   The multiply-adds are explicit __fmaf_rn and the rest _rn intrinsics, so NVRTC's contraction
//   can change nothing; 1/x and sqrtf are IEEE (--prec-div/--prec-sqrt default to true). torch
//   takes invstd from its vectorised rsqrt (within 0.75 ulp, not correctly rounded), so results
//   agree with torch's to a few ulps and with our CPU op bit for bit. The per-channel terms are
//   recomputed per element rather than precomputed: the same operations on the same values give
//   the same bits, and it saves a launch and a scratch buffer.
// Layout: x, y [N, C, inner] contiguous (inner = the product of the dims after dim 1);
//   w, b, mean, var [C]; w and b are null when p.has_weight / p.has_bias is 0. y aliases none.
// Threads: one output element per thread per iteration of a grid-stride loop over the flat
//   index i = (n*C + c)*inner + j; c = (i / inner) % C.
// Launch (src/kernels/shapes.rs grid_stride_product): block (256,1,1);
//   grid (min(ceil(N*C*inner / 256), 65535),1,1); no dynamic shared memory.
#include "common.cuh"

__device__ __forceinline__ void batch_norm_body(const BatchNormParams p,
                                                const float* __restrict__ x,
                                                const float* __restrict__ w,
                                                const float* __restrict__ b,
                                                const float* __restrict__ mean,
                                                const float* __restrict__ var,
                                                float* __restrict__ y) {
    const long long total = p.n * p.c * p.inner;
    const float eps = (float)tp_bits_to_double(p.eps_bits);  // torch: static_cast<opmath_t>(eps)
    TP_GRID_STRIDE_LOOP(i, total) {
        const long long c = (i / p.inner) % p.c;  // inner >= 1 and C >= 1 inside the loop
        const float invstd = 1.0f / sqrtf(__fadd_rn(var[c], eps));
        const float alpha = p.has_weight ? __fmul_rn(invstd, w[c]) : invstd;
        const float bias = p.has_bias ? b[c] : 0.0f;
        const float beta = __fmaf_rn(-mean[c], alpha, bias);
        y[i] = __fmaf_rn(x[i], alpha, beta);  // i < total: inside y
    }
}

extern "C" __global__ void __launch_bounds__(256) batch_norm_f32(BatchNormParams p, const float* __restrict__ x /* [N, C, inner] */, const float* __restrict__ w /* [C] or null */, const float* __restrict__ b /* [C] or null */, const float* __restrict__ mean /* [C] */, const float* __restrict__ var /* [C] */, float* __restrict__ y /* [N, C, inner] */) { batch_norm_body(p, x, w, b, mean, var, y); }
