//! The add kernel through the emulator, bit for bit against the CPU op, over every broadcast
//! pattern the params express (same shape, bias, channel, both sides, 0-d, 8 dims), with
//! specials, relu fused and not, and a grid far below the launch shape's.

use super::closeness::{assert_close, Tol};
use super::rng::Rng;
use super::{run, EmuArg};
use crate::kernels::{AddF32, BroadcastParams};
use crate::ops::{add, add_relu};
use crate::tensor::Tensor;

/// Every broadcast pattern the params express (mul.rs runs them too).
pub(super) const SHAPES: [(&[usize], &[usize]); 10] = [
    (&[2, 3, 5, 7], &[2, 3, 5, 7]),
    (&[4, 6, 9], &[9]),
    (&[2, 5, 4, 3], &[5, 1, 1]),
    (&[3, 4], &[]),
    (&[], &[3, 4]),
    (&[4, 1, 6], &[1, 5, 1]),
    (&[1, 3, 4, 4], &[2, 3, 4, 4]),
    (&[], &[]),
    (&[2, 1, 2, 1, 2, 1, 2, 3], &[1, 2, 1, 2, 1, 2, 1, 3]),
    (&[300, 257], &[300, 257]),
];

#[test]
fn add_matches_cpu_bit_for_bit() {
    let mut rng = Rng::new(9);
    for (sa, sb) in SHAPES {
        let na: usize = sa.iter().product();
        let nb: usize = sb.iter().product();
        let (x, y) = (rng.vec_with_specials(na, 5), rng.vec_with_specials(nb, 5));
        let (xt, yt) = (
            Tensor::from_slice(&x, sa).unwrap(),
            Tensor::from_slice(&y, sb).unwrap(),
        );
        for relu in [false, true] {
            let (p, shape) = BroadcastParams::new("add", sa, sb, relu).unwrap();
            let op = if relu { add_relu } else { add };
            let want = op(&xt, &yt).unwrap().to_vec::<f32>().unwrap();
            assert_eq!(want.len(), shape.iter().product::<usize>());
            for grid in [None, Some([3, 1, 1])] {
                let mut out = vec![f32::from_bits(0x7fc0_dead); want.len()];
                run::<AddF32>(
                    &p,
                    grid,
                    &mut [EmuArg::In(&x), EmuArg::In(&y), EmuArg::Out(&mut out)],
                )
                .unwrap();
                let what = format!("add {sa:?} + {sb:?} relu={relu} grid {grid:?}");
                assert_close(&what, &out, &want, Tol::Bits);
            }
        }
    }
}
