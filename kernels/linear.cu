// linear.cu: y = x W^T + b, optionally followed by relu, float32: three kernels
// (src/kernels/shapes.rs linear_kernel picks linear_tiled_f32 when M and N are both at least 64,
// linear_f32 otherwise; linear_gemv_f32, for M <= 8, is built and tested but not chosen yet:
// its summation order differs from the tiles', which agree bit for bit, and a row's result
// must not depend on the batch it came in).
//
// Math (all three): y[i, o] = act(b[o] + sum over kk in [0, K) of x[i, kk] * w[o, kk]) where
//   b[o] is 0 when has_bias == 0 and act is relu (v < 0 ? 0 : v, NaN and -0.0 kept) when
//   p.relu != 0, else the identity. The sum runs in float32, in an order each kernel states,
//   then the bias is added.
// Layout: x [M, K]; w [N, K] (PyTorch's Linear weight, so both operands are K-contiguous);
//   b [N] (read only when has_bias); y [M, N]; all contiguous; y aliases none of them.
//
// linear_f32, the general tile (any M, N; chosen when M < 64 or N < 64). The sum runs
//   in increasing kk.
//   Threads: a block computes one LIN_TM x LIN_TN (64 x 64) tile of y with 16 x 16 threads; thread
//   (tx, ty) owns the 4 x 4 outputs at rows ty + 16*i and columns tx + 16*j (i, j in [0, 4)).
//   Interleaving by 16 rather than owning a contiguous 4 x 4 patch makes a warp's shared-memory
//   reads of a w row hit 16 consecutive words (no bank conflicts) and its global stores of y hit
//   16 consecutive floats. K advances in tiles of LIN_TK = 16: the block stages x[64 rows, 16]
//   and w[64 rows, 16] into shared memory (4 loads per thread each, consecutive threads reading
//   consecutive kk of a row), stored transposed as [kk][row] with one float of padding per row so
//   the transposing stores do not all land in one bank. Out-of-range rows, columns and kk load
//   as zero (adding 0*0 leaves the sum unchanged) and out-of-range outputs are never stored, so
//   any M, N, K works. Tiles stride by gridDim (grid-stride, uniform per block: barriers stay
//   convergent).
//   Launch (src/kernels/shapes.rs linear): block (16,16,1), which this kernel assumes;
//   grid (min(ceil(N/64), 65535), min(ceil(M/64), 65535), 1); no dynamic shared memory
//   (2 * 16 * 65 * 4 = 8320 bytes static).
//
// linear_tiled_f32, for M >= 64 and N >= 64: gemm_tile.cuh's 128 x 128 x 8 register tile (8 x 8
//   outputs per thread, double-buffered shared memory) with A = x and B = w^T. The sum runs in
//   increasing kk. Staging: element (r, kq) of a step, r = tid/8 + 32*s (s in [0, 4)), kq =
//   tid % 8, so 8 consecutive threads read 32 consecutive bytes of one row (a full sector) and a
//   warp 4 rows. Rows past M or N and kk past K load as zero; outputs past M or N are not stored.
//   Launch (src/kernels/shapes.rs linear_tiled): block (256,1,1), which this kernel assumes;
//   grid (min(ceil(N/128), 65535), min(ceil(M/128), 65535), 1), tiles striding by gridDim;
//   16,896 bytes of static shared memory. __launch_bounds__(256, 2): at most 128 registers, so
//   two blocks (16 warps) fit an SM, the occupancy a register-tiled GEMM needs to hide latency.
//
// linear_gemv_f32, for M <= 8 (a batch-1 or small-batch linear, a matrix-vector product bound
//   by reading w once): one warp per output feature o; lane l sums, for each of the M rows,
//   x[i, kk] * w[o, kk] over kk = l, l+32, ... (the warp reads 128 consecutive bytes of w per
//   step, four steps in flight), then the 32 lane partials are added in lane order (through
//   shared memory: no warp shuffles, so the emulator runs it as is). 8 warps per block, outputs
//   striding by 8*gridDim.x. Launch (src/kernels/shapes.rs linear_gemv): block (256,1,1);
//   grid (min(ceil(N/8), 65535), 1, 1); 8 * 8 * 32 * 4 = 8192 bytes of static shared memory.
#include "common.cuh"
#include "gemm_tile.cuh"

