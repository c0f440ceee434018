//! Arbitrary bytes through the whole reader: zip or legacy detection, the zip index, the pickle
//! machine, storage binding, CRC checks, and the description of whatever loads. Any panic, hang
//! or large allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = tensorport::checkpoint::OpenOptions {
        verify_crc: true,
        ..Default::default()
    };
    if let Ok(ckpt) = tensorport::Checkpoint::from_bytes(data, &opts) {
        let loc = |s: &tensorport::Storage| s.device().location_tag();
        let _ = tensorport_cli::describe::describe(ckpt.value(), &loc, &|_| None);
        let _ = ckpt.state_dict();
    }
});
