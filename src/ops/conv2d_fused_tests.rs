//! The fused epilogue changes no bit: `conv2d_fused(x, w, b, residual, act)` against
//! `conv2d`, then `add`, then the activation as separate ops, on every CPU path (direct,
//! depthwise, Winograd, one image split by positions and by channels, batches split by images) and
//! every instruction set this CPU has.

use super::{conv2d, conv2d_fused, Conv2dArgs};
use crate::cpu::epilogue::Act;
use crate::cpu::{set_cpu_capability, set_num_threads, CpuCapability};
use crate::ops::activation::{run as activation, Activation};
use crate::ops::{add, relu, GeluApproximate};
use crate::tensor::Tensor;

fn filled(shape: &[usize], seed: u32) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(2654435761) | 1;
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 4001) as f32 / 1000.0 - 2.0
        })
        .collect();
    Tensor::from_vec(v, shape).unwrap()
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn every_path_and_epilogue_equals_the_unfused_ops_bit_for_bit() {
    let _path = crate::cpu::isa::capability_test_lock();
    // (input, weight, stride, padding, groups): the path each takes is named.
    type Case = ([usize; 4], [usize; 4], usize, usize, usize);
    let cases: [Case; 8] = [
        ([1, 3, 20, 20], [6, 3, 5, 5], 1, 0, 1),    // direct
        ([1, 32, 30, 30], [32, 1, 3, 3], 1, 1, 32), // depthwise
        ([1, 15, 40, 40], [48, 15, 3, 3], 1, 1, 1), // one image, by positions
        ([1, 512, 4, 4], [64, 512, 3, 3], 2, 1, 1), // one image, by channels
        ([1, 64, 20, 20], [48, 64, 1, 1], 1, 0, 1), // pointwise, by channels
        ([4, 16, 20, 20], [32, 16, 3, 3], 2, 1, 1), // by images
        ([1, 32, 40, 40], [48, 32, 3, 3], 1, 1, 1), // winograd, one image in tile blocks
        ([3, 19, 13, 7], [33, 19, 3, 3], 1, 0, 1),  // winograd, odd sizes, partial tiles
    ];
    let acts = [
        None,
        Some(Act::Relu),
        Some(Act::Other(Activation::Hardtanh {
            min_val: 0.0,
            max_val: 6.0,
        })),
        Some(Act::Other(Activation::Silu)),
        Some(Act::Other(Activation::Sigmoid)),
        Some(Act::Other(Activation::Hardswish)),
        Some(Act::Other(Activation::Gelu(GeluApproximate::Tanh))),
    ];
    // The Winograd path is off by default; these cases must take it.
    crate::cpu::conv2d::winograd::set_enabled(Some(true));
    for cap in CpuCapability::ALL.into_iter().filter(|c| c.supported()) {
        set_cpu_capability(Some(cap)).unwrap();
        for threads in [1, 2] {
            set_num_threads(threads).unwrap();
            for (i, (xs, ws, s, p, g)) in cases.iter().enumerate() {
                let x = filled(xs, i as u32 + 1);
                let w = filled(ws, i as u32 + 7);
                let b = filled(&[ws[0]], i as u32 + 13);
                let args = Conv2dArgs {
                    stride: [*s, *s],
                    padding: [*p, *p],
                    dilation: [1, 1],
                    groups: *g,
                };
                let y = conv2d(&x, &w, Some(&b), &args).unwrap();
                let r = filled(y.shape(), i as u32 + 17);
                for act in acts {
                    for with_residual in [false, true] {
                        let res = with_residual.then_some(&r);
                        let got = conv2d_fused(&x, &w, Some(&b), &args, res, act).unwrap();
                        let sum = match res {
                            Some(r) => add(&y, r).unwrap(),
                            None => y.clone(),
                        };
                        let want = match act {
                            None => sum,
                            Some(Act::Relu) => relu(&sum).unwrap(),
                            Some(Act::Other(a)) => activation(a, &sum).unwrap(),
                        };
                        assert_eq!(
                            bits(&got),
                            bits(&want),
                            "case {i} {act:?} residual={with_residual} on {cap}, {threads} threads"
                        );
                    }
                }
            }
        }
    }
    set_cpu_capability(None).unwrap();
    set_num_threads(0).unwrap();
    crate::cpu::conv2d::winograd::set_enabled(None);
}
