//! The GPU the GPU tests run on: a real one when this machine has one, otherwise the project's
//! CPU-backed CUDA driver double (`kernels/emu`, `tensorport_emu::driver`), loaded into this
//! test process before tensorport first probes for a driver. Either way the GPU tests really
//! run; they never pass by skipping.
//!
//! [`every_config`] reruns a test binary's GPU tests under each other configuration of the
//! double ([`CONFIGS`]: several devices with a model of DMA time, no memory pools), each in a
//! child process, because the double reads its configuration when the driver initialises.

use std::process::Command;
use std::sync::OnceLock;

use tensorport_emu::driver::{install, Double, Installed};

/// Set in a child process: the name of the configuration it runs under.
pub const CONFIG_ENV: &str = "TP_TEST_CUDA_CONFIG";

/// The configurations [`every_config`] runs in child processes, beside the parent's own
/// (one device, memory pools, no delays): name and environment.
pub const CONFIGS: &[(&str, &[(&str, &str)])] = &[
    (
        "2 devices, DMA timing",
        &[
            ("TP_FAKE_CUDA_DEVICES", "2"),
            ("TP_FAKE_CUDA_DMA_GBPS", "4"),
            ("TP_FAKE_CUDA_OP_DELAY_US", "20"),
        ],
    ),
    (
        "4 devices, DMA timing",
        &[
            ("TP_FAKE_CUDA_DEVICES", "4"),
            ("TP_FAKE_CUDA_DMA_GBPS", "4"),
            ("TP_FAKE_CUDA_OP_DELAY_US", "20"),
        ],
    ),
    ("1 device, no memory pools", &[("TP_FAKE_CUDA_POOLS", "0")]),
];

static INSTALLED: OnceLock<Result<Installed, String>> = OnceLock::new();

/// Makes a GPU available to this process: nothing to do on a machine with one, else the
/// driver double is loaded. Call before anything asks tensorport about CUDA.
pub fn setup() -> &'static Result<Installed, String> {
    INSTALLED.get_or_init(install)
}

/// The driver double, when the tests run on it (not on a real GPU).
pub fn double() -> Option<&'static Double> {
    match setup() {
        Ok(Installed::Double(d)) => Some(d),
        _ => None,
    }
}

/// Reruns this test binary's GPU tests (`::cuda` in their names) under every configuration of
/// [`CONFIGS`], in child processes, and fails with their output if any fails. On a real GPU,
/// or inside such a child, it does nothing.
pub fn every_config() {
    if std::env::var_os(CONFIG_ENV).is_some() {
        return;
    }
    if double().is_none() {
        super::skip_notice("driver-double configurations: running on a real GPU");
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    for (name, env) in CONFIGS {
        let mut cmd = Command::new(&exe);
        cmd.args(["::cuda", "--test-threads", "2"])
            .env(CONFIG_ENV, name);
        for (k, v) in *env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("running the test binary again");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary = stdout
            .lines()
            .filter(|l| l.starts_with("test result:"))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            out.status.success(),
            "GPU tests under the driver double with {name} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !summary.contains(" 0 passed"),
            "{name}: no GPU test ran: {summary}"
        );
        println!("{name}: {summary}");
    }
}

/// Runs `body` in a child process of its own (this test binary, `--exact test`), with the
/// double configured by `env`: for tests that arm faults or make a device unusable, so no
/// other test shares their driver state. Returns in the child after running `body`; in the
/// parent after the child passed.
pub fn isolated(test: &str, env: &[(&str, &str)], body: impl FnOnce()) {
    if std::env::var_os(CONFIG_ENV).is_some() {
        assert!(
            double().is_some(),
            "{test}: the driver double did not load: {:?}",
            setup().as_ref().err()
        );
        body();
        return;
    }
    if double().is_none() {
        super::skip_notice(&format!(
            "{test}: needs the driver double (a real GPU is present)"
        ));
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(&exe);
    cmd.args([test, "--exact", "--nocapture"])
        .env(CONFIG_ENV, test);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} in its own process failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A macro-free way for a test to name itself for [`isolated`].
#[macro_export]
macro_rules! test_name {
    () => {{
        fn f() {}
        let name = std::any::type_name_of_val(&f);
        let name = name.strip_suffix("::f").unwrap_or(name);
        name.split_once("::").map_or(name, |(_, rest)| rest)
    }};
}
