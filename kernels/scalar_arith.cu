// scalar_arith.cu: y = x + s or y = x * s (a tensor with a scalar), elementwise, float32.
//
// Math: y[i] = x[i] + s (p.op == 0) or x[i] * s (p.op == 1), s the host's f64 (as its bits)
//   rounded to float once, as PyTorch computes a float32 tensor with a Python float: one IEEE
//   operation per element, the same bits as the CPU op's and PyTorch's.
// Layout: x and y are contiguous [n] (any tensor flattened); y aliases nothing.
// Threads: one element per thread per iteration of a grid-stride loop over i in [0, n); `op` is
//   uniform across the grid, so the branch never diverges.
// Launch (src/kernels/shapes.rs grid_stride): block (256,1,1); grid (min(ceil(n/256), 65535),1,1);
//   no dynamic shared memory. The wrapper declares __launch_bounds__(256) (no launch uses more).
#include "common.cuh"

template <typename T>
__device__ __forceinline__ void scalar_arith_body(const ScalarArithParams p,
                                                  const T* __restrict__ x, T* __restrict__ y) {
    const T s = T(tp_f64_from_bits(p.s));
    if (p.op == 0) {
        TP_GRID_STRIDE_LOOP(i, p.n) { y[i] = x[i] + s; }
    } else {
        TP_GRID_STRIDE_LOOP(i, p.n) { y[i] = x[i] * s; }
    }
}

extern "C" __global__ void __launch_bounds__(256) scalar_arith_f32(ScalarArithParams p, const float* __restrict__ x /* [n] */, float* __restrict__ y /* [n] */) { scalar_arith_body<float>(p, x, y); }
