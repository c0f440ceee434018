// conv2d_small.cu: direct convolution for few output channels and square 3x3, 5x5 or 7x7
// filters (the recipe Net's 3->6 and 6->16 5x5 layers, stems, early layers), register-blocked
// over output channels. conv2d.cu's header states the math and layout; here groups == 1, so
//     y[n, co, oh, ow] = b[co] + sum over ci, kh, kw in [0, K) of
//         x[n, ci, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] * w[co, ci, kh, kw]
//   with taps outside the input skipped, summed in (ci, kh, kw) order in float32 as conv2d_f32
//   does, then the bias added, then conv_epilogue.cuh's residual and relu. Their twins
//   conv2d_small{3,5,7}_pool_f32 (p.pool == 2) store, instead, the 2x2 stride-2 max pool of
//   those values (the recipe Net's conv -> relu -> pool as one pass: the unpooled output never
//   reaches memory):
//     y[n, co, ph, pw] = max over (a, c) in {0,1}^2, in that order, of v[n, co, 2ph+a, 2pw+c].
// Threads: a block owns (image n, a block of SC_CO = 8 output channels co0..co0+7) and a tile of
//   256 consecutive stored pixels; each thread computes its pixel (its pooled window's four,
//   one after another, when pooling) for all 8 channels, so every
//   input tap is loaded once for 8 FFMA (conv2d_f32 loads it once per channel, with 64-bit
//   index arithmetic per tap). The block's filters, Cin*K*K*8 floats, are staged in shared
//   memory channel-minor (ws[r][c] = w[co0 + c, r], zero past C_out), so a tap's 8 weights are
//   two 128-bit broadcast loads. A thread whose whole K x K window lies inside the input takes
//   the interior path, with no bounds test per tap; the others test each tap. The filter loops
//   are unrolled by the template's K; the channel loop is not.
// Indices: the host launches this only when Cin*H*W, H_out*W_out and every reach fit 32 bits
//   (src/kernels/shapes/conv.rs conv2d_small_fits, the implicit GEMM's rule); the image base n*Cin*H*W
//   and the output planes stay 64-bit.
// Launch (src/kernels/shapes/conv.rs conv2d_small): block (256,1,1), which this kernel assumes;
//   grid (min(ceil(stored pixels/256), 65535), min(N*ceil(C_out/8), 65535), 1), both grid-stride
//   and uniform per block (the staging barriers are never divergent); SC_MAX_R*8*4 = 16 KiB of
//   static shared memory, for Cin*K*K <= SC_MAX_R = 512 (the host checks).
//   The pooled kernels declare __launch_bounds__(256, 1): the same limit as (256) alone, but
//   without the explicit minimum ptxas 12.4 chose 64-128 registers for the pooled 3x3 kernel
//   and spilled; with it the unpooled ones take far more registers than they need.
#include "common.cuh"
#include "conv_epilogue.cuh"
#include "gemm_tile.cuh"

#define SC_CO 8        // output channels per thread
#define SC_MAX_R 512   // most filter taps per channel, Cin*K*K, the shared tile holds
#define SC_THREADS 256

// The filter rows are unrolled except in the pooled 7x7 kernel: there, fully unrolled rows need
// more than 255 registers (ptxas 12.4 spills), and a rolled row loop still issues 7 taps x 8
// FFMA per trip. (The unpooled 7x7 kernel spills the other way round.)
#if defined(__CUDACC__)
#define SC_ROW_UNROLL _Pragma("unroll ((K < 7 || !POOL) ? K : 1)")
#else
#define SC_ROW_UNROLL _Pragma("GCC unroll 16")
#endif

