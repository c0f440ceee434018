// max_pool2d.cu: 2-D max pooling over NCHW float32, PyTorch semantics.
//
// Math: y[n, c, oh, ow] = max over kh in [0, KH), kw in [0, KW) of
//         x[n, c, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw]
//       taken over the taps that fall inside the input only. PyTorch pads with -inf, which can
//       never win, so the running max starts at -inf and padded taps are skipped. The step is
//       PyTorch's `if (v > m || isnan(v)) m = v;` in (kh, kw) scan order: any NaN tap makes the
//       result NaN, and among equal maxima the first wins (which fixes the sign of a zero).
//       ceil_mode is already folded into p.h_out / p.w_out by Pool2dParams::new (the last window
//       starts inside the input or the left padding, so every window has at least one tap).
// Layout: x [N, C, H, W] contiguous; y [N, C, H_out, W_out] contiguous; y does not alias x.
// Threads: one output element per thread per iteration of a grid-stride loop over the flat
//   output index i = ((n*C + c)*H_out + oh)*W_out + ow.
// Launch (src/kernels/shapes.rs grid_stride_product): block (256,1,1);
//   grid (min(ceil(N*C*H_out*W_out / 256), 65535),1,1); no dynamic shared memory.
//   The wrapper declares __launch_bounds__(256): no launch uses more, so ptxas may budget
//   registers for 256-thread blocks (ptxas 12.4 sm_70/sm_90: no spills).
#include "common.cuh"

template <typename T>
__device__ __forceinline__ void max_pool2d_body(const Pool2dParams p, const T* __restrict__ x,
                                                T* __restrict__ y) {
    const long long total = p.n * p.c * p.h_out * p.w_out;
    TP_GRID_STRIDE_LOOP(i, total) {
        const long long ow = i % p.w_out;
        const long long oh = (i / p.w_out) % p.h_out;
        const long long nc = i / (p.w_out * p.h_out);  // n*C + c: the input plane
        const T* __restrict__ plane = x + nc * p.h * p.w;
        const long long h0 = oh * p.stride_h - p.pad_h;  // first tap row, may be negative
        const long long w0 = ow * p.stride_w - p.pad_w;
        T m = -TP_INFINITY;  // padding never wins: start below every real value
        for (long long kh = 0; kh < p.kh; ++kh) {
            const long long ih = h0 + kh * p.dil_h;
            if (ih < 0 || ih >= p.h) continue;  // tap in the padding: skipped, not -inf-compared
            for (long long kw = 0; kw < p.kw; ++kw) {
                const long long iw = w0 + kw * p.dil_w;
                if (iw < 0 || iw >= p.w) continue;
                const T v = plane[ih * p.w + iw];
                // PyTorch's step: NaN propagates (v > m is false for NaN, so test it explicitly).
                if (v > m || tp_isnan(v)) m = v;
            }
        }
        y[i] = m;  // i < total: inside the output
    }
}

extern "C" __global__ void __launch_bounds__(256) max_pool2d_f32(Pool2dParams p, const float* __restrict__ x /* [N, C, H, W] */, float* __restrict__ y /* [N, C, H_out, W_out] */) { max_pool2d_body<float>(p, x, y); }
