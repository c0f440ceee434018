// conv_epilogue.cuh: what every conv2d kernel applies to an output as it stores it, in the
// order the unfused graph runs the ops, so fusing never changes a bit (src/cpu/epilogue.rs is
// the CPU's twin):
//     v = acc + b[co]                  (the convolution's own bias, already added by the caller)
//     v = v + r[n, co, oh, ow]         when p.has_residual (ResNet's skip connection, IEEE add)
//     v = v < 0 ? 0 : v                when p.relu (relu.cu's formula: NaN and -0.0 kept)
// and, in conv2d_small{3,5,7}_f32 only, when p.pool == 2, the 2x2 stride-2 max pool of those
// values, max_pool2d.cu's step `if (v > m || isnan(v)) m = v` from m = -inf in (kh, kw) order.
#pragma once

#include "common.cuh"

// `ri` indexes the residual as the unpooled output y[n, co, oh, ow].
__device__ __forceinline__ float conv_epilogue(const Conv2dParams& p, float v,
                                               const float* __restrict__ r, long long ri) {
    if (p.has_residual) v += r[ri];
    if (p.relu && v < 0.0f) v = 0.0f;
    return v;
}

// One step of max_pool2d.cu's running max.
__device__ __forceinline__ float conv_pool_step(float m, float v) {
    return (v > m || tp_isnan(v)) ? v : m;
}
