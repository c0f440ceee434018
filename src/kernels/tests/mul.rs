//! mul, add with alpha, and the tensor-with-scalar kernel through the emulator, bit for bit
//! against the CPU ops (one IEEE operation, or one fused multiply-add, per element), over every
//! broadcast pattern of `add.rs`, with specials and a grid far below the launch shape's.

use super::add::SHAPES;
use super::closeness::{assert_close, Tol};
use super::rng::Rng;
use super::{run, EmuArg};
use crate::kernels::{AddF32, BroadcastParams, MulF32, ScalarArithF32, ScalarArithParams};
use crate::ops::{add_scalar, add_scaled, mul, mul_scalar};
use crate::tensor::Tensor;

#[test]
fn mul_and_add_scaled_match_cpu_bit_for_bit() {
    let mut rng = Rng::new(19);
    for (sa, sb) in SHAPES {
        let na: usize = sa.iter().product();
        let nb: usize = sb.iter().product();
        let (x, y) = (rng.vec_with_specials(na, 5), rng.vec_with_specials(nb, 5));
        let xt = Tensor::from_slice(&x, sa).unwrap();
        let yt = Tensor::from_slice(&y, sb).unwrap();
        let (p, _) = BroadcastParams::new("mul", sa, sb, false).unwrap();
        // 0.1 rounds when converted to float32; 1e30 overflows products to inf.
        for (alpha, what) in [(None, "mul"), (Some(0.1), "add"), (Some(-1e30), "add")] {
            let (want, p) = match alpha {
                None => (mul(&xt, &yt).unwrap(), p),
                Some(a) => {
                    let mut q = p;
                    q.alpha = f64::to_bits(a).cast_signed();
                    (add_scaled(&xt, &yt, a).unwrap(), q)
                }
            };
            let want = want.to_vec::<f32>().unwrap();
            for grid in [None, Some([3, 1, 1])] {
                let mut out = vec![f32::from_bits(0x7fc0_dead); want.len()];
                let args = &mut [EmuArg::In(&x), EmuArg::In(&y), EmuArg::Out(&mut out)];
                match alpha {
                    None => run::<MulF32>(&p, grid, args),
                    Some(_) => run::<AddF32>(&p, grid, args),
                }
                .unwrap();
                let ctx = format!("{what} {sa:?} {sb:?} alpha {alpha:?} grid {grid:?}");
                assert_close(&ctx, &out, &want, Tol::Bits);
            }
        }
    }
}

#[test]
fn scalar_arith_matches_cpu_bit_for_bit() {
    let mut rng = Rng::new(29);
    for n in [0usize, 1, 255, 1000] {
        let x = rng.vec_with_specials(n, 4);
        let xt = Tensor::from_slice(&x, &[n]).unwrap();
        for s in [0.1, -2.5, 0.0, -0.0, f64::INFINITY, f64::NAN, 1e300] {
            for op in [0i64, 1] {
                let want = if op == 0 {
                    add_scalar(&xt, s)
                } else {
                    mul_scalar(&xt, s)
                };
                let want = want.unwrap().to_vec::<f32>().unwrap();
                let p = ScalarArithParams {
                    n: i64::try_from(n).unwrap(),
                    op,
                    s: s.to_bits().cast_signed(),
                };
                for grid in [None, Some([2, 1, 1])] {
                    let mut y = vec![f32::from_bits(0x7fc0_dead); n];
                    run::<ScalarArithF32>(&p, grid, &mut [EmuArg::In(&x), EmuArg::Out(&mut y)])
                        .unwrap();
                    let ctx = format!("op {op} s {s} n {n} grid {grid:?}");
                    assert_close(&ctx, &y, &want, Tol::Bits);
                }
            }
        }
    }
}
