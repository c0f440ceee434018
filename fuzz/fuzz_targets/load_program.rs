//! Any bytes as a torch.export archive: loading never panics, hangs or allocates what the input
//! declares without a check; a program that loads runs its sample inputs without panicking.
//! The memory budget is smaller than the default so that a budget-sized allocation stays well
//! under libFuzzer's RSS limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tensorport::graph::ProgramOptions;
use tensorport::{Device, MapLocation, Program};

fuzz_target!(|data: &[u8]| {
    let opts = ProgramOptions {
        map_location: MapLocation::To(Device::Cpu),
        max_bytes: 64 << 20,
    };
    if let Ok(p) = Program::from_bytes_with(data, &opts) {
        let _ = p.summary();
        if let Some(x) = p.sample_inputs() {
            let _ = p.run(x);
        }
    }
});