#define LIN_TM 64  // rows of y (and x) per block tile
#define LIN_TN 64  // columns of y (rows of w) per block tile
#define LIN_TK 16  // reduction step staged in shared memory
#define LIN_THREADS 256

template <typename T>
__device__ __forceinline__ void linear_body(const LinearParams p, const T* __restrict__ x,
                                            const T* __restrict__ w, const T* __restrict__ b,
                                            T* __restrict__ y) {
    // +1 float per row: the loads below store 16 different kk of one row per half-warp; without
    // the padding those 16 words would be 64 floats apart, all in one bank.
    __shared__ T xs[LIN_TK][LIN_TM + 1];
    __shared__ T ws[LIN_TK][LIN_TN + 1];
    const int tx = (int)threadIdx.x;  // 0..15: column within the thread's 4x4 group
    const int ty = (int)threadIdx.y;  // 0..15: row within the thread's 4x4 group
    const int tid = ty * 16 + tx;     // 0..255
    const long long tiles_m = (p.m + LIN_TM - 1) / LIN_TM;
    const long long tiles_n = (p.n + LIN_TN - 1) / LIN_TN;

    for (long long tm = blockIdx.y; tm < tiles_m; tm += gridDim.y) {
        for (long long tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
            const long long row0 = tm * LIN_TM;
            const long long col0 = tn * LIN_TN;
            T acc[4][4];
            TP_UNROLL
            for (int i = 0; i < 4; ++i) {
                TP_UNROLL
                for (int j = 0; j < 4; ++j) acc[i][j] = T(0);
            }
            for (long long k0 = 0; k0 < p.k; k0 += LIN_TK) {
                // Stage the tiles: element l = tid + 256*s is (row l/16, kk l%16), so 16
                // consecutive threads read 16 consecutive floats of one row (64-byte segments).
                TP_UNROLL
                for (int s = 0; s < (LIN_TM * LIN_TK) / LIN_THREADS; ++s) {
                    const int l = tid + LIN_THREADS * s;
                    const int r = l / LIN_TK;
                    const int kk = l % LIN_TK;
                    const long long gk = k0 + kk;
                    const long long gm = row0 + r;  // row of x
                    const long long gn = col0 + r;  // row of w = column of y
                    xs[kk][r] = (gm < p.m && gk < p.k) ? x[gm * p.k + gk] : T(0);
                    ws[kk][r] = (gn < p.n && gk < p.k) ? w[gn * p.k + gk] : T(0);
                }
                __syncthreads();  // tiles complete before anyone reads them
                TP_UNROLL
                for (int kk = 0; kk < LIN_TK; ++kk) {
                    T a[4], bw[4];
                    TP_UNROLL
                    for (int i = 0; i < 4; ++i) a[i] = xs[kk][ty + 16 * i];
                    TP_UNROLL
                    for (int j = 0; j < 4; ++j) bw[j] = ws[kk][tx + 16 * j];
                    TP_UNROLL
                    for (int i = 0; i < 4; ++i) {
                        TP_UNROLL
                        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * bw[j];
                    }
                }
                __syncthreads();  // everyone done reading before the next tiles overwrite them
            }
            // Epilogue: bias, optional relu, guarded store.
            TP_UNROLL
            for (int i = 0; i < 4; ++i) {
                const long long gm = row0 + ty + 16 * i;
                TP_UNROLL
                for (int j = 0; j < 4; ++j) {
                    const long long gn = col0 + tx + 16 * j;
                    if (gm < p.m && gn < p.n) {
                        T v = acc[i][j] + (p.has_bias ? b[gn] : T(0));
                        if (p.relu && v < T(0)) v = T(0);
                        y[gm * p.n + gn] = v;
                    }
                }
            }
        }
    }
}

