// broadcast.cuh: the index arithmetic of every broadcasting binary kernel (add.cu, mul.cu),
// written once: y[i] = f(a[ia], b[ib]) over the contiguous output y [shape[0..ndim]] (n
// elements), with a and b contiguous buffers of a_numel and b_numel elements viewed through
// broadcast strides (BroadcastParams): for the output coordinate c of flat index i (C order over
// shape), ia = sum over d of c[d] * a_strides[d], likewise ib, stride 0 on a broadcast dim. When
// p.dense, a, b and y share one shape and ia = ib = i. y aliases neither input.
//
// Threads: one output element per thread per iteration of a grid-stride loop over i in [0, n);
// the coordinate is peeled off i innermost dim first. The dim loop runs over all 8 slots with a
// constant trip count and skips d >= ndim, so it unrolls and every params array is indexed by a
// constant (no local-memory copy of the params).
#pragma once

#include "common.cuh"

#define TP_BROADCAST_MAX_DIMS 8

// `f` is a functor `T operator()(T a, T b) const`: the op's arithmetic, the only thing the
// kernels built on this differ in.
template <typename T, typename F>
__device__ __forceinline__ void tp_broadcast_map(const BroadcastParams p, const T* __restrict__ a,
                                                 const T* __restrict__ b, T* __restrict__ y,
                                                 const F f) {
    if (p.dense) {
        // Both operands have the output's shape: no index arithmetic.
        TP_GRID_STRIDE_LOOP(i, p.n) { y[i] = f(a[i], b[i]); }
        return;
    }
    TP_GRID_STRIDE_LOOP(i, p.n) {
        long long rest = i;  // the coordinate still to peel, outer dims
        long long ia = 0, ib = 0;
        TP_UNROLL
        for (int d = TP_BROADCAST_MAX_DIMS - 1; d >= 0; --d) {
            if (d < p.ndim) {
                const long long c = rest % p.shape[d];  // shape[d] >= 1: n > 0 inside the loop
                rest /= p.shape[d];
                ia += c * p.a_strides[d];
                ib += c * p.b_strides[d];
            }
        }
        // ia < a_numel and ib < b_numel: the host derived the strides from each operand's own
        // contiguous shape (src/ops/add.rs BroadcastParams::new). The store is inside i < n.
        y[i] = f(a[ia], b[ib]);
    }
}
