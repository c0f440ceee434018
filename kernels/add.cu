// add.cu: y = a + alpha * b, or relu(a + b), elementwise with broadcasting, float32.
//
// Math: y[i] = act(fma(alpha, b[ib], a[ia])): one rounding, as ATen's vectorised add computes
//   `add(a, b, alpha=)` (vec::fmadd); with alpha = 1 (plain add) that is exactly a + b. act is
//   the identity, or relu (v < 0 ? 0 : v, NaN and -0.0 kept, as torch.relu) when p.relu != 0.
//   alpha arrives as f64 bits and is rounded to float once, as ATen's Scalar::to<float>(). So
//   the result is the same bits as the CPU op's and PyTorch's for the same operands.
// Layout and threads: kernels/broadcast.cuh (a and b contiguous buffers read through broadcast
//   strides, y contiguous [n], one output per thread of a grid-stride loop).
// Launch (src/kernels/shapes.rs grid_stride): block (256,1,1); grid (min(ceil(n/256), 65535),1,1);
//   no dynamic shared memory. The wrapper declares __launch_bounds__(256) (no launch uses more).
#include "broadcast.cuh"

template <typename T>
struct AddOp {
    T alpha;
    bool relu;
    __device__ __forceinline__ T operator()(const T x, const T z) const {
        const T v = tp_fma(alpha, z, x);
        // "less than zero", not max(0, v): NaN and -0.0 pass through, as torch.relu.
        return relu && v < T(0) ? T(0) : v;
    }
};

template <typename T>
__device__ __forceinline__ void add_body(const BroadcastParams p, const T* __restrict__ a,
                                         const T* __restrict__ b, T* __restrict__ y) {
    const AddOp<T> f = {T(tp_f64_from_bits(p.alpha)), p.relu != 0};
    tp_broadcast_map(p, a, b, y, f);
}

extern "C" __global__ void __launch_bounds__(256) add_f32(BroadcastParams p, const float* __restrict__ a /* [a_numel] */, const float* __restrict__ b /* [b_numel] */, float* __restrict__ y /* [n] */) { add_body<float>(p, a, b, y); }
