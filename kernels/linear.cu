// linear.cu: y = x W^T + b, optionally followed by relu: a tiled shared-memory SGEMM, float32.
//
// Math: y[i, o] = act(b[o] + sum over kk in [0, K) of x[i, kk] * w[o, kk]) where b[o] is 0 when
//   has_bias == 0 and act is relu (v < 0 ? 0 : v, NaN and -0.0 kept) when p.relu != 0, else
//   the identity. The sum runs in increasing kk, in float32, then the bias is added.
// Layout: x [M, K]; w [N, K] (PyTorch's Linear weight, so both operands are K-contiguous);
//   b [N] (read only when has_bias); y [M, N]; all contiguous; y aliases none of them.
// Threads: a block computes one LIN_TM x LIN_TN (64 x 64) tile of y with 16 x 16 threads; thread
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
// Launch (src/kernels/shapes.rs linear): block (16,16,1), which this kernel assumes;
//   grid (min(ceil(N/64), 65535), min(ceil(M/64), 65535), 1); no dynamic shared memory
//   (2 * 16 * 65 * 4 = 8320 bytes static).
#include "common.cuh"

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

extern "C" __global__ void __launch_bounds__(LIN_THREADS) linear_f32(LinearParams p, const float* __restrict__ x /* [M, K] */, const float* __restrict__ w /* [N, K] */, const float* __restrict__ b /* [N], ignored when p.has_bias == 0 */, float* __restrict__ y /* [M, N] */) { linear_body<float>(p, x, w, b, y); }
