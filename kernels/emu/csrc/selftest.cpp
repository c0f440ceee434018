// selftest.cpp: tiny kernels that test the emulator itself (barrier semantics, shared memory per
// block, 2-D thread indices, divergence detection). Compiled through shim.h like the real ones.
#include <cstddef>

#include "emu.h"

namespace {

// Each block reverses its slice of `len = blockDim.x * blockDim.y` floats through shared memory:
// correct only if __syncthreads really waits for every thread's store.
void reverse_kernel(const float* __restrict__ x, float* __restrict__ y) {
    __shared__ float tile[1024];
    const unsigned len = blockDim.x * blockDim.y;
    const unsigned t = threadIdx.y * blockDim.x + threadIdx.x;
    const size_t base = (size_t)blockIdx.x * len;
    tile[t] = x[base + t];
    __syncthreads();
    y[base + t] = tile[len - 1 - t];
}

// Odd threads leave before the barrier the even ones wait at.
void divergent_exit_kernel() {
    if (threadIdx.x % 2) return;
    __syncthreads();
}

// Odd and even threads wait at different __syncthreads() call sites.
void divergent_site_kernel(int* out) {
    if (threadIdx.x % 2) {
        __syncthreads();
        out[0] = 1;
    } else {
        __syncthreads();
        out[1] = 2;
    }
}

struct ReverseArgs {
    const float* x;
    float* y;
};

}  // namespace

extern "C" int tp_emu_selftest_reverse(const unsigned grid[3], const unsigned block[3], const float* x,
                                       float* y, char* err, size_t err_len) {
    ReverseArgs a{x, y};
    return tp_emu_launch(grid, block, [](void* v) {
        auto* a = static_cast<ReverseArgs*>(v);
        reverse_kernel(a->x, a->y);
    }, &a, err, err_len);
}

extern "C" int tp_emu_selftest_divergent(int site, char* err, size_t err_len) {
    const unsigned grid[3] = {2, 1, 1};
    const unsigned block[3] = {64, 1, 1};
    int out[2] = {0, 0};
    if (site) {
        return tp_emu_launch(grid, block, [](void* v) { divergent_site_kernel(static_cast<int*>(v)); },
                             out, err, err_len);
    }
    return tp_emu_launch(grid, block, [](void*) { divergent_exit_kernel(); }, nullptr, err, err_len);
}
