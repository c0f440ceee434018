// glue.cpp: one C entry point per kernel (called from Rust, see src/lib.rs), plus the sizes and
// field offsets of the params structs as g++ lays them out from kernels/params.cuh.
#include <cstddef>
#include <cstring>

#include "../../params.cuh"
#include "emu.h"

// The kernels, as compiled from kernels/*.cu through shim.h (plain extern "C" functions).
extern "C" void relu_f32(EltwiseParams p, const float* __restrict__ x, float* __restrict__ y);
extern "C" void max_pool2d_f32(Pool2dParams p, const float* __restrict__ x, float* __restrict__ y);
extern "C" void conv2d_f32(Conv2dParams p, const float* __restrict__ x, const float* __restrict__ w,
                           const float* __restrict__ b, float* __restrict__ y);
extern "C" void linear_f32(LinearParams p, const float* __restrict__ x, const float* __restrict__ w,
                           const float* __restrict__ b, float* __restrict__ y);

namespace {
struct Unary {
    const void* p;
    const float* x;
    float* y;
};
struct Weighted {
    const void* p;
    const float* x;
    const float* w;
    const float* b;
    float* y;
};
}  // namespace

extern "C" int tp_emu_relu_f32(const unsigned grid[3], const unsigned block[3], const EltwiseParams* p,
                               const float* x, float* y, char* err, size_t err_len) {
    Unary a{p, x, y};
    return tp_emu_launch(grid, block, [](void* v) {
        auto* a = static_cast<Unary*>(v);
        relu_f32(*static_cast<const EltwiseParams*>(a->p), a->x, a->y);
    }, &a, err, err_len);
}

extern "C" int tp_emu_max_pool2d_f32(const unsigned grid[3], const unsigned block[3],
                                     const Pool2dParams* p, const float* x, float* y, char* err,
                                     size_t err_len) {
    Unary a{p, x, y};
    return tp_emu_launch(grid, block, [](void* v) {
        auto* a = static_cast<Unary*>(v);
        max_pool2d_f32(*static_cast<const Pool2dParams*>(a->p), a->x, a->y);
    }, &a, err, err_len);
}

extern "C" int tp_emu_conv2d_f32(const unsigned grid[3], const unsigned block[3], const Conv2dParams* p,
                                 const float* x, const float* w, const float* b, float* y, char* err,
                                 size_t err_len) {
    Weighted a{p, x, w, b, y};
    return tp_emu_launch(grid, block, [](void* v) {
        auto* a = static_cast<Weighted*>(v);
        conv2d_f32(*static_cast<const Conv2dParams*>(a->p), a->x, a->w, a->b, a->y);
    }, &a, err, err_len);
}

extern "C" int tp_emu_linear_f32(const unsigned grid[3], const unsigned block[3], const LinearParams* p,
                                 const float* x, const float* w, const float* b, float* y, char* err,
                                 size_t err_len) {
    Weighted a{p, x, w, b, y};
    return tp_emu_launch(grid, block, [](void* v) {
        auto* a = static_cast<Weighted*>(v);
        linear_f32(*static_cast<const LinearParams*>(a->p), a->x, a->w, a->b, a->y);
    }, &a, err, err_len);
}

// Layout of the C structs: (struct, field, offset) rows, then (struct, "", sizeof) rows.
namespace {
struct FieldRow {
    const char* st;
    const char* field;
    size_t value;
};
#define F(S, f) {#S, #f, offsetof(S, f)}
#define SZ(S) {#S, "", sizeof(S)}
const FieldRow kLayout[] = {
    F(Conv2dParams, n), F(Conv2dParams, c_in), F(Conv2dParams, h), F(Conv2dParams, w),
    F(Conv2dParams, c_out), F(Conv2dParams, kh), F(Conv2dParams, kw), F(Conv2dParams, stride_h),
    F(Conv2dParams, stride_w), F(Conv2dParams, pad_h), F(Conv2dParams, pad_w),
    F(Conv2dParams, dil_h), F(Conv2dParams, dil_w), F(Conv2dParams, groups),
    F(Conv2dParams, h_out), F(Conv2dParams, w_out), F(Conv2dParams, has_bias), SZ(Conv2dParams),
    F(Pool2dParams, n), F(Pool2dParams, c), F(Pool2dParams, h), F(Pool2dParams, w),
    F(Pool2dParams, kh), F(Pool2dParams, kw), F(Pool2dParams, stride_h), F(Pool2dParams, stride_w),
    F(Pool2dParams, pad_h), F(Pool2dParams, pad_w), F(Pool2dParams, dil_h), F(Pool2dParams, dil_w),
    F(Pool2dParams, h_out), F(Pool2dParams, w_out), SZ(Pool2dParams),
    F(LinearParams, m), F(LinearParams, k), F(LinearParams, n), F(LinearParams, has_bias),
    F(LinearParams, relu), SZ(LinearParams),
    F(EltwiseParams, n), SZ(EltwiseParams),
};
#undef F
#undef SZ
}  // namespace

extern "C" size_t tp_emu_layout_len(void) { return sizeof kLayout / sizeof kLayout[0]; }

// Row i: struct and field names (NUL-terminated, static) and the offset or size. 0 if i is out of range.
extern "C" int tp_emu_layout_row(size_t i, const char** st, const char** field, size_t* value) {
    if (i >= tp_emu_layout_len()) return 0;
    *st = kLayout[i].st;
    *field = kLayout[i].field;
    *value = kLayout[i].value;
    return 1;
}
