// argmax.cu: the index of the first maximum along one dim of float32, as torch.argmax.
//
// Math: for each line (o, i) of the reduced dim d in [0, D):
//     y[o, i] = the smallest d with x[o, d, i] == max_d x[o, d, i], where a NaN counts as the
//     maximum (the first NaN wins), as PyTorch's CPU and CUDA kernels and our CPU op
//     (src/cpu/softmax.rs argmax) decide it.
// Layout: x [outer, D, inner] contiguous float32; y [outer, inner] contiguous int64.
// Threads: one line (o, i) per thread per iteration of a grid-stride loop over outer * inner
//   lines, reading D elements `inner` apart (classifier heads: D = classes, inner = 1).
// Launch (src/kernels/shapes.rs grid_stride_product): block (256,1,1);
//   grid (min(ceil(outer*inner / 256), 65535),1,1); no dynamic shared memory.
#include "common.cuh"

__device__ __forceinline__ void argmax_body(const SoftmaxParams p, const float* __restrict__ x,
                                            long long* __restrict__ y) {
    const long long lines = p.outer * p.inner;
    TP_GRID_STRIDE_LOOP(l, lines) {
        const long long o = l / p.inner, i = l % p.inner;  // inner >= 1 inside the loop
        const long long base = o * p.dim * p.inner + i;     // x[o, 0, i]
        long long best = 0;
        float m = x[base];
        if (!tp_isnan(m)) {
            for (long long d = 1; d < p.dim; ++d) {
                const float v = x[base + d * p.inner];
                if (tp_isnan(v)) {
                    best = d;
                    break;
                }
                if (v > m) {
                    m = v;
                    best = d;
                }
            }
        }
        y[l] = best;
    }
}

extern "C" __global__ void __launch_bounds__(256)
    argmax_f32(const SoftmaxParams p, const float* __restrict__ x, long long* __restrict__ y) {
    argmax_body(p, x, y);
}
