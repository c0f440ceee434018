// mul.cu: y = a * b, elementwise with broadcasting, float32.
//
// Math: y[i] = a[ia] * b[ib], one IEEE multiply per output, so the same bits as the CPU op's
//   and PyTorch's for the same operands (NaN propagates, signs of zeros and infinities follow
//   IEEE). p.relu and p.alpha are add's and ignored here.
// Layout and threads: kernels/broadcast.cuh (a and b contiguous buffers read through broadcast
//   strides, y contiguous [n], one output per thread of a grid-stride loop).
// Launch (src/kernels/shapes.rs grid_stride): block (256,1,1); grid (min(ceil(n/256), 65535),1,1);
//   no dynamic shared memory. The wrapper declares __launch_bounds__(256) (no launch uses more).
#include "broadcast.cuh"

template <typename T>
struct MulOp {
    __device__ __forceinline__ T operator()(const T x, const T z) const { return x * z; }
};

template <typename T>
__device__ __forceinline__ void mul_body(const BroadcastParams p, const T* __restrict__ a,
                                         const T* __restrict__ b, T* __restrict__ y) {
    tp_broadcast_map(p, a, b, y, MulOp<T>());
}

extern "C" __global__ void __launch_bounds__(256) mul_f32(BroadcastParams p, const float* __restrict__ a /* [a_numel] */, const float* __restrict__ b /* [b_numel] */, float* __restrict__ y /* [n] */) { mul_body<float>(p, a, b, y); }
