//! Every op on each GPU against the CPU op (the reference that is itself checked against
//! PyTorch), under a stated tolerance; operands on mixed devices or of other dtypes are typed
//! errors. Bodies are `fn(&Device)`, expanded per GPU by `gpu_tests!` (skipped, with a printed
//! message, when there is none; `TENSORPORT_REQUIRE_CUDA=1` makes that a failure).

#[macro_use]
mod common;

use tensorport::nn::{Module, Net};
use tensorport::ops::{conv2d, Conv2dArgs};
use tensorport::ops::{linear, linear_relu};
use tensorport::ops::{max_pool2d, MaxPool2dArgs};
use tensorport::ops::{relu, relu_};
use tensorport::{Device, Error, Tensor};

use bodies::*;

gpu_tests!(
    relu_matches_cpu,
    max_pool2d_matches_cpu,
    conv2d_matches_cpu,
    linear_matches_cpu,
    mixed_devices_are_refused,
    relu_in_place_follows_the_cpu_rules,
    net_forward_matches_cpu,
);

/// The GPU test bodies, one `fn(&Device)` each.
mod bodies {
    use super::*;
    use crate::common::closeness::{assert_close, Tol};
    use crate::common::rng::Rng;

    pub fn relu_matches_cpu(dev: &Device) {
        for shape in [vec![7usize], vec![2, 3, 33, 17], vec![1 << 20]] {
            let n: usize = shape.iter().product();
            let mut v = Rng::new(11).vec_scaled(n, 2.0);
            v[0] = f32::NAN;
            v[n / 2] = -0.0;
            let x = Tensor::from_vec(v, &shape).unwrap();
            let want = relu(&x).unwrap().to_vec::<f32>().unwrap();
            let got = relu(&x.to(dev).unwrap()).unwrap();
            assert_eq!(got.device(), *dev);
            assert_eq!(got.shape(), &shape[..]);
            let got = got.to(&Device::Cpu).unwrap().to_vec::<f32>().unwrap();
            assert_close(&format!("relu {shape:?}"), &got, &want, Tol::Exact);
        }
        // f32 only on the GPU: a typed dtype error for others.
        let xi = Tensor::from_vec(vec![1i64, -1], &[2])
            .unwrap()
            .to(dev)
            .unwrap();
        assert!(matches!(relu(&xi), Err(Error::DType { .. })));
    }

    pub fn max_pool2d_matches_cpu(dev: &Device) {
        let cases = [
            (vec![2usize, 3, 16, 16], MaxPool2dArgs::new(2)),
            (
                vec![1, 4, 13, 11],
                MaxPool2dArgs {
                    kernel: [3, 2],
                    stride: Some([2, 1]),
                    padding: [1, 1],
                    dilation: [1, 2],
                    ceil_mode: true,
                },
            ),
            (vec![3, 9, 9], MaxPool2dArgs::new(3)),
        ];
        for (shape, args) in cases {
            let n: usize = shape.iter().product();
            let mut v = Rng::new(5).vec_scaled(n, 2.0);
            v[n / 3] = f32::NAN;
            let x = Tensor::from_vec(v, &shape).unwrap();
            let want = max_pool2d(&x, &args).unwrap();
            let got = max_pool2d(&x.to(dev).unwrap(), &args).unwrap();
            assert_eq!(got.device(), *dev);
            assert_eq!(got.shape(), want.shape());
            let got = got.to(&Device::Cpu).unwrap().to_vec::<f32>().unwrap();
            let want = want.to_vec::<f32>().unwrap();
            assert_close(
                &format!("max_pool2d {shape:?} {args:?}"),
                &got,
                &want,
                Tol::Exact,
            );
        }
    }