// linear_tiled_f32's staging: this thread's four elements of x's (or w's) step at k0, in
// registers. `rows[s]` points at element (row r_s, kq) of the operand, or is null past its rows.
__device__ __forceinline__ void lin_fetch(const float* const (&rows)[4], long long k0, int kq,
                                          long long k, float (&r)[4]) {
    const bool kin = k0 + kq < k;
    TP_UNROLL
    for (int s = 0; s < 4; ++s) r[s] = (kin && rows[s] != nullptr) ? rows[s][k0] : 0.0f;
}

__device__ __forceinline__ void linear_tiled_body(const LinearParams p, const float* __restrict__ x,
                                                  const float* __restrict__ w,
                                                  const float* __restrict__ b,
                                                  float* __restrict__ y) {
    __shared__ TP_ALIGN16 float xs[2][GT_BK][GT_LD];
    __shared__ TP_ALIGN16 float ws[2][GT_BK][GT_LD];
    const int tid = (int)threadIdx.x;
    const int tx = tid % 16, ty = tid / 16;  // the 8 x 8 outputs (gemm_tile.cuh)
    const int sr = tid / 8, kq = tid % 8;    // staging: rows sr + 32*s, column kq of the step
    const long long tiles_m = (p.m + GT_BM - 1) / GT_BM;
    const long long tiles_n = (p.n + GT_BN - 1) / GT_BN;

    for (long long tm = blockIdx.y; tm < tiles_m; tm += gridDim.y) {
        for (long long tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
            const long long row0 = tm * GT_BM;
            const long long col0 = tn * GT_BN;
            const float* xr[4];
            const float* wr[4];
            TP_UNROLL
            for (int s = 0; s < 4; ++s) {
                const long long gm = row0 + sr + 32 * s;
                const long long gn = col0 + sr + 32 * s;
                xr[s] = gm < p.m ? x + gm * p.k + kq : nullptr;
                wr[s] = gn < p.n ? w + gn * p.k + kq : nullptr;
            }
            float rx[4], rw[4];
            lin_fetch(xr, 0, kq, p.k, rx);
            lin_fetch(wr, 0, kq, p.k, rw);
            TP_UNROLL
            for (int s = 0; s < 4; ++s) {
                xs[0][kq][sr + 32 * s] = rx[s];
                ws[0][kq][sr + 32 * s] = rw[s];
            }
            __syncthreads();  // step 0 staged
            float acc[8][8];
            gt_zero(acc);
            int buf = 0;
            for (long long k0 = 0; k0 < p.k; k0 += GT_BK) {
                const bool more = k0 + GT_BK < p.k;  // uniform across the block
                if (more) {
                    // The next step's loads, in flight while this step computes.
                    lin_fetch(xr, k0 + GT_BK, kq, p.k, rx);
                    lin_fetch(wr, k0 + GT_BK, kq, p.k, rw);
                }
                gt_step(xs[buf], ws[buf], tx, ty, acc);
                if (more) {
                    // The other buffer was last read in the previous step, before its barrier.
                    TP_UNROLL
                    for (int s = 0; s < 4; ++s) {
                        xs[buf ^ 1][kq][sr + 32 * s] = rx[s];
                        ws[buf ^ 1][kq][sr + 32 * s] = rw[s];
                    }
                }
                __syncthreads();  // this step read by all, the next one staged
                buf ^= 1;
            }
            TP_UNROLL
            for (int i = 0; i < 8; ++i) {
                const long long gm = row0 + gt_row(ty, i);
                TP_UNROLL
                for (int j = 0; j < 8; ++j) {
                    const long long gn = col0 + gt_col(tx, j);
                    if (gm < p.m && gn < p.n) {
                        float v = acc[i][j] + (p.has_bias ? b[gn] : 0.0f);
                        if (p.relu && v < 0.0f) v = 0.0f;
                        y[gm * p.n + gn] = v;
                    }
                }
            }
        }
    }
}

