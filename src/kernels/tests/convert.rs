//! The conversion kernels through the emulator against the CPU op (the `half` crate, Rust's
//! `as`), bit for bit including NaN payloads: every float16 and bfloat16 value widened, and
//! float32 values narrowed at every rounding boundary that matters (ties both ways, the
//! overflow threshold, every subnormal shift), with a grid far below the launch shape's.

use half::{bf16, f16};

use super::rng::Rng;
use super::{run, EmuArg};
use crate::dtype::{DType, Element};
use crate::kernels::{
    ConvertBf16F32, ConvertF16F32, ConvertF32Bf16, ConvertF32F16, ConvertF32F64, ConvertF64F32,
    EltwiseParams, KernelDef,
};
use crate::tensor::Tensor;

/// Runs kernel `K` over `x` in the emulator; `D` is its output element type.
fn emu<K: KernelDef<Params = EltwiseParams>, S: Element, D: Element>(
    x: &[S],
    grid: Option<[u32; 3]>,
) -> Vec<D> {
    let p = EltwiseParams {
        n: i64::try_from(x.len()).unwrap(),
    };
    let mut y = vec![D::zeroed(); x.len()];
    let args = &mut [
        EmuArg::InRaw(bytemuck::cast_slice(x)),
        EmuArg::OutRaw(bytemuck::cast_slice_mut(&mut y)),
    ];
    run::<K>(&p, grid, args).unwrap();
    y
}

/// The CPU op's result, as the bits of its elements.
fn cpu<S: Element, D: Element>(x: &[S], to: DType) -> Vec<D> {
    let t = Tensor::from_slice(x, &[x.len()]).unwrap();
    t.to_dtype(to).unwrap().to_vec::<D>().unwrap()
}

fn same_bits<T: Element>(what: &str, got: &[T], want: &[T]) {
    let (g, w): (&[u8], &[u8]) = (bytemuck::cast_slice(got), bytemuck::cast_slice(want));
    let size = std::mem::size_of::<T>();
    if let Some(i) = (0..got.len()).find(|&i| g[i * size..][..size] != w[i * size..][..size]) {
        panic!(
            "{what}: element {i} differs: {:02x?} vs {:02x?}",
            &g[i * size..][..size],
            &w[i * size..][..size]
        );
    }
}

/// float32 values around every boundary of a narrowing to `mantissa_bits` kept bits: each
/// exponent's values with the dropped bits at 0, just below half, half, just above half, and
/// all ones, for both an even and an odd kept value; plus specials and random bit patterns.
fn narrowing_inputs(dropped: u32) -> Vec<f32> {
    let half = 1u32 << (dropped - 1);
    let mut bits = Vec::new();
    for exp in 0u32..=255 {
        for kept_odd in [0u32, 1] {
            for rest in [0, 1, half - 1, half, half + 1, (1 << dropped) - 1] {
                for sign in [0u32, 0x8000_0000] {
                    // A mantissa with the kept low bit set or not and `rest` below it.
                    let m = ((0x5a5a_5a5a_u32 >> dropped) << dropped) & 0x7f_ffff;
                    let m = (m & !(1 << dropped)) | (kept_odd << dropped) | rest;
                    bits.push(sign | (exp << 23) | (m & 0x7f_ffff));
                }
            }
        }
    }
    let mut rng = Rng::new(41);
    bits.extend((0..20_000).map(|_| rng.next_u64() as u32));
    let mut x: Vec<f32> = bits.into_iter().map(f32::from_bits).collect();
    // float16's overflow threshold and the subnormal range's boundaries.
    x.extend([
        65504.0,
        65519.996,
        65520.0,
        65536.0,
        2f32.powi(-24),
        2f32.powi(-25),
    ]);
    x.extend([
        2f32.powi(-25) * 1.0000001,
        2f32.powi(-14),
        2f32.powi(-14) * 0.99999994,
    ]);
    x
}

#[test]
fn widening_every_16_bit_value_matches_cpu() {
    let all: Vec<u16> = (0..=u16::MAX).collect();
    let h: Vec<f16> = all.iter().map(|&b| f16::from_bits(b)).collect();
    let b: Vec<bf16> = all.iter().map(|&b| bf16::from_bits(b)).collect();
    for grid in [None, Some([3, 1, 1])] {
        let got = emu::<ConvertF16F32, f16, f32>(&h, grid);
        same_bits("float16 -> float32", &got, &cpu::<f16, f32>(&h, DType::F32));
        let got = emu::<ConvertBf16F32, bf16, f32>(&b, grid);
        same_bits(
            "bfloat16 -> float32",
            &got,
            &cpu::<bf16, f32>(&b, DType::F32),
        );
    }
}

#[test]
fn narrowing_matches_cpu_at_every_rounding_boundary() {
    for grid in [None, Some([2, 1, 1])] {
        let x = narrowing_inputs(13);
        let got = emu::<ConvertF32F16, f32, f16>(&x, grid);
        same_bits("float32 -> float16", &got, &cpu::<f32, f16>(&x, DType::F16));
        // float16's subnormals drop 14 to 24 bits: cover every shift.
        for dropped in 14..=24 {
            let x = narrowing_inputs(dropped);
            let got = emu::<ConvertF32F16, f32, f16>(&x, grid);
            let what = format!("float32 -> float16 dropping {dropped} bits");
            same_bits(&what, &got, &cpu::<f32, f16>(&x, DType::F16));
        }
        let x = narrowing_inputs(16);
        let got = emu::<ConvertF32Bf16, f32, bf16>(&x, grid);
        same_bits(
            "float32 -> bfloat16",
            &got,
            &cpu::<f32, bf16>(&x, DType::BF16),
        );
        let got = emu::<ConvertF32F64, f32, f64>(&x, grid);
        same_bits("float32 -> float64", &got, &cpu::<f32, f64>(&x, DType::F64));
        let mut rng = Rng::new(43);
        let mut d: Vec<f64> = (0..20_000)
            .map(|_| f64::from_bits(rng.next_u64()))
            .collect();
        d.extend(x.iter().map(|&v| f64::from(v) * (1.0 + f64::EPSILON)));
        d.extend([
            f64::MAX,
            3.4028235677973366e38,
            3.4028235677973362e38,
            1e-46,
            7e-46,
        ]);
        let got = emu::<ConvertF64F32, f64, f32>(&d, grid);
        same_bits("float64 -> float32", &got, &cpu::<f64, f32>(&d, DType::F32));
    }
}
