// conv2d_depthwise.cu: depthwise convolution (groups == C_in, one input channel per group, any
// channel multiplier M = C_out / C_in), MobileNet's and EfficientNet's 3x3 and 5x5 layers.
// conv2d.cu's header states the math and layout; with one input channel per group it is
//     y[n, co, oh, ow] = b[co] + sum over kh in [0, KH), kw in [0, KW) of
//         x[n, co / M, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] * w[co, 0, kh, kw]
//   taps outside the input skipped, summed in (kh, kw) order in float32 (conv2d_f32's order, so
//   the two agree bit for bit), then the bias, then conv_epilogue.cuh's residual and relu.
// Each output reads KH*KW inputs for as many FMAs, so the kernel is bound by memory, not math:
//   what it saves over conv2d_f32 is the index work per tap (conv2d_f32's walker is 64-bit
//   with a bounds test per tap, ~45 instructions per FFMA).
// Threads: as conv2d_f32, a block owns one output plane (n, co) and a tile of blockDim.x
//   consecutive output pixels; the plane's filter (KH*KW <= DW_MAX_TAPS floats) is staged in
//   shared memory once per plane. A thread whose whole window lies inside the input takes the
//   interior path: per filter row one row pointer, then unit-stride (dilated) taps with no test.
// Indices: the host launches this only when the in-image offsets, H_out*W_out and every reach
//   fit 32 bits (src/kernels/shapes/conv.rs conv2d_depthwise_fits, the implicit GEMM's rule); the
//   plane bases stay 64-bit.
// Launch (src/kernels/shapes/conv.rs conv2d_depthwise): block (bx,1,1), bx = H_out*W_out rounded up
//   to a warp multiple, clamped to [32, 256]; grid (min(ceil(H_out*W_out/bx), 65535),
//   min(N*C_out, 65535), 1), both grid-stride and uniform per block (the staging barriers are
//   never divergent); DW_MAX_TAPS*4 = 1 KiB of static shared memory.
#include "common.cuh"
#include "conv_epilogue.cuh"

#define DW_MAX_TAPS 256  // most filter taps (KH*KW) the shared tile holds: up to 16x16

__device__ __forceinline__ void conv2d_depthwise_body(const Conv2dParams p,
                                                      const float* __restrict__ x,
                                                      const float* __restrict__ w,
                                                      const float* __restrict__ b,
                                                      const float* __restrict__ r,
                                                      float* __restrict__ y) {
    __shared__ float ws[DW_MAX_TAPS];
    // 32-bit by the host's check (conv2d_depthwise_fits).
    const int h = (int)p.h, wd = (int)p.w, kh = (int)p.kh, kw = (int)p.kw;
    const int taps = kh * kw;
    const int w_out = (int)p.w_out;
    const int howo = (int)(p.h_out * p.w_out);
    const int sh = (int)p.stride_h, sw = (int)p.stride_w, dh = (int)p.dil_h, dw = (int)p.dil_w;
    const int ph = (int)p.pad_h, pw = (int)p.pad_w;
    const long long mult = p.c_out / p.c_in;  // output channels per input channel
    const int tid = (int)threadIdx.x, bdim = (int)blockDim.x;

    for (long long plane = blockIdx.y; plane < p.n * p.c_out; plane += gridDim.y) {
        const long long n = plane / p.c_out;
        const long long co = plane - n * p.c_out;
        __syncthreads();  // everyone is done with the previous plane's filter
        for (int t = tid; t < taps; t += bdim) ws[t] = w[co * taps + t];
        __syncthreads();  // the filter is staged
        const float* __restrict__ xp = x + (n * p.c_in + co / mult) * (long long)(h * wd);
        const float bias = p.has_bias ? b[co] : 0.0f;
        for (long long o0 = (long long)blockIdx.x * bdim; o0 < howo;
             o0 += (long long)gridDim.x * bdim) {
            const int o = (int)o0 + tid;
            if (o >= howo) continue;  // no barrier below: leaving early is safe
            const int oh = o / w_out, ow = o - (o / w_out) * w_out;
            const int ih0 = oh * sh - ph, iw0 = ow * sw - pw;
            float acc = 0.0f;
            if (ih0 >= 0 && iw0 >= 0 && ih0 + (kh - 1) * dh < h && iw0 + (kw - 1) * dw < wd) {
                const float* __restrict__ row = xp + ih0 * wd + iw0;
                const float* wr = ws;
                for (int i = 0; i < kh; ++i, row += dh * wd) {
                    for (int j = 0; j < kw; ++j) acc += row[j * dw] * wr[j];
                    wr += kw;
                }
            } else {
                for (int i = 0; i < kh; ++i) {
                    const int ih = ih0 + i * dh;
                    if (ih < 0 || ih >= h) continue;  // zero padding: the row adds nothing
                    for (int j = 0; j < kw; ++j) {
                        const int iw = iw0 + j * dw;
                        if (iw >= 0 && iw < wd) acc += xp[ih * wd + iw] * ws[i * kw + j];
                    }
                }
            }
            const long long yi = plane * howo + o;
            y[yi] = conv_epilogue(p, acc + bias, r, yi);
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) conv2d_depthwise_f32(Conv2dParams p, const float* __restrict__ x /* [N, C_in, H, W] */, const float* __restrict__ w /* [C_out, 1, KH, KW] */, const float* __restrict__ b /* [C_out], ignored when p.has_bias == 0 */, const float* __restrict__ r /* [N, C_out, H_out, W_out], ignored when p.has_residual == 0 */, float* __restrict__ y /* [N, C_out, H_out, W_out] */) { conv2d_depthwise_body(p, x, w, b, r, y); }
