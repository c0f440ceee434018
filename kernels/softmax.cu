// softmax.cu: softmax and log_softmax along one dim of float32, max-subtracted as PyTorch does.
//
// Math: for each line (o, i) of the reduced dim d in [0, D):
//     m = max_d x[o, d, i]            (a NaN anywhere makes the line NaN, through the sum)
//     s = sum_d exp(x[o, d, i] - m)
//     softmax:     y = exp(x - m) * (1 / s)   when inner == 1, else exp(x - m) / s
//     log_softmax: y = (x - m) - log(s)       (torch's CPU order: subtract the max, then log s)
//   The sum is in our CPU op's order (src/cpu/softmax.rs): for inner == 1, 16 interleaved
//   partial sums (term d into lane d % 16) combined as a tree (8, 4, 2, 1); otherwise serial in
//   d. So only expf/logf separate the two: CUDA's are within 2 ulps and 1 ulp, the CPU's libm
//   within 1 ulp (PyTorch's Sleef too): results agree to a few ulps (tests/ops_structure.rs).
// Layout: x, y [outer, D, inner] contiguous; y does not alias x.
// Threads: one line (o, i) per thread per iteration of a grid-stride loop over
//   outer * inner lines; each thread reads its line three times (max, sum, write), D elements
//   `inner` apart. Adequate for the classifier heads this serves (D = classes, inner = 1 and a
//   batch of lines); a long single line would want a block-wide reduction instead.
// Launch (src/kernels/shapes.rs grid_stride_product): block (256,1,1);
//   grid (min(ceil(outer*inner / 256), 65535),1,1); no dynamic shared memory.
#include "common.cuh"

// tp_exp comes from common.cuh.
#if defined(__CUDACC__)
__device__ __forceinline__ float tp_log(float v) { return logf(v); }
#else
__device__ __forceinline__ float tp_log(float v) { return std::log(v); }
#endif

__device__ __forceinline__ void softmax_body(const SoftmaxParams p, const float* __restrict__ x,
                                             float* __restrict__ y) {
    const long long lines = p.outer * p.inner;
    TP_GRID_STRIDE_LOOP(l, lines) {
        const long long o = l / p.inner, i = l % p.inner;  // inner >= 1 inside the loop
        const long long base = o * p.dim * p.inner + i;     // x[o, 0, i]
        float m = -TP_INFINITY;
        for (long long d = 0; d < p.dim; ++d) {
            const float v = x[base + d * p.inner];
            if (v > m || tp_isnan(v)) m = v;  // NaN wins, as torch's max
        }
        float s = 0.0f;
        if (p.inner == 1) {
            float lane[16];  // constant-indexed after unrolling: registers, not local memory
            TP_UNROLL
            for (int k = 0; k < 16; ++k) lane[k] = 0.0f;
            long long d = 0;
            for (; d + 16 <= p.dim; d += 16) {
                TP_UNROLL
                for (int k = 0; k < 16; ++k) lane[k] += tp_exp(x[base + d + k] - m);
            }
            TP_UNROLL
            for (int k = 0; k < 16; ++k) {
                if (d + k < p.dim) lane[k] += tp_exp(x[base + d + k] - m);  // the tail, lanes 0..
            }
            TP_UNROLL
            for (int w = 8; w > 0; w /= 2) {
                TP_UNROLL
                for (int k = 0; k < w; ++k) lane[k] += lane[k + w];
            }
            s = lane[0];
        } else {
            for (long long d = 0; d < p.dim; ++d) s += tp_exp(x[base + d * p.inner] - m);
        }
        if (p.log) {
            const float ls = tp_log(s);
            for (long long d = 0; d < p.dim; ++d) {
                const long long k = base + d * p.inner;
                y[k] = (x[k] - m) - ls;
            }
        } else if (p.inner == 1) {
            const float r = 1.0f / s;  // the CPU multiplies by the reciprocal along the last dim
            for (long long d = 0; d < p.dim; ++d) y[base + d] = tp_exp(x[base + d] - m) * r;
        } else {
            for (long long d = 0; d < p.dim; ++d) {
                const long long k = base + d * p.inner;
                y[k] = tp_exp(x[k] - m) / s;
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) softmax_f32(SoftmaxParams p, const float* __restrict__ x /* [outer, D, inner] */, float* __restrict__ y /* [outer, D, inner] */) { softmax_body(p, x, y); }