// acc[c] = the sum for output pixel (oh, ow) of channel co0 + c, from the staged filters ws.
template <int K, bool POOL>
__device__ __forceinline__ void conv2d_small_pixel(const Conv2dParams& p,
                                                   const float* __restrict__ xn,
                                                   const float* ws, int oh, int ow,
                                                   float acc[SC_CO]) {
    const int c_in = (int)p.c_in, h = (int)p.h, wd = (int)p.w;
    const int plane = h * wd;
    const int dh = (int)p.dil_h, dw = (int)p.dil_w;
    const int ih0 = oh * (int)p.stride_h - (int)p.pad_h, iw0 = ow * (int)p.stride_w - (int)p.pad_w;
    const bool interior =
        ih0 >= 0 && iw0 >= 0 && ih0 + (K - 1) * dh < h && iw0 + (K - 1) * dw < wd;
    TP_UNROLL
    for (int c = 0; c < SC_CO; ++c) acc[c] = 0.0f;
    const float* wr = ws;
    if (interior && dw == 1) {
        // Unit column step (almost every layer): a filter row's taps are one row pointer plus
        // constant offsets, folded into the loads' immediates.
        const float* __restrict__ xc = xn + ih0 * wd + iw0;
        const int rstep = dh * wd;
        for (int ci = 0; ci < c_in; ++ci, xc += plane) {
            SC_ROW_UNROLL
            for (int i = 0; i < K; ++i) {
                const float* __restrict__ row = xc + i * rstep;
                TP_UNROLL
                for (int j = 0; j < K; ++j, wr += SC_CO) {
                    const float v = row[j];
                    float wv[SC_CO];
                    gt_lds4(wr, wv);
                    gt_lds4(wr + 4, wv + 4);
                    TP_UNROLL
                    for (int c = 0; c < SC_CO; ++c) acc[c] += v * wv[c];
                }
            }
        }
    } else if (interior) {
        const float* __restrict__ xc = xn + ih0 * wd + iw0;
        for (int ci = 0; ci < c_in; ++ci, xc += plane) {
            SC_ROW_UNROLL
            for (int i = 0; i < K; ++i) {
                TP_UNROLL
                for (int j = 0; j < K; ++j, wr += SC_CO) {
                    const float v = xc[i * dh * wd + j * dw];
                    float wv[SC_CO];
                    gt_lds4(wr, wv);
                    gt_lds4(wr + 4, wv + 4);
                    TP_UNROLL
                    for (int c = 0; c < SC_CO; ++c) acc[c] += v * wv[c];
                }
            }
        }
    } else {
        const float* __restrict__ xc = xn;
        for (int ci = 0; ci < c_in; ++ci, xc += plane) {
            SC_ROW_UNROLL
            for (int i = 0; i < K; ++i) {
                const int ih = ih0 + i * dh;
                TP_UNROLL
                for (int j = 0; j < K; ++j, wr += SC_CO) {
                    const int iw = iw0 + j * dw;
                    // Zero padding: taps outside the input contribute nothing.
                    if (ih >= 0 && ih < h && iw >= 0 && iw < wd) {
                        const float v = xc[ih * wd + iw];
                        float wv[SC_CO];
                        gt_lds4(wr, wv);
                        gt_lds4(wr + 4, wv + 4);
                        TP_UNROLL
                        for (int c = 0; c < SC_CO; ++c) acc[c] += v * wv[c];
                    }
                }
            }
        }
    }
}

__device__ __forceinline__ float conv_bias(const Conv2dParams& p, const float* __restrict__ b,
                                           int co) {
    return p.has_bias ? b[co] : 0.0f;
}

