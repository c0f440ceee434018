//! Any bytes as a torch.export archive: loading never panics, hangs or allocates what the input
//! declares without a check; a program that loads runs its sample inputs without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tensorport::{Device, MapLocation, Program};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Program::from_bytes(data, &MapLocation::To(Device::Cpu)) {
        let _ = p.summary();
        if let Some(x) = p.sample_inputs() {
            let _ = p.run(x);
        }
    }
});