    pub fn conv2d_matches_cpu(dev: &Device) {
        let cases = [
            (
                [1usize, 1, 32, 32],
                [6usize, 1, 5, 5],
                true,
                Conv2dArgs::default(),
            ),
            ([2, 6, 14, 14], [16, 6, 5, 5], true, Conv2dArgs::default()),
            (
                [2, 4, 11, 9],
                [6, 2, 3, 2],
                false,
                Conv2dArgs {
                    stride: [2, 1],
                    padding: [1, 2],
                    dilation: [2, 1],
                    groups: 2,
                },
            ),
            (
                [4, 64, 28, 28],
                [64, 64, 3, 3],
                true,
                Conv2dArgs {
                    padding: [1, 1],
                    ..Conv2dArgs::default()
                },
            ),
            // Depthwise (one input channel per group), MobileNet's stride-2 3x3, and with a
            // channel multiplier of 2.
            (
                [2, 32, 15, 15],
                [32, 1, 3, 3],
                true,
                Conv2dArgs {
                    stride: [2, 2],
                    padding: [1, 1],
                    groups: 32,
                    ..Conv2dArgs::default()
                },
            ),
            (
                [1, 8, 10, 9],
                [16, 1, 5, 5],
                false,
                Conv2dArgs {
                    padding: [2, 2],
                    groups: 8,
                    ..Conv2dArgs::default()
                },
            ),
            // The implicit GEMM with two groups of 32 channels, stride 2.
            (
                [1, 64, 9, 9],
                [64, 32, 3, 3],
                false,
                Conv2dArgs {
                    stride: [2, 2],
                    padding: [1, 1],
                    groups: 2,
                    ..Conv2dArgs::default()
                },
            ),
        ];
        for (i, (xs, ws, has_bias, args)) in cases.into_iter().enumerate() {
            let x = Tensor::from_vec(
                Rng::new(20 + i as u64).vec_scaled(xs.iter().product(), 2.0),
                &xs,
            )
            .unwrap();
            let w = Tensor::from_vec(
                Rng::new(40 + i as u64).vec_scaled(ws.iter().product(), 2.0),
                &ws,
            )
            .unwrap();
            let b =
                Tensor::from_vec(Rng::new(60 + i as u64).vec_scaled(ws[0], 2.0), &[ws[0]]).unwrap();
            let b = has_bias.then_some(&b);
            let want = conv2d(&x, &w, b, &args).unwrap();
            let (gx, gw) = (x.to(dev).unwrap(), w.to(dev).unwrap());
            let gb = b.map(|b| b.to(dev).unwrap());
            let got = conv2d(&gx, &gw, gb.as_ref(), &args).unwrap();
            assert_eq!(got.device(), *dev);
            assert_eq!(got.shape(), want.shape());
            let got = got.to(&Device::Cpu).unwrap().to_vec::<f32>().unwrap();
            let want = want.to_vec::<f32>().unwrap();
            // Sums of `taps` products of values in [-2, 2) in another order: f32 reassociation
            // error grows about like the number of terms.
            let taps = (ws[1] * ws[2] * ws[3]) as f32;
            let what = format!("conv2d {xs:?} {ws:?} {args:?}");
            assert_close(
                &what,
                &got,
                &want,
                Tol::AbsRel {
                    atol: f64::from(1e-6 * taps + 1e-5),
                    rtol: 1e-4,
                },
            );
        }
    }

    pub fn linear_matches_cpu(dev: &Device) {
        for (m, k, n) in [
            (1usize, 120usize, 84usize),
            (1, 84, 10),
            (64, 256, 100),
            (3, 1000, 33),
            // One case per kernel besides the GEMV's above: the general tile (9..64 rows) and
            // the 128x128 register tile with partial tiles on both sides.
            (20, 100, 70),
            (130, 33, 129),
        ] {
            let x = Tensor::from_vec(Rng::new(m as u64).vec_scaled(m * k, 2.0), &[m, k]).unwrap();
            let w = Tensor::from_vec(Rng::new(k as u64).vec_scaled(n * k, 2.0), &[n, k]).unwrap();
            let b = Tensor::from_vec(Rng::new(n as u64).vec_scaled(n, 2.0), &[n]).unwrap();
            let (gx, gw, gb) = (x.to(dev).unwrap(), w.to(dev).unwrap(), b.to(dev).unwrap());
            for relu_too in [false, true] {
                for bias in [None, Some((&b, &gb))] {
                    let f = if relu_too { linear_relu } else { linear };
                    let want = f(&x, &w, bias.map(|p| p.0)).unwrap();
                    let got = f(&gx, &gw, bias.map(|p| p.1)).unwrap();
                    assert_eq!(got.device(), *dev);
                    assert_eq!(got.shape(), want.shape());
                    let got = got.to(&Device::Cpu).unwrap().to_vec::<f32>().unwrap();
                    let want = want.to_vec::<f32>().unwrap();
                    let what = format!(
                        "linear m{m} k{k} n{n} relu={relu_too} bias={}",
                        bias.is_some()
                    );
                    assert_close(
                        &what,
                        &got,
                        &want,
                        Tol::AbsRel {
                            atol: f64::from(1e-6 * k as f32 + 1e-5),
                            rtol: 1e-4,
                        },
                    );
                }
            }
        }
        // Leading dims fold into m.
        let x = Tensor::from_vec(Rng::new(1).vec_scaled(2 * 3 * 8, 2.0), &[2, 3, 8]).unwrap();
        let w = Tensor::from_vec(Rng::new(2).vec_scaled(5 * 8, 2.0), &[5, 8]).unwrap();
        let got = linear(&x.to(dev).unwrap(), &w.to(dev).unwrap(), None).unwrap();
        assert_eq!(got.shape(), &[2, 3, 5]);
    }

