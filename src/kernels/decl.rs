// The kernel contract, declared once: every params struct the kernels take by value, and every
// kernel with its PTX module (`kernels/<module>.cu`), entry point, params type, launch shape and
// operands (in the kernel's parameter order, after the params struct).
//
// This file is not a module: it is one call of `kernels!`, `include!`d three times, each time
// with `kernels!` defined to make something else of it:
// - src/kernels/mod.rs: the `#[repr(C)]` structs and their field offsets, the `Kernel` enum and
//   one type per kernel implementing `KernelDef`, which the CUDA launch and the emulator tests
//   read (the launch shape, each operand's element count, the PTX text);
// - build.rs, through kernels/gen.rs: `$OUT_DIR/include/params.cuh`, the C structs the `.cu`
//   files include, each with a static_assert of its size;
// - kernels/emu/build.rs, through kernels/gen.rs: the same header, the layout table g++ fills
//   in, and one call shim per kernel compiled in the same translation unit as the kernel, so a
//   signature that differs from the operands listed here does not compile.
//
// Adding a kernel: its struct (if new) under `params`, one `kernel` entry under its module;
// docs/adding-an-op.md has the whole checklist. Every params field is a 64-bit signed integer
// (or an array of them), so the C and Rust layouts have no padding to disagree about.
//
// An operand is `name: *const T [factors]` (read) or `*mut T` (written): its element count is
// the product of the factors (checked, each non-negative), and `if COND` marks an operand the
// kernel reads only when COND holds (a null pointer is passed otherwise). The launch shape is a
// function of `crate::kernels::shapes`.
kernels! {
    params {
        /// An elementwise op over `n` contiguous elements.
        EltwiseParams {
            /// Number of elements.
            n: i64,
        }

        /// A unary activation over `n` contiguous elements, `y[i] = f(x[i])`, `f` chosen by
        /// `kind` (`Activation::code` in src/ops/activation.rs) with up to two scalar arguments.
        ActivationParams {
            /// Number of elements.
            n: i64,
            /// Which function: 0 hardtanh, 1 silu, 2 sigmoid, 3 hardswish, 4 hardsigmoid,
            /// 5 gelu (erf), 6 gelu (tanh approximation).
            kind: i64,
            /// hardtanh's `min_val` as the bits of an f64 (`f64::to_bits`); 0 for the others.
            lo: i64,
            /// hardtanh's `max_val` as the bits of an f64; 0 for the others.
            hi: i64,
        }

        /// max_pool2d over NCHW input: `y[n, c, oh, ow] = max over (kh, kw) of
        /// x[n, c, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw]`, over the taps inside the input
        /// (padding never wins); NaN propagates as in PyTorch. `ceil_mode` is already folded into
        /// `h_out`/`w_out`.
        Pool2dParams {
            /// Batch size.
            n: i64,
            /// Channels.
            c: i64,
            /// Input height.
            h: i64,
            /// Input width.
            w: i64,
            /// Kernel height.
            kh: i64,
            /// Kernel width.
            kw: i64,
            /// Vertical stride.
            stride_h: i64,
            /// Horizontal stride.
            stride_w: i64,
            /// Padding above and below.
            pad_h: i64,
            /// Padding left and right.
            pad_w: i64,
            /// Vertical dilation.
            dil_h: i64,
            /// Horizontal dilation.
            dil_w: i64,
            /// Output height.
            h_out: i64,
            /// Output width.
            w_out: i64,
        }

        /// conv2d over NCHW input, OIHW weight (`I = c_in / groups`), NCHW output:
        /// `y[n, co, oh, ow] = b[co] + Σ_{ci, kh, kw} x[n, g·Cg + ci, oh·sh − ph + kh·dh,
        /// ow·sw − pw + kw·dw] · w[co, ci, kh, kw]` with `g = co / (c_out / groups)`,
        /// `Cg = c_in / groups`, and zero outside the input.
        Conv2dParams {
            /// Batch size.
            n: i64,
            /// Input channels.
            c_in: i64,
            /// Input height.
            h: i64,
            /// Input width.
            w: i64,
            /// Output channels.
            c_out: i64,
            /// Kernel height.
            kh: i64,
            /// Kernel width.
            kw: i64,
            /// Vertical stride.
            stride_h: i64,
            /// Horizontal stride.
            stride_w: i64,
            /// Padding above and below.
            pad_h: i64,
            /// Padding left and right.
            pad_w: i64,
            /// Vertical dilation.
            dil_h: i64,
            /// Horizontal dilation.
            dil_w: i64,
            /// Channel groups.
            groups: i64,
            /// Output height.
            h_out: i64,
            /// Output width.
            w_out: i64,
            /// 1 when a bias is added, else 0.
            has_bias: i64,
            /// 1 when a residual `r [N, C_out, H_out, W_out]` is added after the bias, else 0.
            has_residual: i64,
            /// 1 when relu is applied last (after the bias and the residual), else 0.
            relu: i64,
            /// 2 when a 2x2, stride-2 max pool (floor mode) of the result is stored instead of
            /// the result (`y [N, C_out, H_out / 2, W_out / 2]`), else 0; only
            /// conv2d_small{3,5,7}_f32 pool.
            pool: i64,
        }

        /// An elementwise binary op with broadcasting over an output of `ndim <= 8` dims:
        /// `y[i] = f(a[Σ_d c_d·a_strides[d]], b[Σ_d c_d·b_strides[d]])` where `c` is the
        /// output coordinate of flat index `i` (C order over `shape`); a broadcast dim has
        /// stride 0. `a` and `b` are contiguous buffers of `a_numel` and `b_numel` elements.
        /// `f` is the kernel's: add's `act(a + alpha·b)`, mul's `a·b`.
        BroadcastParams {
            /// Output elements (the product of the first `ndim` sizes).
            n: i64,
            /// Output dims used in `shape` and the strides (0 to 8).
            ndim: i64,
            /// 1 when `a`, `b` and the output all have the output's shape: `y[i] = a[i] + b[i]`.
            dense: i64,
            /// add: 1 when relu is fused (`y = relu(a + b)`, a residual block's ending), else 0.
            relu: i64,
            /// add: the multiplier of `b` as the bits of an f64 (`f64::to_bits`; 1.0 for a
            /// plain add), rounded to the kernel's dtype; `a + alpha·b` is one fused multiply-add.
            alpha: i64,
            /// Elements of `a`.
            a_numel: i64,
            /// Elements of `b`.
            b_numel: i64,
            /// Output sizes, outermost first.
            shape: [i64; 8],
            /// `a`'s element stride per output dim (0 where `a` is broadcast).
            a_strides: [i64; 8],
            /// `b`'s element stride per output dim (0 where `b` is broadcast).
            b_strides: [i64; 8],
        }

        /// A float tensor with a scalar over `n` contiguous elements: `y[i] = x[i] + s`
        /// (`op` 0) or `x[i] · s` (`op` 1), `s` rounded to the kernel's dtype.
        ScalarArithParams {
            /// Number of elements.
            n: i64,
            /// 0 for add, 1 for mul.
            op: i64,
            /// The scalar as the bits of an f64 (`f64::to_bits`).
            s: i64,
        }

        /// linear: `y[m, o] = act(b[o] + Σ_k x[m, k] · w[o, k])`, all leading input dims folded
        /// into `m`; `act` is relu when `relu` is 1.
        LinearParams {
            /// Rows of the input (the product of its leading dims).
            m: i64,
            /// Input features.
            k: i64,
            /// Output features.
            n: i64,
            /// 1 when a bias is added, else 0.
            has_bias: i64,
            /// 1 when relu is fused into the epilogue, else 0.
            relu: i64,
        }

        /// Inference batch norm over `[n, c, inner]` (channel dim 1, everything after it folded
        /// into `inner`): `y = x · alpha[c] + beta[c]` with `alpha = w[c] / sqrt(var[c] + eps)`
        /// and `beta = b[c] − mean[c] · alpha`, torch's CPU inference formula; `w` is 1 and `b`
        /// is 0 when absent.
        BatchNormParams {
            /// Batch size (the product of the dims before the channel dim; 1 or dim 0).
            n: i64,
            /// Channels.
            c: i64,
            /// Elements per (batch, channel): the product of the dims after the channel dim.
            inner: i64,
            /// 1 when a weight is given, else 0.
            has_weight: i64,
            /// 1 when a bias is given, else 0.
            has_bias: i64,
            /// `eps` as the bits of an IEEE double (`f64::to_bits`): params fields are integers.
            eps_bits: i64,
        }

        /// avg_pool2d over NCHW input: `y[n, c, oh, ow] = Σ x[n, c, ih, iw] / divide` over the
        /// taps of the window inside the input, where the window is rows
        /// `[oh·sh − ph, min(oh·sh − ph + kh, h + ph))` (likewise columns) and `divide` is
        /// `divisor` when non-zero, else the window's size clipped to the padded input
        /// (`count_include_pad`) or to the input. `ceil_mode` is folded into `h_out`/`w_out`.
        AvgPool2dParams {
            /// Batch size.
            n: i64,
            /// Channels.
            c: i64,
            /// Input height.
            h: i64,
            /// Input width.
            w: i64,
            /// Kernel height.
            kh: i64,
            /// Kernel width.
            kw: i64,
            /// Vertical stride.
            stride_h: i64,
            /// Horizontal stride.
            stride_w: i64,
            /// Padding above and below.
            pad_h: i64,
            /// Padding left and right.
            pad_w: i64,
            /// Output height.
            h_out: i64,
            /// Output width.
            w_out: i64,
            /// 1 when padded taps count in the divisor, else 0.
            count_include_pad: i64,
            /// `divisor_override`, or 0 when not given.
            divisor: i64,
        }

        /// adaptive_avg_pool2d over NCHW input: `y[n, c, oh, ow]` is the mean of rows
        /// `[floor(oh·h / h_out), ceil((oh + 1)·h / h_out))` and the columns likewise, summed in
        /// row-major order and divided by the row count, then by the column count (torch's CPU
        /// kernel divides twice).
        AdaptivePool2dParams {
            /// Batch size.
            n: i64,
            /// Channels.
            c: i64,
            /// Input height.
            h: i64,
            /// Input width.
            w: i64,
            /// Output height.
            h_out: i64,
            /// Output width.
            w_out: i64,
        }

        /// A strided copy of `ndim <= 8` dims: for every coordinate `c` of `shape` (C order,
        /// flat index `i < n`), `y[dst_offset + Σ c_d·dst_strides[d]] =
        /// x[src_offset + Σ c_d·src_strides[d]]`. `x` holds `src_len` and `y` `dst_len` elements
        /// (whole storages: a view's offset and strides index into them).
        CopyParams {
            /// Elements copied (the product of the first `ndim` sizes).
            n: i64,
            /// Dims used in `shape` and the strides (0 to 8).
            ndim: i64,
            /// Elements of the source buffer.
            src_len: i64,
            /// Elements of the destination buffer.
            dst_len: i64,
            /// The source view's first element.
            src_offset: i64,
            /// The destination view's first element.
            dst_offset: i64,
            /// Sizes, outermost first.
            shape: [i64; 8],
            /// Source element strides.
            src_strides: [i64; 8],
            /// Destination element strides.
            dst_strides: [i64; 8],
        }

        /// softmax / log_softmax along the middle axis of `[outer, dim, inner]`:
        /// `m = max_d x`, `s = Σ_d exp(x − m)`, `y = exp(x − m) / s` or `y = (x − m) − log(s)`.
        SoftmaxParams {
            /// Product of the dims before the reduced one.
            outer: i64,
            /// Size of the reduced dim.
            dim: i64,
            /// Product of the dims after it.
            inner: i64,
            /// 1 for log_softmax, 0 for softmax.
            log: i64,
        }

        /// A mean over contiguous lines: `y[r] = (Σ_j x[r·len + j]) / len` for `r < rows`.
        MeanParams {
            /// Lines (outputs).
            rows: i64,
            /// Elements per line.
            len: i64,
        }

        /// layer_norm over the trailing `len` elements of each of `rows` rows:
        /// `μ = Σx/len`, `σ² = Σ(x − μ)²/len` (biased), `rstd = 1/sqrt(σ² + eps)`,
        /// `y = (x − μ)·rstd·w + b` (`w` is 1 and `b` 0 when absent).
        LayerNormParams {
            /// Rows (the product of the leading dims).
            rows: i64,
            /// Elements normalised together (the product of normalized_shape).
            len: i64,
            /// 1 when a weight is given, else 0.
            has_weight: i64,
            /// 1 when a bias is given, else 0.
            has_bias: i64,
            /// `eps` as the bits of an IEEE double (`f64::to_bits`).
            eps_bits: i64,
        }

        /// A fill: `y[i] = value` for every `i < n`, `value` the element's bits in the low bytes
        /// of `value_bits` (constant padding's background).
        FillParams {
            /// Elements.
            n: i64,
            /// The element's bit pattern (only the element's size of low bytes is used).
            value_bits: i64,
        }
    }

    module relu {
        /// `y = relu(x)` over `n` contiguous floats (NaN and -0.0 kept).
        kernel ReluF32 = relu_f32 (p: EltwiseParams) {
            launch: grid_stride(p.n),
            x: *const f32 [p.n],
            y: *mut f32 [p.n],
        }
    }

    module activation {
        /// `y = f(x)` for one of the activations of `ActivationParams::kind`, one element per
        /// thread of a grid-stride loop.
        kernel ActivationF32 = activation_f32 (p: ActivationParams) {
            launch: grid_stride(p.n),
            x: *const f32 [p.n],
            y: *mut f32 [p.n],
        }
    }

    module max_pool2d {
        /// 2-D max pooling, one output per thread of a grid-stride loop.
        kernel MaxPool2dF32 = max_pool2d_f32 (p: Pool2dParams) {
            launch: grid_stride_product(&[p.n, p.c, p.h_out, p.w_out]),
            x: *const f32 [p.n, p.c, p.h, p.w],
            y: *mut f32 [p.n, p.c, p.h_out, p.w_out],
        }
    }

    module add {
        /// `y = a + alpha·b` (or `relu(a + b)`) with broadcasting, one output per thread of a
        /// grid-stride loop.
        kernel AddF32 = add_f32 (p: BroadcastParams) {
            launch: grid_stride(p.n),
            a: *const f32 [p.a_numel],
            b: *const f32 [p.b_numel],
            y: *mut f32 [p.n],
        }
    }

    module mul {
        /// `y = a · b` with broadcasting, one output per thread of a grid-stride loop.
        kernel MulF32 = mul_f32 (p: BroadcastParams) {
            launch: grid_stride(p.n),
            a: *const f32 [p.a_numel],
            b: *const f32 [p.b_numel],
            y: *mut f32 [p.n],
        }
    }

    module scalar_arith {
        /// `y = x + s` or `y = x · s`, one element per thread of a grid-stride loop.
        kernel ScalarArithF32 = scalar_arith_f32 (p: ScalarArithParams) {
            launch: grid_stride(p.n),
            x: *const f32 [p.n],
            y: *mut f32 [p.n],
        }
    }

    module convert {
        /// float32 to float16, round to nearest even (`Tensor::to_dtype`).
        kernel ConvertF32F16 = convert_f32_f16 (p: EltwiseParams) {
            launch: grid_stride(p.n),
            x: *const f32 [p.n],
            y: *mut f16 [p.n],
        }
        /// float16 to float32 (exact).
        kernel ConvertF16F32 = convert_f16_f32 (p: EltwiseParams) {
            launch: grid_stride(p.n),
            x: *const f16 [p.n],
            y: *mut f32 [p.n],
        }
        /// float32 to bfloat16, round to nearest even.
        kernel ConvertF32Bf16 = convert_f32_bf16 (p: EltwiseParams) {
            launch: grid_stride(p.n),
            x: *const f32 [p.n],
            y: *mut bf16 [p.n],
        }
        /// bfloat16 to float32 (exact).
        kernel ConvertBf16F32 = convert_bf16_f32 (p: EltwiseParams) {
            launch: grid_stride(p.n),
            x: *const bf16 [p.n],
            y: *mut f32 [p.n],
        }
        /// float32 to float64 (exact).
        kernel ConvertF32F64 = convert_f32_f64 (p: EltwiseParams) {
            launch: grid_stride(p.n),
            x: *const f32 [p.n],
            y: *mut f64 [p.n],
        }
        /// float64 to float32, round to nearest even.
        kernel ConvertF64F32 = convert_f64_f32 (p: EltwiseParams) {
            launch: grid_stride(p.n),
            x: *const f64 [p.n],
            y: *mut f32 [p.n],
        }
    }

    module conv2d {
        /// Direct convolution, one output pixel per thread, the filter staged in shared memory; the
        /// residual and relu of conv_epilogue.cuh applied as it stores.
        kernel Conv2dF32 = conv2d_f32 (p: Conv2dParams) {
            launch: conv2d(p),
            x: *const f32 [p.n, p.c_in, p.h, p.w],
            w: *const f32 [p.c_out, per_group(p.c_in, p.groups), p.kh, p.kw],
            b: *const f32 [p.c_out] if p.has_bias != 0,
            r: *const f32 [p.n, p.c_out, p.h_out, p.w_out] if p.has_residual != 0,
            y: *mut f32 [p.n, p.c_out, p.stored_h(), p.stored_w()],
        }
        /// Implicit GEMM over each group (filters x im2col, never materialised), 128 x 128
        /// register tiles; only for shapes whose in-image offsets fit 32 bits. Residual and relu
        /// epilogue as conv2d_f32's.
        kernel Conv2dIgemmF32 = conv2d_igemm_f32 (p: Conv2dParams) {
            launch: conv2d_igemm(p),
            x: *const f32 [p.n, p.c_in, p.h, p.w],
            w: *const f32 [p.c_out, per_group(p.c_in, p.groups), p.kh, p.kw],
            b: *const f32 [p.c_out] if p.has_bias != 0,
            r: *const f32 [p.n, p.c_out, p.h_out, p.w_out] if p.has_residual != 0,
            y: *mut f32 [p.n, p.c_out, p.stored_h(), p.stored_w()],
        }
    }

    module conv2d_small {
        /// Direct convolution for few output channels, 8 per thread, 3x3 filters; residual and relu
        /// epilogue.
        kernel Conv2dSmall3F32 = conv2d_small3_f32 (p: Conv2dParams) {
            launch: conv2d_small(p, 3, false),
            x: *const f32 [p.n, p.c_in, p.h, p.w],
            w: *const f32 [p.c_out, per_group(p.c_in, p.groups), p.kh, p.kw],
            b: *const f32 [p.c_out] if p.has_bias != 0,
            r: *const f32 [p.n, p.c_out, p.h_out, p.w_out] if p.has_residual != 0,
            y: *mut f32 [p.n, p.c_out, p.stored_h(), p.stored_w()],
        }
        /// The same for 5x5 filters.
        kernel Conv2dSmall5F32 = conv2d_small5_f32 (p: Conv2dParams) {
            launch: conv2d_small(p, 5, false),
            x: *const f32 [p.n, p.c_in, p.h, p.w],
            w: *const f32 [p.c_out, per_group(p.c_in, p.groups), p.kh, p.kw],
            b: *const f32 [p.c_out] if p.has_bias != 0,
            r: *const f32 [p.n, p.c_out, p.h_out, p.w_out] if p.has_residual != 0,
            y: *mut f32 [p.n, p.c_out, p.stored_h(), p.stored_w()],
        }
        /// The same for 7x7 filters.
        kernel Conv2dSmall7F32 = conv2d_small7_f32 (p: Conv2dParams) {
            launch: conv2d_small(p, 7, false),
            x: *const f32 [p.n, p.c_in, p.h, p.w],
            w: *const f32 [p.c_out, per_group(p.c_in, p.groups), p.kh, p.kw],
            b: *const f32 [p.c_out] if p.has_bias != 0,
            r: *const f32 [p.n, p.c_out, p.h_out, p.w_out] if p.has_residual != 0,
            y: *mut f32 [p.n, p.c_out, p.stored_h(), p.stored_w()],
        }
            /// conv2d_small3_f32 with the 2x2 max pool of its result stored instead (`p.pool == 2`).
kernel Conv2dSmall3PoolF32 = conv2d_small3_pool_f32 (p: Conv2dParams) {
            launch: conv2d_small(p, 3, true),
            x: *const f32 [p.n, p.c_in, p.h, p.w],
            w: *const f32 [p.c_out, per_group(p.c_in, p.groups), p.kh, p.kw],
            b: *const f32 [p.c_out] if p.has_bias != 0,
            r: *const f32 [p.n, p.c_out, p.h_out, p.w_out] if p.has_residual != 0,
            y: *mut f32 [p.n, p.c_out, p.stored_h(), p.stored_w()],
        }
        /// conv2d_small5_f32 with the 2x2 max pool of its result stored instead (`p.pool == 2`).
kernel Conv2dSmall5PoolF32 = conv2d_small5_pool_f32 (p: Conv2dParams) {
            launch: conv2d_small(p, 5, true),
            x: *const f32 [p.n, p.c_in, p.h, p.w],
            w: *const f32 [p.c_out, per_group(p.c_in, p.groups), p.kh, p.kw],
            b: *const f32 [p.c_out] if p.has_bias != 0,
            r: *const f32 [p.n, p.c_out, p.h_out, p.w_out] if p.has_residual != 0,
            y: *mut f32 [p.n, p.c_out, p.stored_h(), p.stored_w()],
        }
        /// conv2d_small7_f32 with the 2x2 max pool of its result stored instead (`p.pool == 2`).
kernel Conv2dSmall7PoolF32 = conv2d_small7_pool_f32 (p: Conv2dParams) {
            launch: conv2d_small(p, 7, true),
            x: *const f32 [p.n, p.c_in, p.h, p.w],
            w: *const f32 [p.c_out, per_group(p.c_in, p.groups), p.kh, p.kw],
            b: *const f32 [p.c_out] if p.has_bias != 0,
            r: *const f32 [p.n, p.c_out, p.h_out, p.w_out] if p.has_residual != 0,
            y: *mut f32 [p.n, p.c_out, p.stored_h(), p.stored_w()],
        }
    }

    module conv2d_depthwise {
        /// Depthwise convolution (one input channel per group), one output pixel per thread,
        /// 32-bit in-plane offsets; residual and relu epilogue as conv2d_f32's.
        kernel Conv2dDepthwiseF32 = conv2d_depthwise_f32 (p: Conv2dParams) {
            launch: conv2d_depthwise(p),
            x: *const f32 [p.n, p.c_in, p.h, p.w],
            w: *const f32 [p.c_out, per_group(p.c_in, p.groups), p.kh, p.kw],
            b: *const f32 [p.c_out] if p.has_bias != 0,
            r: *const f32 [p.n, p.c_out, p.h_out, p.w_out] if p.has_residual != 0,
            y: *mut f32 [p.n, p.c_out, p.stored_h(), p.stored_w()],
        }
    }

    module linear {
        /// Tiled shared-memory SGEMM with a bias and relu epilogue.
        kernel LinearF32 = linear_f32 (p: LinearParams) {
            launch: linear(p),
            x: *const f32 [p.m, p.k],
            w: *const f32 [p.n, p.k],
            b: *const f32 [p.n] if p.has_bias != 0,
            y: *mut f32 [p.m, p.n],
        }
        /// 128 x 128 register-tiled SGEMM (8 x 8 outputs per thread), double-buffered.
        kernel LinearTiledF32 = linear_tiled_f32 (p: LinearParams) {
            launch: linear_tiled(p),
            x: *const f32 [p.m, p.k],
            w: *const f32 [p.n, p.k],
            b: *const f32 [p.n] if p.has_bias != 0,
            y: *mut f32 [p.m, p.n],
        }
        /// Matrix-vector products for at most 8 rows: one warp per output feature.
        kernel LinearGemvF32 = linear_gemv_f32 (p: LinearParams) {
            launch: linear_gemv(p),
            x: *const f32 [p.m, p.k],
            w: *const f32 [p.n, p.k],
            b: *const f32 [p.n] if p.has_bias != 0,
            y: *mut f32 [p.m, p.n],
        }
    }

    module batch_norm {
        /// Inference batch norm, one output element per thread of a grid-stride loop.
        kernel BatchNormF32 = batch_norm_f32 (p: BatchNormParams) {
            launch: grid_stride_product(&[p.n, p.c, p.inner]),
            x: *const f32 [p.n, p.c, p.inner],
            w: *const f32 [p.c] if p.has_weight != 0,
            b: *const f32 [p.c] if p.has_bias != 0,
            mean: *const f32 [p.c],
            var: *const f32 [p.c],
            y: *mut f32 [p.n, p.c, p.inner],
        }
    }

    module avg_pool2d {
        /// 2-D average pooling, one output per thread of a grid-stride loop.
        kernel AvgPool2dF32 = avg_pool2d_f32 (p: AvgPool2dParams) {
            launch: grid_stride_product(&[p.n, p.c, p.h_out, p.w_out]),
            x: *const f32 [p.n, p.c, p.h, p.w],
            y: *mut f32 [p.n, p.c, p.h_out, p.w_out],
        }
        /// 2-D adaptive average pooling, one output per thread of a grid-stride loop.
        kernel AdaptiveAvgPool2dF32 = adaptive_avg_pool2d_f32 (p: AdaptivePool2dParams) {
            launch: grid_stride_product(&[p.n, p.c, p.h_out, p.w_out]),
            x: *const f32 [p.n, p.c, p.h, p.w],
            y: *mut f32 [p.n, p.c, p.h_out, p.w_out],
        }
    }

    module copy {
        /// Strided copy of 1-byte elements, one element per thread of a grid-stride loop.
        kernel CopyB1 = copy_b1 (p: CopyParams) {
            launch: grid_stride(p.n),
            x: *const u8 [p.src_len],
            y: *mut u8 [p.dst_len],
        }
        /// Strided copy of 2-byte elements.
        kernel CopyB2 = copy_b2 (p: CopyParams) {
            launch: grid_stride(p.n),
            x: *const i16 [p.src_len],
            y: *mut i16 [p.dst_len],
        }
        /// Strided copy of 4-byte elements.
        kernel CopyB4 = copy_b4 (p: CopyParams) {
            launch: grid_stride(p.n),
            x: *const i32 [p.src_len],
            y: *mut i32 [p.dst_len],
        }
        /// Strided copy of 8-byte elements.
        kernel CopyB8 = copy_b8 (p: CopyParams) {
            launch: grid_stride(p.n),
            x: *const i64 [p.src_len],
            y: *mut i64 [p.dst_len],
        }
        /// Fill of 1-byte elements, one element per thread of a grid-stride loop.
        kernel FillB1 = fill_b1 (p: FillParams) {
            launch: grid_stride(p.n),
            y: *mut u8 [p.n],
        }
        /// Fill of 2-byte elements.
        kernel FillB2 = fill_b2 (p: FillParams) {
            launch: grid_stride(p.n),
            y: *mut i16 [p.n],
        }
        /// Fill of 4-byte elements.
        kernel FillB4 = fill_b4 (p: FillParams) {
            launch: grid_stride(p.n),
            y: *mut i32 [p.n],
        }
        /// Fill of 8-byte elements.
        kernel FillB8 = fill_b8 (p: FillParams) {
            launch: grid_stride(p.n),
            y: *mut i64 [p.n],
        }
    }

    module softmax {
        /// softmax or log_softmax, one reduced line per thread of a grid-stride loop.
        kernel SoftmaxF32 = softmax_f32 (p: SoftmaxParams) {
            launch: grid_stride_product(&[p.outer, p.inner]),
            x: *const f32 [p.outer, p.dim, p.inner],
            y: *mut f32 [p.outer, p.dim, p.inner],
        }
    }

    module argmax {
        /// The index of the first maximum of each line (a NaN counts as the maximum), one line
        /// per thread of a grid-stride loop; `p.log` is unused.
        kernel ArgmaxF32 = argmax_f32 (p: SoftmaxParams) {
            launch: grid_stride_product(&[p.outer, p.inner]),
            x: *const f32 [p.outer, p.dim, p.inner],
            y: *mut i64 [p.outer, p.inner],
        }
    }

    module reduce {
        /// Means of contiguous lines, one line per thread of a grid-stride loop.
        kernel MeanF32 = mean_f32 (p: MeanParams) {
            launch: grid_stride(p.rows),
            x: *const f32 [p.rows, p.len],
            y: *mut f32 [p.rows],
        }
        /// layer_norm, one row per thread of a grid-stride loop.
        kernel LayerNormF32 = layer_norm_f32 (p: LayerNormParams) {
            launch: grid_stride(p.rows),
            x: *const f32 [p.rows, p.len],
            w: *const f32 [p.len] if p.has_weight != 0,
            b: *const f32 [p.len] if p.has_bias != 0,
            y: *mut f32 [p.rows, p.len],
        }
    }
}
