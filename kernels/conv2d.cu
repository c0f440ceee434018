// conv2d.cu: 2-D convolution over NCHW float32 (stride, padding, dilation, groups, bias): a
// direct kernel (conv2d_f32, any shape), a register-blocked direct kernel for few channels and
// 3x3, 5x5 or 7x7 filters (conv2d_small{3,5,7}_f32 and their pooling twins, conv2d_small.cu),
// a depthwise kernel (conv2d_depthwise_f32, conv2d_depthwise.cu) and an implicit GEMM
// (conv2d_igemm_f32, for groups of at least 32 output channels); src/kernels/shapes/conv.rs
// conv2d_kernel picks one.
//
// Math: with Cg = C_in / groups input channels and Cog = C_out / groups output channels per
//   group, and g = co / Cog the group of output channel co,
//     y[n, co, oh, ow] = b[co] (when has_bias)
//       + sum over ci in [0, Cg), kh in [0, KH), kw in [0, KW) of
//           x[n, g*Cg + ci, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] * w[co, ci, kh, kw]
//   where taps outside the input read as zero (they are skipped). The sum runs in (ci, kh, kw)
//   order, in float32, then the bias is added, then conv_epilogue.cuh's residual and relu
//   (and, in the small-channel kernels only, its 2x2 max pool).
// Layout: x [N, C_in, H, W]; w [C_out, Cg, KH, KW] (OIHW); b [C_out] (read only when
//   has_bias); r [N, C_out, H_out, W_out] (read only when has_residual); y [N, C_out, H_out,
//   W_out]; all contiguous; y aliases none of them.
//
// conv2d_f32. Threads: a block owns one output plane (n, co) and a tile of blockDim.x
//   consecutive output pixels of it; each thread computes one pixel over the whole reduction.
//   The plane's filter w[co] (Cg*KH*KW floats, the same for every thread of the block) is
//   staged through a static
//   shared-memory tile of CONV_W_TILE floats, chunk by chunk, so it is read from global memory
//   once per block instead of once per thread. Threads past the last pixel still help load the
//   tile and reach every __syncthreads(); only their compute and store are skipped.
//   Planes stride by gridDim.y and pixel tiles by gridDim.x*blockDim.x (grid-stride loops, both
//   uniform across the block, so the barriers inside them are never divergent).
// Launch (src/kernels/shapes/conv.rs conv2d): block (bx,1,1) with bx = H_out*W_out rounded up to a
//   multiple of 32, clamped to [32, 256] (small feature maps do not idle 7/8 of a block);
//   grid (min(ceil(H_out*W_out / bx), 65535), min(N*C_out, 65535), 1); no dynamic shared memory
//   (the 4 KiB tile is static).
//   The wrapper declares __launch_bounds__(256): no launch uses more, so ptxas may budget
//   registers for 256-thread blocks (.ci/check_ptx.sh: ptxas 12.4 sm_70/80/90, no spills).
//
// conv2d_igemm_f32: the convolution of group g as the product Y_g = W_g X_g, with W_g
//   [Cog, K] the group's filters (K = Cg*KH*KW, row co = w[g*Cog + co], already K-contiguous)
//   and X_g [K, P] the im2col matrix over all P = N*H_out*W_out output pixels, whose element
//   (k, q) is the input tap x[n, g*Cg + ci, oh*sh - ph + kh*dh, ow*sw - pw + kw*dw] for
//   k = (ci*KH + kh)*KW + kw and q = (n*H_out + oh)*W_out + ow, zero outside the input. X_g is
//   never stored: gemm_tile.cuh's 128 x 128 x 8 tile (A = W_g, B = X_g, rows co, columns q)
//   gathers each step's 8 rows of it straight from x. The sum runs in increasing k, i.e. in
//   (ci, kh, kw) order as conv2d_f32's, then the bias is added.
//   Staging: the filter step as linear_tiled_f32's x (rows co = tid/8 + 32*s, column tid % 8);
//   the im2col step as rows kr = tid / 32 and columns q = tid % 32 + 32*j (j in [0, 4)), so a
//   warp reads 32 consecutive output pixels of one tap: consecutive input columns at stride 1.
//   Each thread decodes its 4 pixels (n, oh, ow) once per tile and its step's k into
//   (ci, kh, kw) once per step (two 32-bit divisions), then 4 bounds tests and 32-bit offsets:
//   the host launches this kernel only when Cg*H*W, K, H_out*W_out, C_out, every reach
//   ((H_out-1)*sh + (KH-1)*dh, the same across), the padding, strides and dilations are below
//   2^31 (shapes/conv.rs conv2d_igemm_fits), while bases (n, g) and the pixel index q stay 64-bit.
//   Launch (src/kernels/shapes/conv.rs conv2d_igemm): block (256,1,1), which this kernel assumes;
//   grid (min(ceil(P/128), 65535), min(groups*ceil(Cog/128), 65535), 1), tiles striding by
//   gridDim; 16,896 bytes of static shared memory; __launch_bounds__(256, 2) as
//   linear_tiled_f32.
#include "common.cuh"
#include "conv_epilogue.cuh"
#include "gemm_tile.cuh"

