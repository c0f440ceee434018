// reduce.cu: means of contiguous lines (mean over dims, after the host moved them last and made
// the input contiguous) and layer_norm over trailing dims, float32.
//
// mean_f32. Math: y[r] = (sum_j x[r*len + j]) / len, the sum serial in j, in float; 0/0 = NaN
//   for an empty line, as torch.
// layer_norm_f32. Math (torch's definition): for row r of len elements,
//     mu   = (sum_j x) / len
//     var  = (sum_j (x - mu)^2) / len      (biased; two passes, so no cancellation)
//     rstd = 1 / sqrt(var + (float)eps)
//     y    = (x - mu) * rstd * w[j] + b[j]  (w = 1, b = 0 when absent)
//   torch's CPU kernel uses Welford moments and a fused scale/shift, so results agree to a few
//   ulps (the bound is derived in tests/ops_reduce_norm.rs), not bit for bit.
// Layout: x [rows, len] contiguous; y [rows] (mean) or [rows, len] (layer_norm) contiguous;
//   w, b [len] or null. y aliases nothing.
// Threads: one line per thread per iteration of a grid-stride loop over rows; the thread walks
//   its line serially (twice for layer_norm's moments, once more to write). Right for the many
//   short rows these ops see here (a classifier's features, a transformer's hidden size); long
//   single lines would want a block-wide reduction instead.
// Launch (src/kernels/shapes.rs grid_stride): block (256,1,1); grid (min(ceil(rows/256), 65535),1,1);
//   no dynamic shared memory.
#include "common.cuh"

__device__ __forceinline__ void mean_body(const MeanParams p, const float* __restrict__ x,
                                          float* __restrict__ y) {
    TP_GRID_STRIDE_LOOP(r, p.rows) {
        const float* __restrict__ line = x + r * p.len;
        float s = 0.0f;
        for (long long j = 0; j < p.len; ++j) s += line[j];
        y[r] = s / (float)p.len;  // torch: sum(...).div_(n), the count as a float
    }
}

__device__ __forceinline__ void layer_norm_body(const LayerNormParams p,
                                                const float* __restrict__ x,
                                                const float* __restrict__ w,
                                                const float* __restrict__ b,
                                                float* __restrict__ y) {
    const float eps = (float)tp_bits_to_double(p.eps_bits);
    const float n = (float)p.len;
    TP_GRID_STRIDE_LOOP(r, p.rows) {
        const float* __restrict__ line = x + r * p.len;
        float s = 0.0f;
        for (long long j = 0; j < p.len; ++j) s += line[j];
        const float mu = s / n;
        float q = 0.0f;
        for (long long j = 0; j < p.len; ++j) {
            const float d = line[j] - mu;
            q += d * d;
        }
        const float rstd = 1.0f / sqrtf(q / n + eps);
        float* __restrict__ out = y + r * p.len;
        for (long long j = 0; j < p.len; ++j) {
            float v = (line[j] - mu) * rstd;
            if (p.has_weight) v *= w[j];
            if (p.has_bias) v += b[j];
            out[j] = v;
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) mean_f32(MeanParams p, const float* __restrict__ x /* [rows, len] */, float* __restrict__ y /* [rows] */) { mean_body(p, x, y); }
extern "C" __global__ void __launch_bounds__(256) layer_norm_f32(LayerNormParams p, const float* __restrict__ x /* [rows, len] */, const float* __restrict__ w /* [len] or null */, const float* __restrict__ b /* [len] or null */, float* __restrict__ y /* [rows, len] */) { layer_norm_body(p, x, w, b, y); }
