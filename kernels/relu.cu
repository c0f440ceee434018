// relu.cu: y = relu(x), elementwise, float32.
//
// Math: y[i] = x[i] < 0 ? 0 : x[i]. Written as "less than zero" rather than max(0, x) so that
//   NaN stays NaN (NaN < 0 is false) and -0.0 stays -0.0, bit for bit as torch.relu and the CPU
//   op (src/cpu/relu.rs) do.
// Layout: x and y are contiguous [n] (any NCHW tensor flattened); y may not alias x.
// Threads: one element per thread per iteration of a grid-stride loop over i in [0, n).
// Launch (src/kernels/shapes.rs grid_stride): block (256,1,1); grid (min(ceil(n/256), 65535),1,1);
//   no dynamic shared memory.
//   The wrapper declares __launch_bounds__(256): no launch uses more, so ptxas may budget
//   registers for 256-thread blocks (ptxas 12.4 sm_70/sm_90: no spills).
#include "common.cuh"

template <typename T>
__device__ __forceinline__ void relu_body(const EltwiseParams p, const T* __restrict__ x,
                                          T* __restrict__ y) {
    TP_GRID_STRIDE_LOOP(i, p.n) {
        const T v = x[i];
        // The store is inside the loop's bound i < n.
        y[i] = v < T(0) ? T(0) : v;
    }
}

extern "C" __global__ void __launch_bounds__(256) relu_f32(EltwiseParams p, const float* __restrict__ x /* [n] */, float* __restrict__ y /* [n] */) { relu_body<float>(p, x, y); }
