//! `nn::DataParallel` on every GPU present (under the driver double: one, two and four
//! simulated devices, see `common::gpu`): the batch split, run concurrently and gathered is
//! bit-identical to a single-device forward and matches torch's logits; its state dict has
//! torch's `module.` keys (compared with a DataParallel checkpoint torch saved); checkpoints
//! saved on one GPU load onto another through `map_location`.

#[macro_use]
mod common;

use common::net::{assert_logits, torch_io};
use common::rng::Rng;
use common::{fixtures_dir, gpu};
use tensorport::checkpoint::StateDict;
use tensorport::nn::{load_state_dict, DataParallel, LoadOptions, Module, Net};
use tensorport::{load, save, Device, Error, MapLocation, Tensor};

gpu_tests!(
    data_parallel_is_bit_identical_to_one_device,
    data_parallel_matches_torch_logits,
    data_parallel_state_dict_is_torchs,
    checkpoints_move_between_gpus_through_map_location,
);

cuda_configs!();

fn all_gpus() -> Vec<Device> {
    (0..tensorport::cuda::device_count())
        .map(Device::Cuda)
        .collect()
}

fn bytes(t: &Tensor) -> Vec<u8> {
    t.to(&Device::Cpu)
        .expect("to host")
        .contiguous_bytes()
        .expect("bytes")
        .into_owned()
}

fn torch_net() -> Net {
    let ckpt = load(
        fixtures_dir().join("ok/net_state_dict.pt"),
        &MapLocation::Keep,
    )
    .expect("net");
    let mut net = Net::new(7).expect("net");
    load_state_dict(
        &mut net,
        "Net",
        &ckpt.state_dict().expect("sd"),
        LoadOptions::default(),
    )
    .expect("load_state_dict");
    net
}

fn data_parallel_is_bit_identical_to_one_device(dev: &Device) {
    // Every device, starting with this one (it holds the module and gathers the output).
    let mut devices = vec![*dev];
    devices.extend(all_gpus().into_iter().filter(|d| d != dev));
    let net = Net::new(3).expect("net");
    let mut single = net.clone();
    single.to_device(dev).expect("to device");
    let dp = DataParallel::new(net, &devices).expect("DataParallel");
    // Batches that split evenly, unevenly, into fewer chunks than devices, and not at all.
    for n in [1usize, 2, 5, 8, 13] {
        let x = Tensor::from_vec(
            Rng::new(n as u64).vec_scaled(n * 3 * 32 * 32, 2.0),
            &[n, 3, 32, 32],
        )
        .expect("x");
        let want = single.forward(&x.to(dev).expect("x")).expect("single");
        // From host memory and from the first device, as PyTorch accepts both.
        for input in [x.clone(), x.to(dev).expect("x")] {
            let got = dp.forward(&input).expect("DataParallel forward");
            assert_eq!(got.device(), *dev, "gathered on the first device");
            assert_eq!(got.shape(), &[n, 10]);
            assert_eq!(bytes(&got), bytes(&want), "batch {n} over {devices:?}");
        }
    }
    let on_host = DataParallel::new(Net::new(3).expect("net"), &devices)
        .expect("dp")
        .with_output_device(Device::Cpu);
    let x = Tensor::from_vec(
        Rng::new(1).vec_scaled(6 * 3 * 32 * 32, 2.0),
        &[6, 3, 32, 32],
    )
    .expect("x");
    let got = on_host.forward(&x).expect("forward");
    assert_eq!(got.device(), Device::Cpu);
    assert_eq!(
        bytes(&got),
        bytes(&single.forward(&x.to(dev).expect("x")).expect("single"))
    );
}

fn data_parallel_matches_torch_logits(dev: &Device) {
    let (x, want) = torch_io();
    let mut devices = vec![*dev];
    devices.extend(all_gpus().into_iter().filter(|d| d != dev));
    let dp = DataParallel::new(torch_net(), &devices).expect("dp");
    let got = dp
        .forward(&x)
        .expect("forward")
        .to(&Device::Cpu)
        .expect("host");
    assert_logits(&got.to_vec::<f32>().expect("f32"), &want);
}

fn data_parallel_state_dict_is_torchs(dev: &Device) {
    let dp = DataParallel::new(torch_net(), &all_gpus()).expect("dp");
    let ours = dp.state_dict();
    let torch_dp = load(
        fixtures_dir().join("ok/net_state_dict_dataparallel.pt"),
        &MapLocation::To(*dev),
    )
    .expect("torch's DataParallel checkpoint");
    let theirs = torch_dp.state_dict().expect("sd");
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "DataParallel state_dict keys, in torch's order"
    );
    let meta = |s: &StateDict| -> Vec<String> {
        let m = s.metadata().and_then(|m| m.as_dict()).expect("_metadata");
        m.iter()
            .map(|(k, _)| k.as_str().unwrap_or("?").to_string())
            .collect()
    };
    assert_eq!(meta(&ours), meta(&theirs), "_metadata module paths");
    // torch's DataParallel checkpoint loads straight into our DataParallel, onto its devices.
    let mut dp2 = DataParallel::new(Net::new(9).expect("net"), &all_gpus()).expect("dp");
    load_state_dict(&mut dp2, "DataParallel", &theirs, LoadOptions::default()).expect("load");
    let (x, want) = torch_io();
    let got = dp2
        .forward(&x)
        .expect("forward")
        .to(&Device::Cpu)
        .expect("host");
    assert_logits(&got.to_vec::<f32>().expect("f32"), &want);
    // And a plain Net refuses the prefixed keys, as torch's does.
    let mut plain = Net::new(1).expect("net");
    assert!(matches!(
        load_state_dict(&mut plain, "Net", &ours, LoadOptions::default()),
        Err(Error::LoadStateDict { .. })
    ));
}

fn checkpoints_move_between_gpus_through_map_location(dev: &Device) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("net_gpu.pt");
    let mut net = torch_net();
    net.to_device(dev).expect("to device");
    save(&net.state_dict().to_value(), &path).expect("save from the GPU");
    let host = bytes(&net.state_dict().get("fc1.weight").expect("w").clone());
    for target in all_gpus() {
        // map_location={'cuda:N': 'cuda:M'}
        let remap = MapLocation::Remap(vec![(dev.location_tag(), target)]);
        let ck = load(&path, &remap).expect("load remapped");
        let sd = ck.state_dict().expect("sd");
        for (k, t) in sd.iter() {
            assert_eq!(t.device(), target, "{k} after remapping {dev} to {target}");
        }
        assert_eq!(bytes(sd.get("fc1.weight").expect("w")), host);
        // And with the tags as saved, back where it was.
        let kept = load(&path, &MapLocation::Keep).expect("keep");
        assert_eq!(
            kept.state_dict()
                .expect("sd")
                .get("fc1.weight")
                .expect("w")
                .device(),
            *dev
        );
    }
    let _ = gpu::double();
}
