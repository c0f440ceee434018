//! The throughput linear kernels through the emulator, linear_tiled_f32 and linear_gemv_f32
//! (`conv.rs` has the convolutions), against the naive f64 reference and the CPU ops with
//! `gemm.rs`'s summation-order tolerance (same derivation: each kernel adds the same K products
//! in its own order), and against themselves on a one-block grid (the tile loops must stride
//! over the rest). The shapes sit on and around every edge the kernels have: 128-wide tiles
//! (127, 128, 129, 130 rows or columns), 8-deep K steps (K = 0, 1, 7, 8, 9, 45); for the GEMV
//! every row count 1..=8 and K around its 32- and 128-wide strides.

use super::closeness::{assert_close, Tol};
use super::gemm::{bias_arg, linear_cpu, linear_ref, tolerance};
use super::rng::Rng;
use super::{run, EmuArg};
use crate::kernels::shapes::{linear_kernel, LinearKernel};
use crate::kernels::{KernelDef, LinearGemvF32, LinearParams, LinearTiledF32};

/// Runs a linear-shaped kernel `K` in the emulator.
fn linear_run<K: KernelDef<Params = LinearParams>>(
    p: &LinearParams,
    grid: Option<[u32; 3]>,
    x: &[f32],
    w: &[f32],
    b: &[f32],
) -> Result<Vec<f32>, String> {
    let mut y = vec![f32::NAN; (p.m * p.n) as usize];
    let mut args = [
        EmuArg::In(x),
        EmuArg::In(w),
        bias_arg(p.has_bias, b),
        EmuArg::Out(&mut y),
    ];
    run::<K>(p, grid, &mut args)?;
    Ok(y)
}

/// Every bias/relu combination of `K` on `shapes`, against the reference and the CPU op, and on
/// a one-block grid.
fn linear_cases<K: KernelDef<Params = LinearParams>>(
    name: &str,
    seed: u64,
    shapes: &[(usize, usize, usize)],
    kernel: Option<LinearKernel>,
) {
    let mut rng = Rng::new(seed);
    for &(m, k, n) in shapes {
        for (bias, relu) in [(true, false), (false, false), (true, true), (false, true)] {
            let p = LinearParams::new(&[m, k], &[n, k], bias.then_some(&[n][..]), relu).unwrap();
            if let Some(kernel) = kernel {
                assert_eq!(linear_kernel(&p), kernel, "{name} {p:?}: host's choice");
            }
            let x = rng.vec(m * k);
            let w = rng.vec(n * k);
            let b = if bias { rng.vec(n) } else { Vec::new() };
            let (want, mag) = linear_ref(&p, &x, &w, bias.then_some(&b[..]));
            let y = linear_run::<K>(&p, None, &x, &w, &b).unwrap();
            let what = format!("{name} {p:?}");
            let tol = tolerance(k, &mag);
            assert_close(
                &format!("{what} vs f64 reference"),
                &y,
                &want,
                Tol::Each(&tol),
            );
            let cpu = linear_cpu(m, k, n, &x, &w, bias.then_some(&b[..]), relu);
            assert_close(&format!("{what} vs CPU op"), &y, &cpu, Tol::Each(&tol));
            let y_small = linear_run::<K>(&p, Some([1, 1, 1]), &x, &w, &b).unwrap();
            assert_eq!(
                y, y_small,
                "{what}: grid [1, 1, 1] differs from the launch shape's"
            );
        }
    }
}

#[test]
fn linear_tiled_matches_reference_and_cpu_op() {
    linear_cases::<LinearTiledF32>(
        "linear_tiled",
        12,
        &[
            (64, 8, 64),
            (128, 16, 128),
            (127, 9, 129),
            (130, 7, 200),
            (257, 1, 64),
            (64, 0, 65),
            (70, 45, 300),
            (256, 256, 256),
        ],
        Some(LinearKernel::Tiled),
    );
}

#[test]
fn linear_gemv_matches_reference_and_cpu_op() {
    let mut shapes = Vec::new();
    for m in 1..=8 {
        shapes.push((m, 97, 9));
    }
    for k in [0, 1, 31, 32, 33, 127, 128, 129, 160, 1000] {
        shapes.push((3, k, 17));
    }
    shapes.push((1, 4099, 84));
    shapes.push((8, 513, 1));
    shapes.push((0, 5, 3));
    // Not chosen by the host yet (shapes.rs linear_kernel says why), so no choice to check.
    linear_cases::<LinearGemvF32>("linear_gemv", 13, &shapes, None);
}

#[test]
fn linear_gemv_refuses_more_than_eight_rows() {
    let p = LinearParams::new(&[9, 4], &[3, 4], None, false).unwrap();
    let (x, w) = (vec![0.0; 36], vec![0.0; 12]);
    let err = linear_run::<LinearGemvF32>(&p, None, &x, &w, &[]).unwrap_err();
    assert!(err.contains("at most 8 rows"), "{err}");
}
