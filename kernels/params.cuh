// params.cuh: the C side of the op parameter structs in src/ops/params.rs.
//
// Each struct mirrors its `#[repr(C)]` Rust twin field for field, in declaration order, every
// field a 64-bit signed integer (`i64` <-> `long long`). Kernels receive them BY VALUE as their
// first argument. tests/emu_kernels.rs checks the size and every field offset against the Rust
// structs, so a field added on one side only fails `cargo test`.
#pragma once

// conv2d: NCHW input, OIHW weight (I = c_in / groups), NCHW output [n, c_out, h_out, w_out].
struct Conv2dParams {
    long long n;
    long long c_in;
    long long h;
    long long w;
    long long c_out;
    long long kh;
    long long kw;
    long long stride_h;
    long long stride_w;
    long long pad_h;
    long long pad_w;
    long long dil_h;
    long long dil_w;
    long long groups;
    long long h_out;
    long long w_out;
    long long has_bias;  // 0 or 1
};

// max_pool2d: NCHW input [n, c, h, w], output [n, c, h_out, w_out] (ceil_mode already folded
// into h_out/w_out by Pool2dParams::new).
struct Pool2dParams {
    long long n;
    long long c;
    long long h;
    long long w;
    long long kh;
    long long kw;
    long long stride_h;
    long long stride_w;
    long long pad_h;
    long long pad_w;
    long long dil_h;
    long long dil_w;
    long long h_out;
    long long w_out;
};

// linear: x [m, k], weight [n, k], bias [n], y [m, n].
struct LinearParams {
    long long m;
    long long k;
    long long n;
    long long has_bias;  // 0 or 1
    long long relu;      // 1: relu fused into the epilogue
};

// An elementwise op over n contiguous elements.
struct EltwiseParams {
    long long n;
};