template <int K, bool POOL>
__device__ __forceinline__ void conv2d_small_body(const Conv2dParams p,
                                                  const float* __restrict__ x,
                                                  const float* __restrict__ w,
                                                  const float* __restrict__ b,
                                                  const float* __restrict__ r,
                                                  float* __restrict__ y) {
    __shared__ TP_ALIGN16 float ws[SC_MAX_R][SC_CO];
    const int tid = (int)threadIdx.x;
    // 32-bit by the host's check (conv2d_small_fits).
    const int plane = (int)(p.h * p.w);
    const int w_out = (int)p.w_out;
    const int howo = (int)(p.h_out * p.w_out);
    // What this kernel stores per plane: pooled windows when pooling (shapes/conv.rs refuses a
    // pool over an output smaller than one window).
    const int s_w = POOL ? w_out / 2 : w_out;
    const int stored = POOL ? ((int)p.h_out / 2) * s_w : howo;
    const int r_len = (int)p.c_in * K * K;
    const long long co_blocks = (p.c_out + SC_CO - 1) / SC_CO;

    for (long long t = blockIdx.y; t < p.n * co_blocks; t += gridDim.y) {
        const long long n = t / co_blocks;
        const int co0 = (int)(t % co_blocks) * SC_CO;
        __syncthreads();  // everyone is done with the previous block's filters
        for (int e = tid; e < r_len * SC_CO; e += SC_THREADS) {
            const int rr = e / SC_CO, c = e % SC_CO;
            ws[rr][c] = co0 + c < p.c_out ? w[(long long)(co0 + c) * r_len + rr] : 0.0f;
        }
        __syncthreads();  // the filters are staged
        const float* __restrict__ xn = x + n * p.c_in * plane;  // x[n]
        const long long ybase = (n * p.c_out + co0) * howo;      // y[n, co0] unpooled
        for (long long o0 = (long long)blockIdx.x * SC_THREADS; o0 < stored;
             o0 += (long long)gridDim.x * SC_THREADS) {
            const int o = (int)o0 + tid;
            if (o >= stored) continue;  // no barrier below: leaving early is safe
            const int oh = o / s_w, ow = o - (o / s_w) * s_w;
            float acc[SC_CO];
            if (!POOL) {
                conv2d_small_pixel<K, POOL>(p, xn, &ws[0][0], oh, ow, acc);
                TP_UNROLL
                for (int c = 0; c < SC_CO; ++c) {
                    if (co0 + c < p.c_out) {
                        const long long yi = ybase + (long long)c * howo + o;
                        y[yi] = conv_epilogue(p, acc[c] + conv_bias(p, b, co0 + c), r, yi);
                    }
                }
            } else {
                float m[SC_CO];
                TP_UNROLL
                for (int c = 0; c < SC_CO; ++c) m[c] = -TP_INFINITY;
                // The window's four pixels in max_pool2d's (kh, kw) order, not unrolled: one
                // copy of the filter loops, not four.
TP_NO_UNROLL
                for (int q = 0; q < 4; ++q) {
                    const int ch = 2 * oh + (q >> 1), cw = 2 * ow + (q & 1);
                    conv2d_small_pixel<K, POOL>(p, xn, &ws[0][0], ch, cw, acc);
                    TP_UNROLL
                    for (int c = 0; c < SC_CO; ++c) {
                        const long long ri = ybase + (long long)c * howo + ch * w_out + cw;
                        const float v = acc[c] + (co0 + c < p.c_out ? conv_bias(p, b, co0 + c) : 0.0f);
                        m[c] = conv_pool_step(m[c], conv_epilogue(p, v, r, ri));
                    }
                }
                const long long pbase = (n * p.c_out + co0) * (long long)stored + o;
                TP_UNROLL
                for (int c = 0; c < SC_CO; ++c) {
                    if (co0 + c < p.c_out) y[pbase + (long long)c * stored] = m[c];
                }
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(SC_THREADS) conv2d_small3_f32(Conv2dParams p, const float* __restrict__ x /* [N, C_in, H, W] */, const float* __restrict__ w /* [C_out, C_in, 3, 3] */, const float* __restrict__ b /* [C_out], ignored when p.has_bias == 0 */, const float* __restrict__ r /* [N, C_out, H_out, W_out], ignored when p.has_residual == 0 */, float* __restrict__ y /* [N, C_out, H_out, W_out] */) { conv2d_small_body<3, false>(p, x, w, b, r, y); }
extern "C" __global__ void __launch_bounds__(SC_THREADS, 1) conv2d_small3_pool_f32(Conv2dParams p, const float* __restrict__ x /* [N, C_in, H, W] */, const float* __restrict__ w /* [C_out, C_in, 3, 3] */, const float* __restrict__ b /* [C_out], ignored when p.has_bias == 0 */, const float* __restrict__ r /* [N, C_out, H_out, W_out], ignored when p.has_residual == 0 */, float* __restrict__ y /* [N, C_out, H_out/2, W_out/2] */) { conv2d_small_body<3, true>(p, x, w, b, r, y); }
extern "C" __global__ void __launch_bounds__(SC_THREADS) conv2d_small5_f32(Conv2dParams p, const float* __restrict__ x /* [N, C_in, H, W] */, const float* __restrict__ w /* [C_out, C_in, 5, 5] */, const float* __restrict__ b /* [C_out], ignored when p.has_bias == 0 */, const float* __restrict__ r /* [N, C_out, H_out, W_out], ignored when p.has_residual == 0 */, float* __restrict__ y /* [N, C_out, H_out, W_out] */) { conv2d_small_body<5, false>(p, x, w, b, r, y); }
extern "C" __global__ void __launch_bounds__(SC_THREADS, 1) conv2d_small5_pool_f32(Conv2dParams p, const float* __restrict__ x /* [N, C_in, H, W] */, const float* __restrict__ w /* [C_out, C_in, 5, 5] */, const float* __restrict__ b /* [C_out], ignored when p.has_bias == 0 */, const float* __restrict__ r /* [N, C_out, H_out, W_out], ignored when p.has_residual == 0 */, float* __restrict__ y /* [N, C_out, H_out/2, W_out/2] */) { conv2d_small_body<5, true>(p, x, w, b, r, y); }
extern "C" __global__ void __launch_bounds__(SC_THREADS) conv2d_small7_f32(Conv2dParams p, const float* __restrict__ x /* [N, C_in, H, W] */, const float* __restrict__ w /* [C_out, C_in, 7, 7] */, const float* __restrict__ b /* [C_out], ignored when p.has_bias == 0 */, const float* __restrict__ r /* [N, C_out, H_out, W_out], ignored when p.has_residual == 0 */, float* __restrict__ y /* [N, C_out, H_out, W_out] */) { conv2d_small_body<7, false>(p, x, w, b, r, y); }
extern "C" __global__ void __launch_bounds__(SC_THREADS, 1) conv2d_small7_pool_f32(Conv2dParams p, const float* __restrict__ x /* [N, C_in, H, W] */, const float* __restrict__ w /* [C_out, C_in, 7, 7] */, const float* __restrict__ b /* [C_out], ignored when p.has_bias == 0 */, const float* __restrict__ r /* [N, C_out, H_out, W_out], ignored when p.has_residual == 0 */, float* __restrict__ y /* [N, C_out, H_out/2, W_out/2] */) { conv2d_small_body<7, true>(p, x, w, b, r, y); }
