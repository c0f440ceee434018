//! The recipe Net planned on a GPU (`Net::cuda_plan`): buffers allocated once, the forward
//! captured into a CUDA graph and replayed. Its logits must be bit for bit those of
//! `Net::forward` on the same device (same kernels, same order), from host or device input, for
//! every input it is given after the capture (a replay must read the refilled input, not the
//! one captured). On the driver double, in a process of its own (the call counters are
//! per process): a steady-state forward allocates nothing and launches no kernel itself (one
//! graph launch). (The double's own tests, `kernels/emu/tests/driver_launch.rs`, check that a
//! capture which tries anything but launches is refused.)

#[macro_use]
mod common;

use common::gpu::{double, isolated};
use common::rng::Rng;
use tensorport::nn::{Module, Net};
use tensorport::{Device, Error, Tensor};

use bodies::*;

gpu_tests!(
    plan_matches_forward_bit_for_bit,
    pipelined_batches_match_one_at_a_time,
    plan_refuses_what_it_cannot_run,
);

mod bodies {
    use super::*;

    pub fn bits(t: &Tensor) -> Vec<u32> {
        let v = t.to(&Device::Cpu).unwrap().to_vec::<f32>().unwrap();
        v.iter().map(|f| f.to_bits()).collect()
    }

    pub fn gpu_net(dev: &Device) -> Net {
        let mut net = Net::new(3).unwrap();
        net.to_device(dev).unwrap();
        net
    }

    pub fn plan_matches_forward_bit_for_bit(dev: &Device) {
        let net = gpu_net(dev);
        for batch in [1usize, 5] {
            let mut plan = net.cuda_plan(batch).unwrap();
            assert_eq!((plan.batch(), plan.device()), (batch, *dev));
            for round in 0..3u64 {
                let n = batch * 3 * 32 * 32;
                let host = Rng::new(100 + round).vec_scaled(n, 2.0);
                let x = Tensor::from_vec(host.clone(), &[batch, 3, 32, 32]).unwrap();
                let want = bits(&net.forward(&x.to(dev).unwrap()).unwrap());
                let from_host = plan.forward(&x).unwrap();
                assert_eq!(from_host.device(), *dev);
                assert_eq!(from_host.shape(), [batch, 10]);
                assert_eq!(
                    bits(&from_host),
                    want,
                    "batch {batch} round {round}, host input"
                );
                let from_dev = plan.forward(&x.to(dev).unwrap()).unwrap();
                assert_eq!(
                    bits(&from_dev),
                    want,
                    "batch {batch} round {round}, device input"
                );
                let mut logits = vec![f32::NAN; batch * 10];
                plan.forward_host(&host, &mut logits).unwrap();
                let got: Vec<u32> = logits.iter().map(|f| f.to_bits()).collect();
                assert_eq!(got, want, "batch {batch} round {round}, forward_host");
            }
        }
    }

    /// Every batch count through the two alternating slots (1: no overlap at all; 2: both
    /// slots once; 3 and 5: a slot reused while the other is in flight), twice (the second
    /// call reuses the pipeline), against forward_host one batch at a time.
    pub fn pipelined_batches_match_one_at_a_time(dev: &Device) {
        let net = gpu_net(dev);
        let batch = 3;
        let mut plan = net.cuda_plan(batch).unwrap();
        let (per_in, per_out) = (batch * 3 * 32 * 32, batch * 10);
        for (round, k) in [1usize, 2, 3, 5, 5].into_iter().enumerate() {
            let images = Rng::new(200 + round as u64).vec_scaled(k * per_in, 2.0);
            let mut want = vec![0.0f32; k * per_out];
            for (x, y) in images.chunks(per_in).zip(want.chunks_mut(per_out)) {
                plan.forward_host(x, y).unwrap();
            }
            let mut got = vec![f32::NAN; k * per_out];
            plan.forward_host_many(&images, &mut got).unwrap();
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{k} batches (round {round})");
        }
        let mut none: Vec<f32> = Vec::new();
        plan.forward_host_many(&[], &mut none).unwrap();
        let mut logits = vec![0.0; per_out];
        assert!(matches!(
            plan.forward_host_many(&vec![0.0; per_in + 1], &mut logits),
            Err(Error::Shape { .. })
        ));
    }

