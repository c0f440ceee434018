//! Runs the recipe ("save and load models across devices") on the CPU-backed driver double
//! with two simulated GPUs and prints how often each CUDA driver entry point was called: what
//! tensorport asks of a driver, in one run.
//!
//! `cargo run --example driver_calls`

use tensorport::cuda::{empty_cache, synchronize};
use tensorport::nn::{load_state_dict, DataParallel, LoadOptions, Module, Net};
use tensorport::{load, save, Device, MapLocation, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read by the double when the driver initialises, i.e. before tensorport's first probe.
    std::env::set_var("TP_FAKE_CUDA_DEVICES", "2");
    let tensorport_emu::driver::Installed::Double(double) = tensorport_emu::driver::install()?
    else {
        return Err(
            "a real GPU is present; this example counts calls into the driver double".into(),
        );
    };
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ok");
    let dir = std::env::temp_dir().join(format!("tp_driver_calls_{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    // Saved on the CPU, loaded onto cuda:0; saved from cuda:0, loaded onto cuda:1 by a remap.
    let ck = load(
        fixtures.join("net_state_dict.pt"),
        &MapLocation::To(Device::Cuda(0)),
    )?;
    let mut net = Net::new(0)?;
    net.to_device(&Device::Cuda(0))?;
    load_state_dict(&mut net, "Net", &ck.state_dict()?, LoadOptions::default())?;
    let x = Tensor::from_vec(vec![0.5f32; 8 * 3 * 32 * 32], &[8, 3, 32, 32])?;
    let y0 = net.forward(&x.to(&Device::Cuda(0))?)?.to(&Device::Cpu)?;
    let path = dir.join("net_gpu.pt");
    save(&net.state_dict().to_value(), &path)?;
    let remap = MapLocation::Remap(vec![("cuda:0".into(), Device::Cuda(1))]);
    let mut net1 = Net::new(0)?;
    net1.to_device(&Device::Cuda(1))?;
    load_state_dict(
        &mut net1,
        "Net",
        &load(&path, &remap)?.state_dict()?,
        LoadOptions::default(),
    )?;
    let y1 = net1.forward(&x.to(&Device::Cuda(1))?)?.to(&Device::Cpu)?;
    // The DataParallel checkpoint's model, split over both devices.
    let dp = DataParallel::new(net, &[Device::Cuda(0), Device::Cuda(1)])?;
    let y2 = dp.forward(&x)?.to(&Device::Cpu)?;
    assert_eq!(y0.to_vec::<f32>()?, y1.to_vec::<f32>()?);
    assert_eq!(y0.to_vec::<f32>()?, y2.to_vec::<f32>()?);
    drop((dp, net1, ck));
    for d in [Device::Cuda(0), Device::Cuda(1)] {
        synchronize(&d)?;
        empty_cache(&d)?;
    }
    std::fs::remove_dir_all(&dir)?;

    let mut calls = double.calls();
    calls.retain(|(_, n)| *n > 0);
    calls.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!("| driver entry point | calls |\n|---|---:|");
    for (name, n) in &calls {
        println!("| {name} | {n} |");
    }
    println!(
        "\nlive after drop + empty_cache: cuda:0 {:?}, cuda:1 {:?} (allocations, bytes); pinned {:?}",
        double.live(0),
        double.live(1),
        double.live_pinned()
    );
    Ok(())
}