    pub fn mixed_devices_are_refused(dev: &Device) {
        let x = Tensor::from_vec(Rng::new(1).vec_scaled(2 * 8, 2.0), &[2, 8]).unwrap();
        let w = Tensor::from_vec(Rng::new(2).vec_scaled(4 * 8, 2.0), &[4, 8]).unwrap();
        let gx = x.to(dev).unwrap();
        assert!(matches!(
            linear(&gx, &w, None),
            Err(Error::DeviceMismatch { .. })
        ));
        assert!(matches!(
            linear(&x, &w.to(dev).unwrap(), None),
            Err(Error::DeviceMismatch { .. })
        ));
        let img = Tensor::from_vec(Rng::new(3).vec_scaled(3 * 8 * 8, 2.0), &[1, 3, 8, 8]).unwrap();
        let k =
            Tensor::from_vec(Rng::new(4).vec_scaled(2 * 3 * 3 * 3, 2.0), &[2, 3, 3, 3]).unwrap();
        let b = Tensor::from_vec(vec![0.5f32, -0.5], &[2]).unwrap();
        let r = conv2d(
            &img.to(dev).unwrap(),
            &k.to(dev).unwrap(),
            Some(&b),
            &Conv2dArgs::default(),
        );
        assert!(
            matches!(r, Err(Error::DeviceMismatch { .. })),
            "bias on the host"
        );
        // f64 has no CUDA kernel: a typed dtype error.
        let x64 = Tensor::from_vec(vec![1f64; 16], &[2, 8])
            .unwrap()
            .to(dev)
            .unwrap();
        let w64 = Tensor::from_vec(vec![1f64; 32], &[4, 8])
            .unwrap()
            .to(dev)
            .unwrap();
        assert!(matches!(linear(&x64, &w64, None), Err(Error::DType { .. })));
    }

    pub fn relu_in_place_follows_the_cpu_rules(dev: &Device) {
        let host = Tensor::from_vec(Rng::new(3).vec_scaled(1000, 2.0), &[10, 100]).unwrap();
        let mut t = host.to(dev).unwrap().with_requires_grad(true);
        relu_(&mut t).unwrap();
        assert_eq!(
            (t.device(), t.shape(), t.requires_grad()),
            (*dev, &[10usize, 100][..], true)
        );
        let got = t.to(&Device::Cpu).unwrap().to_vec::<f32>().unwrap();
        assert_close(
            "relu_",
            &got,
            &relu(&host).unwrap().to_vec::<f32>().unwrap(),
            Tol::Exact,
        );
        // A storage another tensor sees is refused, as on the CPU.
        let mut shared = t.clone();
        assert!(matches!(
            relu_(&mut shared),
            Err(Error::InvalidArgument { .. })
        ));
    }

    pub fn net_forward_matches_cpu(dev: &Device) {
        let cpu_net = Net::new(7).unwrap();
        let mut net = cpu_net.clone();
        net.visit_mut(&mut |name, _, t| {
            *t = t.to(dev).unwrap_or_else(|e| panic!("{name}: {e}"));
        });
        for batch in [1usize, 16] {
            let x = Tensor::from_vec(
                Rng::new(batch as u64).vec_scaled(batch * 3 * 32 * 32, 2.0),
                &[batch, 3, 32, 32],
            )
            .unwrap();
            let want = cpu_net.forward(&x).unwrap();
            let got = net.forward(&x.to(dev).unwrap()).unwrap();
            assert_eq!((got.device(), got.shape()), (*dev, want.shape()));
            let got = got.to(&Device::Cpu).unwrap().to_vec::<f32>().unwrap();
            let want = want.to_vec::<f32>().unwrap();
            assert_close(
                &format!("Net forward, batch {batch}"),
                &got,
                &want,
                Tol::AbsRel {
                    atol: 1e-4,
                    rtol: 1e-3,
                },
            );
        }
    }
}

cuda_configs!();
