// avg_pool2d.cu: 2-D average pooling and adaptive average pooling over NCHW float32, PyTorch's
// CPU semantics and summation order.
//
// avg_pool2d_f32. Math (torch's cpu_avg_pool): for output (oh, ow),
//     ih0 = oh*sh - ph, ih1 = min(ih0 + kh, H + ph)      (likewise iw0, iw1)
//     pool_size = (ih1 - ih0) * (iw1 - iw0)             (the window clipped to the padded input)
//     clip ih0, iw0 to >= 0 and ih1, iw1 to <= H, W
//     empty window (ceil_mode's last window starting in the right padding) -> 0
//     y = (sum over ih in [ih0, ih1), iw in [iw0, iw1) of x, row-major, in float) / divide
//   with divide = divisor_override when given, else pool_size (count_include_pad) or the clipped
//   (ih1 - ih0) * (iw1 - iw0). ceil_mode is already folded into H_out/W_out (AvgPool2dParams).
// adaptive_avg_pool2d_f32. Math (torch's cpu_adaptive_avg_pool): rows
//     [ih0, ih1) = [floor(oh*H / H_out), ceil((oh+1)*H / H_out)), columns likewise;
//     y = sum / (ih1 - ih0) / (iw1 - iw0)   (two divisions, as torch writes it)
// Sums accumulate in float in row-major tap order, the CPU's order, so both kernels give the
// CPU's bits (additions and divisions are IEEE-rounded; nothing here contracts into an FMA).
// Layout: x [N, C, H, W] contiguous; y [N, C, H_out, W_out] contiguous; y does not alias x.
// Threads: one output element per thread per iteration of a grid-stride loop over the flat
//   output index i = ((n*C + c)*H_out + oh)*W_out + ow.
// Launch (src/kernels/shapes.rs grid_stride_product): block (256,1,1);
//   grid (min(ceil(N*C*H_out*W_out / 256), 65535),1,1); no dynamic shared memory.
#include "common.cuh"

template <typename T>
__device__ __forceinline__ void avg_pool2d_body(const AvgPool2dParams p, const T* __restrict__ x,
                                                T* __restrict__ y) {
    const long long total = p.n * p.c * p.h_out * p.w_out;
    TP_GRID_STRIDE_LOOP(i, total) {
        const long long ow = i % p.w_out;
        const long long oh = (i / p.w_out) % p.h_out;
        const long long nc = i / (p.w_out * p.h_out);  // the input plane n*C + c
        const T* __restrict__ plane = x + nc * p.h * p.w;
        long long ih0 = oh * p.stride_h - p.pad_h;
        long long iw0 = ow * p.stride_w - p.pad_w;
        long long ih1 = tp_min_ll(ih0 + p.kh, p.h + p.pad_h);
        long long iw1 = tp_min_ll(iw0 + p.kw, p.w + p.pad_w);
        const long long pool_size = (ih1 - ih0) * (iw1 - iw0);  // before clipping: padding counts
        ih0 = ih0 < 0 ? 0 : ih0;
        iw0 = iw0 < 0 ? 0 : iw0;
        ih1 = tp_min_ll(ih1, p.h);
        iw1 = tp_min_ll(iw1, p.w);
        if (ih0 >= ih1 || iw0 >= iw1) {
            y[i] = T(0);  // a window wholly in the padding: torch writes 0
            continue;
        }
        const long long divide = p.divisor != 0      ? p.divisor
                                 : p.count_include_pad ? pool_size
                                                       : (ih1 - ih0) * (iw1 - iw0);
        T sum = T(0);
        for (long long ih = ih0; ih < ih1; ++ih) {
            for (long long iw = iw0; iw < iw1; ++iw) sum += plane[ih * p.w + iw];
        }
        y[i] = sum / (T)divide;  // torch: scalar_t(sum / divide_factor), the int64 as a float
    }
}

template <typename T>
__device__ __forceinline__ void adaptive_avg_pool2d_body(const AdaptivePool2dParams p,
                                                         const T* __restrict__ x,
                                                         T* __restrict__ y) {
    const long long total = p.n * p.c * p.h_out * p.w_out;
    TP_GRID_STRIDE_LOOP(i, total) {
        const long long ow = i % p.w_out;
        const long long oh = (i / p.w_out) % p.h_out;
        const long long nc = i / (p.w_out * p.h_out);
        const T* __restrict__ plane = x + nc * p.h * p.w;
        // torch's start_index / end_index: floor(a*c/b) and ceil((a+1)*c/b), written so the
        // products stay small ((a / b) * c + ((a % b) * c) / b).
        const long long ih0 = (oh / p.h_out) * p.h + ((oh % p.h_out) * p.h) / p.h_out;
        const long long ih1 = 1 + ((oh + 1) * p.h - 1) / p.h_out;
        const long long iw0 = (ow / p.w_out) * p.w + ((ow % p.w_out) * p.w) / p.w_out;
        const long long iw1 = 1 + ((ow + 1) * p.w - 1) / p.w_out;
        T sum = T(0);
        for (long long ih = ih0; ih < ih1; ++ih) {
            for (long long iw = iw0; iw < iw1; ++iw) sum += plane[ih * p.w + iw];
        }
        y[i] = sum / (T)(ih1 - ih0) / (T)(iw1 - iw0);
    }
}

extern "C" __global__ void __launch_bounds__(256) avg_pool2d_f32(AvgPool2dParams p, const float* __restrict__ x /* [N, C, H, W] */, float* __restrict__ y /* [N, C, H_out, W_out] */) { avg_pool2d_body<float>(p, x, y); }
extern "C" __global__ void __launch_bounds__(256) adaptive_avg_pool2d_f32(AdaptivePool2dParams p, const float* __restrict__ x /* [N, C, H, W] */, float* __restrict__ y /* [N, C, H_out, W_out] */) { adaptive_avg_pool2d_body<float>(p, x, y); }