// Filter chunk staged in shared memory: 1024 floats = 4 KiB. Covers e.g. 64 channels of a 4x4
// filter or 113 of a 3x3 one in a single chunk; longer reductions loop over chunks.
#define CONV_W_TILE 1024

template <typename T>
__device__ __forceinline__ void conv2d_body(const Conv2dParams p, const T* __restrict__ x,
                                            const T* __restrict__ w, const T* __restrict__ b,
                                            const T* __restrict__ r, T* __restrict__ y) {
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
            if (active) {  // o < hw_out: inside the plane
                const long long i = plane * hw_out + o;
                y[i] = conv_epilogue(p, acc + bias, r, i);
            }
        }
    }
}

__device__ __forceinline__ void conv2d_igemm_body(const Conv2dParams p,
                                                  const float* __restrict__ x,
                                                  const float* __restrict__ w,
                                                  const float* __restrict__ b,
                                                  const float* __restrict__ r,
                                                  float* __restrict__ y) {
    __shared__ TP_ALIGN16 float ws[2][GT_BK][GT_LD];
    __shared__ TP_ALIGN16 float xs[2][GT_BK][GT_LD];
    const int tid = (int)threadIdx.x;
    const int tx = tid % 16, ty = tid / 16;  // the 8 x 8 outputs (gemm_tile.cuh)
    const int sr = tid / 8, kq = tid % 8;    // filter staging: rows sr + 32*s, column kq
    const int kr = tid / 32, lane = tid % 32;  // im2col staging: row kr, columns lane + 32*j
    // 32-bit by the host's check (conv2d_igemm_fits); the products below cannot overflow.
    const int cg = (int)(p.c_in / p.groups);
    const int cog = (int)(p.c_out / p.groups);
    const int h = (int)p.h, wd = (int)p.w, kh = (int)p.kh, kw = (int)p.kw;
    const int khw = kh * kw;
    const int kk = cg * khw;  // K, the reduction length
    const int plane = h * wd;
    const int howo = (int)(p.h_out * p.w_out);
    const long long pixels = p.n * howo;
    const long long tiles_m = (cog + GT_BM - 1) / GT_BM;
    const long long tiles_p = (pixels + GT_BN - 1) / GT_BN;

    for (long long t = blockIdx.y; t < p.groups * tiles_m; t += gridDim.y) {
        const long long g = t / tiles_m;
        const int row0 = (int)(t % tiles_m) * GT_BM;  // first output channel within the group
        for (long long tp = blockIdx.x; tp < tiles_p; tp += gridDim.x) {
            const long long q0 = tp * GT_BN;
            const float* wr[4];
            TP_UNROLL
            for (int s = 0; s < 4; ++s) {
                const int co = row0 + sr + 32 * s;
                wr[s] = co < cog ? w + ((g * cog + co) * (long long)kk + kq) : nullptr;
            }
            // This thread's 4 im2col columns: the image x[n, g*Cg] and the top-left tap.
            const float* xb[4];
            int ih0[4], iw0[4];
            TP_UNROLL
            for (int j = 0; j < 4; ++j) {
                const long long q = q0 + lane + 32 * j;
                const long long n = q / howo;
                const int r = (int)(q - n * howo);
                const int oh = r / (int)p.w_out, ow = r % (int)p.w_out;
                xb[j] = q < pixels ? x + (n * p.c_in + g * cg) * plane : nullptr;
                ih0[j] = oh * (int)p.stride_h - (int)p.pad_h;
                iw0[j] = ow * (int)p.stride_w - (int)p.pad_w;
            }
            float rw[4], rx[4];
            // Step k0's registers: filter (row sr + 32*s, k0 + kq), im2col (k0 + kr, column j).
            auto fetch = [&](int k0) {
                const bool kin = k0 + kq < kk;
                TP_UNROLL
                for (int s = 0; s < 4; ++s) rw[s] = (kin && wr[s] != nullptr) ? wr[s][k0] : 0.0f;
                const bool kxin = k0 + kr < kk;
                const int k = kxin ? k0 + kr : 0;  // past K: any valid tap, never loaded
                const int ci = k / khw;
                const int rr = k - ci * khw;
                const int i = rr / kw;
                const int dh = i * (int)p.dil_h;
                const int dw = (rr - i * kw) * (int)p.dil_w;
                const int coff = ci * plane;
                TP_UNROLL
                for (int j = 0; j < 4; ++j) {
                    const int ih = ih0[j] + dh, iw = iw0[j] + dw;
                    const bool in = kxin && xb[j] != nullptr && ih >= 0 && ih < h && iw >= 0 &&
                                    iw < wd;
                    rx[j] = in ? xb[j][coff + ih * wd + iw] : 0.0f;
                }
            };
            auto stage = [&](int buf) {
                TP_UNROLL
                for (int s = 0; s < 4; ++s) ws[buf][kq][sr + 32 * s] = rw[s];
                TP_UNROLL
                for (int j = 0; j < 4; ++j) xs[buf][kr][lane + 32 * j] = rx[j];
            };
            fetch(0);
            stage(0);
            __syncthreads();  // step 0 staged
            float acc[8][8];
            gt_zero(acc);
            int buf = 0;
            for (int k0 = 0; k0 < kk; k0 += GT_BK) {
                const bool more = k0 + GT_BK < kk;  // uniform across the block
                if (more) fetch(k0 + GT_BK);       // in flight while this step computes
                gt_step(ws[buf], xs[buf], tx, ty, acc);
                if (more) stage(buf ^ 1);  // last read in the previous step, before its barrier
                __syncthreads();           // this step read by all, the next one staged
                buf ^= 1;
            }
            TP_UNROLL
            for (int j = 0; j < 8; ++j) {
                const long long q = q0 + gt_col(tx, j);
                if (q >= pixels) continue;
                const long long n = q / howo;
                const long long rq = q - n * howo;
                const long long yq = (n * p.c_out + g * cog) * howo + rq;  // y[n, g*Cog, rq]
                TP_UNROLL
                for (int i = 0; i < 8; ++i) {
                    const int co = row0 + gt_row(ty, i);
                    if (co < cog) {
                        const long long yi = yq + (long long)co * howo;
                        const float v = acc[i][j] + (p.has_bias ? b[g * cog + co] : 0.0f);
                        y[yi] = conv_epilogue(p, v, r, yi);
                    }
                }
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) conv2d_f32(Conv2dParams p, const float* __restrict__ x /* [N, C_in, H, W] */, const float* __restrict__ w /* [C_out, C_in/groups, KH, KW] */, const float* __restrict__ b /* [C_out], ignored when p.has_bias == 0 */, const float* __restrict__ r /* [N, C_out, H_out, W_out], ignored when p.has_residual == 0 */, float* __restrict__ y /* [N, C_out, H_out, W_out] */) { conv2d_body<float>(p, x, w, b, r, y); }
extern "C" __global__ void __launch_bounds__(GT_THREADS) conv2d_igemm_f32(Conv2dParams p, const float* __restrict__ x /* [N, C_in, H, W] */, const float* __restrict__ w /* [C_out, C_in/groups, KH, KW] */, const float* __restrict__ b /* [C_out], ignored when p.has_bias == 0 */, const float* __restrict__ r /* [N, C_out, H_out, W_out], ignored when p.has_residual == 0 */, float* __restrict__ y /* [N, C_out, H_out, W_out] */) { conv2d_igemm_body(p, x, w, b, r, y); }
