//! Shared by the CUDA test files: which GPUs to run on, the per-device test macro, data and
//! comparison helpers.

#![allow(dead_code)]

use tensorport::cuda::availability as cuda_availability;
use tensorport::Device;

/// The GPUs to run a GPU test on; empty (with a printed reason) when there are none.
pub fn gpus(test: &str) -> Vec<Device> {
    match cuda_availability() {
        Ok(n) => (0..n).map(Device::Cuda).collect(),
        Err(reason) => {
            let required = std::env::var("TENSORPORT_REQUIRE_CUDA").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "{test}: TENSORPORT_REQUIRE_CUDA=1 but no GPU: {reason}"
            );
            // Straight to the stderr handle: libtest captures println!/eprintln! of passing
            // tests, and a skip must be visible in a plain `cargo test`.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "skipped {test}: no CUDA device ({reason})"
            );
            Vec::new()
        }
    }
}

/// Expands `fn(&Device)` bodies in `crate::bodies` into one test each (in `mod gpu`) that runs
/// the body on every GPU present, or prints that it skipped.
#[macro_export]
macro_rules! gpu_tests {
    ($($name:ident),* $(,)?) => {
        mod gpu {
            $(
                #[test]
                fn $name() {
                    for dev in $crate::cuda_util::gpus(stringify!($name)) {
                        println!("{} on {dev}", stringify!($name));
                        $crate::bodies::$name(&dev);
                    }
                }
            )*
        }
    };
}

/// Bytes from which uploads go through the pinned staging buffers (`tensorport::cuda::STAGE_MIN`,
/// kept here so the tests also build without the `cuda` feature).
pub const STAGE_MIN: usize = 16 << 20;

/// Deterministic pseudo-random f32 values in [-2, 2) (an LCG; no dependency).
pub fn randn(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

/// Compares `got` with `want` under `atol + rtol·|want|` (NaN equals NaN) and panics with the
/// max abs error and the first mismatches.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let mut max_abs = 0f32;
    let mut bad = Vec::new();
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if g == w || (g.is_nan() && w.is_nan()) {
            continue;
        }
        let err = (g - w).abs();
        if err.is_finite() {
            max_abs = max_abs.max(err);
        }
        // NaN in only one of them gives a NaN error, which fails this check too.
        if err.is_nan() || err > atol + rtol * w.abs() {
            bad.push(format!("[{i}] got {g} want {w}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: {} of {} elements differ (max abs err {max_abs}); first: {}",
        bad.len(),
        got.len(),
        bad.iter().take(8).cloned().collect::<Vec<_>>().join(", ")
    );
}
