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
    plan_refuses_what_it_cannot_run
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
    });
}
