// conv2d.cu: direct 2-D convolution over NCHW float32 (stride, padding, dilation, groups, bias).
//
// Math: with Cg = C_in / groups input channels and Cog = C_out / groups output channels per
//   group, and g = co / Cog the group of output channel co,
//     y[n, co, oh, ow] = b[co] (when has_bias)
//       + sum over ci in [0, Cg), kh in [0, KH), kw in [0, KW) of
//           x[n, g*Cg + ci, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] * w[co, ci, kh, kw]
//   where taps outside the input read as zero (they are skipped). The sum runs in (ci, kh, kw)
//   order, in float32, then the bias is added.
// Layout: x [N, C_in, H, W]; w [C_out, Cg, KH, KW] (OIHW); b [C_out] (read only when
//   has_bias); y [N, C_out, H_out, W_out]; all contiguous; y aliases none of them.
// Threads: a block owns one output plane (n, co) and a tile of blockDim.x consecutive output
//   pixels of it; each thread computes one pixel over the whole reduction. The plane's filter
//   w[co] (Cg*KH*KW floats, the same for every thread of the block) is staged through a static
//   shared-memory tile of CONV_W_TILE floats, chunk by chunk, so it is read from global memory
//   once per block instead of once per thread. Threads past the last pixel still help load the
//   tile and reach every __syncthreads(); only their compute and store are skipped.
//   Planes stride by gridDim.y and pixel tiles by gridDim.x*blockDim.x (grid-stride loops, both
//   uniform across the block, so the barriers inside them are never divergent).
// Launch (src/kernels/shapes.rs conv2d): block (bx,1,1) with bx = H_out*W_out rounded up to a
//   multiple of 32, clamped to [32, 256] (small feature maps do not idle 7/8 of a block);
//   grid (min(ceil(H_out*W_out / bx), 65535), min(N*C_out, 65535), 1); no dynamic shared memory
//   (the 4 KiB tile is static).
//   The wrapper declares __launch_bounds__(256): no launch uses more, so ptxas may budget
//   registers for 256-thread blocks (.ci/check_ptx.sh: ptxas 12.4 sm_70/80/90, no spills).
#include "common.cuh"

// Filter chunk staged in shared memory: 1024 floats = 4 KiB. Covers e.g. 64 channels of a 4x4
// filter or 113 of a 3x3 one in a single chunk; longer reductions loop over chunks.
#define CONV_W_TILE 1024

template <typename T>
__device__ __forceinline__ void conv2d_body(const Conv2dParams p, const T* __restrict__ x,
                                            const T* __restrict__ w, const T* __restrict__ b,
                                            T* __restrict__ y) {
    __shared__ T w_tile[CONV_W_TILE];
    const long long hw_out = p.h_out * p.w_out;
    const long long planes = p.n * p.c_out;
    const long long cg = p.c_in / p.groups;    // input channels per group
    const long long cog = p.c_out / p.groups;  // output channels per group
    const long long r_len = cg * p.kh * p.kw;  // reduction length of one output
    const long long tid = threadIdx.x;
    const long long bdim = blockDim.x;

    for (long long plane = blockIdx.y; plane < planes; plane += gridDim.y) {
        const long long n = plane / p.c_out;
        const long long co = plane % p.c_out;
        const long long g = co / cog;
        const T* __restrict__ xg = x + (n * p.c_in + g * cg) * p.h * p.w;  // x[n, g*Cg]
        const T* __restrict__ wc = w + co * r_len;                        // w[co]
        const T bias = p.has_bias ? b[co] : T(0);

        for (long long tile0 = (long long)blockIdx.x * bdim; tile0 < hw_out;
             tile0 += (long long)gridDim.x * bdim) {
            const long long o = tile0 + tid;  // this thread's pixel in the plane
            const bool active = o < hw_out;
            const long long oh = active ? o / p.w_out : 0;
            const long long ow = active ? o % p.w_out : 0;
            const long long h0 = oh * p.stride_h - p.pad_h;  // first tap row, may be negative
            const long long w0 = ow * p.stride_w - p.pad_w;
            T acc = T(0);
            // The input position of the tap that w_tile[t] holds, advanced one tap at a time
            // (column, then row, then channel) so a chunk may start or end anywhere inside a
            // filter with no division or multiplication per tap: fewer live 64-bit values,
            // which keeps ptxas from spilling on sm_90.
            long long i = 0, j = 0;          // tap row and column inside the filter
            long long ih = h0, iw = w0;      // input row and column of tap (i, j)
            const T* __restrict__ xc = xg;   // x[n, g*Cg + ci]
            for (long long r0 = 0; r0 < r_len; r0 += CONV_W_TILE) {
                const int len = (int)tp_min_ll(CONV_W_TILE, r_len - r0);  // <= CONV_W_TILE
                __syncthreads();  // every thread is done reading the previous chunk
                for (int t = (int)tid; t < len; t += (int)bdim) w_tile[t] = wc[r0 + t];
                __syncthreads();  // the chunk is complete before anyone reads it
                if (active) {
                    for (int t = 0; t < len; ++t) {
                        // Zero padding: taps outside the input contribute nothing.
                        if (ih >= 0 && ih < p.h && iw >= 0 && iw < p.w) {
                            acc += xc[ih * p.w + iw] * w_tile[t];
                        }
                        iw += p.dil_w;
                        if (++j == p.kw) {
                            j = 0;
                            iw = w0;
                            ih += p.dil_h;
                            if (++i == p.kh) {
                                i = 0;
                                ih = h0;
                                xc += p.h * p.w;
                            }
                        }
                    }
                }
            }
            if (active) y[plane * hw_out + o] = acc + bias;  // o < hw_out: inside the plane
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) conv2d_f32(Conv2dParams p, const float* __restrict__ x /* [N, C_in, H, W] */, const float* __restrict__ w /* [C_out, C_in/groups, KH, KW] */, const float* __restrict__ b /* [C_out], ignored when p.has_bias == 0 */, float* __restrict__ y /* [N, C_out, H_out, W_out] */) { conv2d_body<float>(p, x, w, b, y); }