    pub fn plan_refuses_what_it_cannot_run(dev: &Device) {
        let cpu = Net::new(3).unwrap();
        assert!(matches!(
            cpu.cuda_plan(1),
            Err(Error::InvalidArgument { .. })
        ));
        let net = gpu_net(dev);
        assert!(matches!(
            net.cuda_plan(0),
            Err(Error::InvalidArgument { .. })
        ));
        // A batch whose buffers cannot be addressed: a typed error, not an overflow.
        assert!(matches!(
            net.cuda_plan(usize::MAX / 1024),
            Err(Error::Overflow { .. })
        ));
        let mut plan = net.cuda_plan(2).unwrap();
        let wrong = Tensor::from_vec(vec![0.0; 3 * 32 * 32], &[1, 3, 32, 32]).unwrap();
        assert!(matches!(plan.forward(&wrong), Err(Error::Shape { .. })));
        let mut logits = vec![0.0; 20];
        assert!(matches!(
            plan.forward_host(&[0.0; 5], &mut logits),
            Err(Error::Shape { .. })
        ));
        // A pool the kernels do not fuse.
        let mut odd = gpu_net(dev);
        odd.pool = tensorport::nn::MaxPool2d::builder(2).stride(1).build();
        assert!(matches!(
            odd.cuda_plan(1),
            Err(Error::InvalidArgument { .. })
        ));
    }
}

fn count(name: &str) -> u64 {
    let calls = double().expect("double").calls();
    calls.iter().find(|(n, _)| n == name).map_or(0, |c| c.1)
}

#[test]
fn a_steady_state_forward_allocates_nothing_and_replays_one_graph() {
    isolated(test_name!(), &[], || {
        let dev = Device::Cuda(0);
        let net = bodies::gpu_net(&dev);
        let mut plan = net.cuda_plan(4).expect("plan");
        let x = Rng::new(9).vec_scaled(4 * 3 * 32 * 32, 2.0);
        let mut logits = vec![0.0f32; 40];
        plan.forward_host(&x, &mut logits).expect("first forward");
        let before: Vec<u64> = ["cuMemAlloc_v2", "cuMemAllocAsync", "cuLaunchKernel"]
            .iter()
            .map(|n| count(n))
            .collect();
        let graphs = count("cuGraphLaunch");
        for _ in 0..3 {
            plan.forward_host(&x, &mut logits).expect("forward");
        }
        let after: Vec<u64> = ["cuMemAlloc_v2", "cuMemAllocAsync", "cuLaunchKernel"]
            .iter()
            .map(|n| count(n))
            .collect();
        assert_eq!(
            before, after,
            "allocations and direct launches in steady state"
        );
        assert_eq!(count("cuGraphLaunch"), graphs + 3);
        assert_eq!(count("cuStreamBeginCapture_v2"), 1, "captured once");
        // The pipelined forward: its first call sets up (a second slot, pinned buffers, a
        // stream); after that, none of those again.
        let many = Rng::new(10).vec_scaled(3 * 4 * 3 * 32 * 32, 2.0);
        let mut out = vec![0.0f32; 3 * 40];
        plan.forward_host_many(&many, &mut out).expect("pipelined");
        let setup = |n: &str| count(n);
        let names = [
            "cuMemAlloc_v2",
            "cuMemAllocAsync",
            "cuMemHostAlloc",
            "cuStreamCreate",
            "cuLaunchKernel",
        ];
        let before: Vec<u64> = names.iter().map(|n| setup(n)).collect();
        plan.forward_host_many(&many, &mut out)
            .expect("pipelined again");
        let after: Vec<u64> = names.iter().map(|n| setup(n)).collect();
        assert_eq!(
            before, after,
            "{names:?} in a steady-state pipelined forward"
        );
        assert_eq!(count("cuStreamBeginCapture_v2"), 2, "one capture per slot");
    });
}
/// The pipeline's events under copies slow enough (5 MB/s) that any kernel not made to wait for
/// its upload, or any download not made to wait for its kernel, reads stale data.
#[test]
fn pipelined_copies_are_ordered_under_slow_dma() {
    isolated(test_name!(), &[("TP_FAKE_CUDA_DMA_GBPS", "0.005")], || {
        let dev = Device::Cuda(0);
        let net = bodies::gpu_net(&dev);
        let batch = 2;
        let mut plan = net.cuda_plan(batch).expect("plan");
        let (per_in, per_out) = (batch * 3 * 32 * 32, batch * 10);
        let k = 4;
        let images = Rng::new(300).vec_scaled(k * per_in, 2.0);
        let mut want = vec![0.0f32; k * per_out];
        for (x, y) in images.chunks(per_in).zip(want.chunks_mut(per_out)) {
            plan.forward_host(x, y).expect("one batch");
        }
        for round in 0..2 {
            let mut got = vec![f32::NAN; k * per_out];
            plan.forward_host_many(&images, &mut got)
                .expect("pipelined");
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "round {round}");
        }
    });
}

cuda_configs!();
