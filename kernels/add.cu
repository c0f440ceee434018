// add.cu: y = a + b, or relu(a + b), elementwise with broadcasting, float32.
//
// Math: y[i] = act(a[ia] + b[ib]) with act the identity, or relu (v < 0 ? 0 : v, NaN and -0.0
//   kept, as torch.relu) when p.relu != 0. One IEEE addition per output, so the result is the
//   same bits as the CPU op's and PyTorch's for the same operands.
// Layout: y [shape[0], ..., shape[ndim-1]] contiguous (n elements). a and b are contiguous
//   buffers of a_numel and b_numel elements viewed through broadcast strides: for the output
//   coordinate c of flat index i (C order over shape), ia = sum over d of c[d] * a_strides[d],
//   likewise ib, with stride 0 on a broadcast dim. When p.dense, a, b and y share one shape and
//   ia = ib = i. y aliases neither input.
// Threads: one output element per thread per iteration of a grid-stride loop over i in [0, n);
//   the coordinate is peeled off i innermost dim first. The dim loop runs over all 8 slots with
//   a constant trip count and skips d >= ndim, so it unrolls and every params array is indexed
//   by a constant (no local-memory copy of the params).
// Launch (src/kernels/shapes.rs grid_stride): block (256,1,1); grid (min(ceil(n/256), 65535),1,1);
//   no dynamic shared memory. The wrapper declares __launch_bounds__(256) (no launch uses more).
#include "common.cuh"

#define ADD_MAX_DIMS 8

template <typename T>
__device__ __forceinline__ T add_act(const T v, const bool relu) {
    // "less than zero", not max(0, v): NaN and -0.0 pass through, as torch.relu.
    return relu && v < T(0) ? T(0) : v;
}

template <typename T>
__device__ __forceinline__ void add_body(const BroadcastParams p, const T* __restrict__ a,
                                         const T* __restrict__ b, T* __restrict__ y) {
    const bool relu = p.relu != 0;
    if (p.dense) {
        // Both operands have the output's shape: no index arithmetic.
        TP_GRID_STRIDE_LOOP(i, p.n) { y[i] = add_act(a[i] + b[i], relu); }
        return;
    }
    TP_GRID_STRIDE_LOOP(i, p.n) {
        long long rest = i;  // the coordinate still to peel, outer dims
        long long ia = 0, ib = 0;
        TP_UNROLL
        for (int d = ADD_MAX_DIMS - 1; d >= 0; --d) {
            if (d < p.ndim) {
                const long long c = rest % p.shape[d];  // shape[d] >= 1: n > 0 inside the loop
                rest /= p.shape[d];
                ia += c * p.a_strides[d];
                ib += c * p.b_strides[d];
            }
        }
        // ia < a_numel and ib < b_numel: the host derived the strides from each operand's own
        // contiguous shape (src/ops/add.rs BroadcastParams::new).
        y[i] = add_act(a[ia] + b[ib], relu);
    }
}

extern "C" __global__ void __launch_bounds__(256) add_f32(BroadcastParams p, const float* __restrict__ a /* [a_numel] */, const float* __restrict__ b /* [b_numel] */, float* __restrict__ y /* [n] */) { add_body<float>(p, a, b, y); }
