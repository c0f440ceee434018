// copy.cu: strided copy of up to 8 dims, for any dtype (by element size): what makes a CUDA
// view contiguous (Tensor::contiguous), and what cat and pad use to place each input in its
// output; and a fill (pad's background).
//
// fill_b*: y[i] = (T)value_bits for i in [0, n): the element's bits are the low bytes of
//   value_bits (the host put them there; src/ops/pad.rs). One element per thread per iteration
//   of a grid-stride loop; the same launch shape as the copy.
//
// Math: for the coordinate c of flat index i (C order over shape[0..ndim)),
//     y[dst_offset + sum_d c[d]*dst_strides[d]] = x[src_offset + sum_d c[d]*src_strides[d]]
//   A bit copy: the element's bytes move unchanged (NaN payloads too).
// Layout: x is a whole source buffer of src_len elements and y a whole destination buffer of
//   dst_len elements; the offsets and strides index into them. The host (src/ops/copy.rs,
//   CopyParams::new) proved every index in range: both views lie inside their buffers. y does
//   not alias x, and distinct coordinates of the destination view are distinct elements.
// Threads: one element per thread per iteration of a grid-stride loop over i in [0, n); the
//   coordinate is peeled off i innermost dim first. The dim loop runs over all 8 slots with a
//   constant trip count and skips d >= ndim, so every params array is indexed by a constant.
// Launch (src/kernels/shapes.rs grid_stride): block (256,1,1); grid (min(ceil(n/256), 65535),1,1);
//   no dynamic shared memory.
#include "common.cuh"

#define COPY_MAX_DIMS 8

template <typename T>
__device__ __forceinline__ void copy_body(const CopyParams p, const T* __restrict__ x,
                                          T* __restrict__ y) {
    TP_GRID_STRIDE_LOOP(i, p.n) {
        long long rest = i;
        long long is = p.src_offset, id = p.dst_offset;
        TP_UNROLL
        for (int d = COPY_MAX_DIMS - 1; d >= 0; --d) {
            if (d < p.ndim) {
                const long long c = rest % p.shape[d];  // shape[d] >= 1: n > 0 inside the loop
                rest /= p.shape[d];
                is += c * p.src_strides[d];
                id += c * p.dst_strides[d];
            }
        }
        y[id] = x[is];  // is < src_len, id < dst_len: checked by the host
    }
}

extern "C" __global__ void __launch_bounds__(256) copy_b1(CopyParams p, const unsigned char* __restrict__ x /* [src_len] */, unsigned char* __restrict__ y /* [dst_len] */) { copy_body<unsigned char>(p, x, y); }
extern "C" __global__ void __launch_bounds__(256) copy_b2(CopyParams p, const short* __restrict__ x /* [src_len] */, short* __restrict__ y /* [dst_len] */) { copy_body<short>(p, x, y); }
extern "C" __global__ void __launch_bounds__(256) copy_b4(CopyParams p, const int* __restrict__ x /* [src_len] */, int* __restrict__ y /* [dst_len] */) { copy_body<int>(p, x, y); }
extern "C" __global__ void __launch_bounds__(256) copy_b8(CopyParams p, const long long* __restrict__ x /* [src_len] */, long long* __restrict__ y /* [dst_len] */) { copy_body<long long>(p, x, y); }

template <typename T>
__device__ __forceinline__ void fill_body(const FillParams p, T* __restrict__ y) {
    // The conversion keeps the low bytes: the host stored the element's bits there.
    const T v = (T)p.value_bits;
    TP_GRID_STRIDE_LOOP(i, p.n) { y[i] = v; }
}

extern "C" __global__ void __launch_bounds__(256) fill_b1(FillParams p, unsigned char* __restrict__ y /* [n] */) { fill_body<unsigned char>(p, y); }
extern "C" __global__ void __launch_bounds__(256) fill_b2(FillParams p, short* __restrict__ y /* [n] */) { fill_body<short>(p, y); }
extern "C" __global__ void __launch_bounds__(256) fill_b4(FillParams p, int* __restrict__ y /* [n] */) { fill_body<int>(p, y); }
extern "C" __global__ void __launch_bounds__(256) fill_b8(FillParams p, long long* __restrict__ y /* [n] */) { fill_body<long long>(p, y); }
