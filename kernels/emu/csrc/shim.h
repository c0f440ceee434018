// shim.h: just enough of CUDA's device dialect for kernels/*.cu to compile as C++17 with g++,
// force-included (`-include shim.h`) before every kernel file by kernels/emu/build.rs.
//
// - __global__/__device__/__host__/__forceinline__/__launch_bounds__ expand to (almost) nothing.
// - __shared__ becomes `static thread_local`: emu.cpp runs every block start to finish on one
//   worker thread, so one copy per worker thread is one copy per running block.
// - threadIdx/blockIdx/blockDim/gridDim are thread-locals the scheduler sets before it resumes a
//   fiber (threadIdx) or starts a block (the others).
// - __syncthreads() parks the calling fiber until every thread of the block has arrived.
// Not provided (compile errors, on purpose): extern __shared__, __constant__, warp intrinsics,
// atomics, inline PTX.
#pragma once

#include <cmath>
#include <limits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local
// g++ knows __restrict__ natively.

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
};

extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;

extern "C" void __syncthreads(void);