#define GV_ROWS 8   // most rows of x linear_gemv_f32 takes (the host picks it for M <= 8)
#define GV_WARPS 8  // warps per block, one output feature each

__device__ __forceinline__ void linear_gemv_body(const LinearParams p, const float* __restrict__ x,
                                                 const float* __restrict__ w,
                                                 const float* __restrict__ b,
                                                 float* __restrict__ y) {
    __shared__ float part[GV_WARPS][GV_ROWS][32];
    const int tid = (int)threadIdx.x;
    const int warp = tid / 32, lane = tid % 32;
    const int m = (int)tp_min_ll(p.m, GV_ROWS);  // the host guarantees p.m <= GV_ROWS
    if (m <= 0) return;  // nothing to compute (and row m - 1 below must exist); whole grid
    for (long long o0 = (long long)blockIdx.x * GV_WARPS; o0 < p.n;
         o0 += (long long)gridDim.x * GV_WARPS) {
        const long long o = o0 + warp;
        const bool active = o < p.n;
        float acc[GV_ROWS];
        TP_UNROLL
        for (int i = 0; i < GV_ROWS; ++i) acc[i] = 0.0f;
        if (active) {
            const float* __restrict__ wo = w + o * p.k;
            long long kk = lane;
            // Four independent 128-byte reads of w per warp in flight per iteration.
            for (; kk + 96 < p.k; kk += 128) {
                const float w0 = wo[kk], w1 = wo[kk + 32], w2 = wo[kk + 64], w3 = wo[kk + 96];
                TP_UNROLL
                for (int i = 0; i < GV_ROWS; ++i) {
                    // Rows past m repeat row m - 1 (never stored): no predicate per row.
                    const float* __restrict__ xi = x + (i < m ? i : m - 1) * p.k + kk;
                    acc[i] += xi[0] * w0;
                    acc[i] += xi[32] * w1;
                    acc[i] += xi[64] * w2;
                    acc[i] += xi[96] * w3;
                }
            }
            for (; kk < p.k; kk += 32) {
                const float w0 = wo[kk];
                TP_UNROLL
                for (int i = 0; i < GV_ROWS; ++i) acc[i] += x[(i < m ? i : m - 1) * p.k + kk] * w0;
            }
        }
        TP_UNROLL
        for (int i = 0; i < GV_ROWS; ++i) part[warp][i][lane] = acc[i];
        __syncthreads();  // every lane's partials stored
        if (active && lane < m) {
            float v = 0.0f;
            for (int l = 0; l < 32; ++l) v += part[warp][lane][l];
            v += p.has_bias ? b[o] : 0.0f;
            if (p.relu && v < 0.0f) v = 0.0f;
            y[lane * p.n + o] = v;
        }
        __syncthreads();  // partials read before the next outputs overwrite them
    }
}

extern "C" __global__ void __launch_bounds__(LIN_THREADS) linear_f32(LinearParams p, const float* __restrict__ x /* [M, K] */, const float* __restrict__ w /* [N, K] */, const float* __restrict__ b /* [N], ignored when p.has_bias == 0 */, float* __restrict__ y /* [M, N] */) { linear_body<float>(p, x, w, b, y); }
extern "C" __global__ void __launch_bounds__(GT_THREADS) linear_tiled_f32(LinearParams p, const float* __restrict__ x /* [M, K] */, const float* __restrict__ w /* [N, K] */, const float* __restrict__ b /* [N], ignored when p.has_bias == 0 */, float* __restrict__ y /* [M, N] */) { linear_tiled_body(p, x, w, b, y); }
extern "C" __global__ void __launch_bounds__(GV_WARPS * 32) linear_gemv_f32(LinearParams p, const float* __restrict__ x /* [M, K], M <= 8 */, const float* __restrict__ w /* [N, K] */, const float* __restrict__ b /* [N], ignored when p.has_bias == 0 */, float* __restrict__ y /* [M, N] */) { linear_gemv_body(p, x, w, b, y); }
