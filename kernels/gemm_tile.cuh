// gemm_tile.cuh: the register-tiled block product shared by linear_tiled_f32 (linear.cu) and
// conv2d_igemm_f32 (conv2d.cu).
//
// Math: a block owns a GT_BM x GT_BN (128 x 128) tile C of a product C = A B, A [rows, K],
//   B [K, cols], and walks K in steps of GT_BK (8). Each step the kernel stages A[:, k0:k0+8]
//   and B[k0:k0+8, :] into shared memory as a[kk][row] and b[kk][col] (both "k-major", so one
//   kk is a contiguous line of 128 floats), and gt_step adds, for kk in [0, 8) in order,
//   a[kk][r] * b[kk][c] to the thread's accumulators (one FFMA each under NVRTC, which contracts
//   a * b + c; a multiply and an add in the emulator, whose g++ never fuses: the tests' bound
//   covers both).
// Threads: 256 (16 x 16 as tx = tid % 16, ty = tid / 16); thread (tx, ty) owns the 8 x 8
//   outputs at rows gt_row(ty, i) = ty*4 + i%4 + 64*(i/4) and columns gt_col(tx, j) = tx*4 +
//   j%4 + 64*(j/4). Four consecutive rows (columns) per half makes every operand fetch one
//   128-bit shared load: per kk a thread issues 4 LDS.128 for 64 FFMA, which is what lifts the
//   FFMA share of the loop from linear_f32's ~47% (4x4 per thread, scalar LDS) to ~90%.
//   The two halves 64 apart keep a warp's 128-bit loads of one line within 2 x 256 bytes
//   (threads with equal tx or ty broadcast).
// Shared memory: two buffers per operand (double buffering: the loads of step t+1 are in flight
//   in registers while step t computes, one barrier per step), each line padded to GT_LD = 132
//   floats: a warp staging a k-contiguous operand stores 8 lines x 4 rows, at banks
//   (4*kk + row) % 32, all different (unpadded, all 8 lines would share a bank); the pad keeps
//   lines 16-byte aligned for LDS.128. 2 * 2 * 8 * 132 * 4 = 16,896 bytes, static.
#pragma once

#include "common.cuh"

#define GT_BM 128       // rows of the block tile (rows of A)
#define GT_BN 128       // columns of the block tile (columns of B)
#define GT_BK 8         // K step staged in shared memory
#define GT_LD 132       // padded line length in shared memory, floats (a multiple of 4)
#define GT_THREADS 256  // threads per block, which every gemm_tile kernel assumes

#if defined(__CUDACC__)
#define TP_ALIGN16 __align__(16)
#else
#define TP_ALIGN16 __attribute__((aligned(16)))
#endif

// Four consecutive floats from 16-byte-aligned shared memory: one LDS.128 on the GPU.
__device__ __forceinline__ void gt_lds4(const float* p, float* r) {
#if defined(__CUDACC__)
    const float4 v = *reinterpret_cast<const float4*>(p);
    r[0] = v.x;
    r[1] = v.y;
    r[2] = v.z;
    r[3] = v.w;
#else
    __builtin_memcpy(r, p, 4 * sizeof(float));
#endif
}

// Row (of A, and of the tile) of the thread's i-th accumulator row; gt_col likewise for j.
__device__ __forceinline__ int gt_row(int ty, int i) { return ty * 4 + (i & 3) + ((i >> 2) << 6); }
__device__ __forceinline__ int gt_col(int tx, int j) { return tx * 4 + (j & 3) + ((j >> 2) << 6); }

__device__ __forceinline__ void gt_zero(float (&acc)[8][8]) {
    TP_UNROLL
    for (int i = 0; i < 8; ++i) {
        TP_UNROLL
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;
    }
}

// One K step: acc[i][j] += sum over kk of a[kk][gt_row(ty, i)] * b[kk][gt_col(tx, j)].
__device__ __forceinline__ void gt_step(const float (*a)[GT_LD], const float (*b)[GT_LD], int tx,
                                        int ty, float (&acc)[8][8]) {
    TP_UNROLL
    for (int kk = 0; kk < GT_BK; ++kk) {
        float av[8], bv[8];
        gt_lds4(&a[kk][ty * 4], av);
        gt_lds4(&a[kk][64 + ty * 4], av + 4);
        gt_lds4(&b[kk][tx * 4], bv);
        gt_lds4(&b[kk][64 + tx * 4], bv + 4);
        TP_UNROLL
        for (int i = 0; i < 8; ++i) {
            TP_UNROLL
            for (int j = 0; j < 8; ++j) acc[i][j] += av[i] * bv[j];
        }
    }
}
