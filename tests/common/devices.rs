//! Tests written once, run on every device: a test body is a `fn(&Device)`, and
//! `device_tests!(name, ...)` expands each into `name::cpu` and `name::cuda`. The CUDA test runs
//! the body on every GPU present: a real one, or else the CPU-backed driver double
//! (`common::gpu`), so it runs on every machine. Should neither be usable it says on stderr
//! that it skipped, and with `TENSORPORT_REQUIRE_CUDA=1` that is a failure instead.
//! `cuda_configs!()`, once per test binary, reruns its GPU tests under the double's other
//! configurations (several devices, DMA timing, no memory pools).
//! `gpu_tests!` is the same for bodies that only mean something on a GPU.
//!
//! [`run_on`] is how a conformance body runs an op where it is: inputs moved to the device,
//! the result brought back, and on a GPU the inputs its kernels do not take (a dtype without a
//! kernel, a strided view, an op without a kernel) checked to be refused with a typed error.

use tensorport::{DType, Device, Error, Result, Tensor};

/// The GPUs a GPU test runs on; empty (with a notice on stderr) when there are none.
pub fn gpus(test: &str) -> Vec<Device> {
    if let Err(e) = super::gpu::setup() {
        panic!("{test}: loading the CUDA driver double failed: {e}");
    }
    match tensorport::cuda::availability() {
        Ok(n) => (0..n).map(Device::Cuda).collect(),
        Err(reason) if super::gpu::double().is_some() => {
            panic!("{test}: the driver double is loaded but tensorport finds no GPU: {reason}")
        }
        Err(reason) => {
            let required = std::env::var("TENSORPORT_REQUIRE_CUDA").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "{test}: TENSORPORT_REQUIRE_CUDA=1 but no GPU: {reason}"
            );
            super::skip_notice(&format!("{test} on CUDA: no CUDA device ({reason})"));
            Vec::new()
        }
    }
}

/// Expands `fn(&Device)` bodies into `<name>::cpu` and `<name>::cuda` tests.
#[macro_export]
macro_rules! device_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn cpu() {
                    super::$name(&tensorport::Device::Cpu);
                }
                #[test]
                fn cuda() {
                    let test = module_path!();
                    for dev in $crate::common::devices::gpus(test) {
                        println!("{test} on {dev}");
                        super::$name(&dev);
                    }
                }
            }
        )*
    };
}

/// Expands `fn(&Device)` bodies that only mean something on a GPU into one test each.
#[macro_export]
macro_rules! gpu_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn cuda() {
                    let test = module_path!();
                    for dev in $crate::common::devices::gpus(test) {
                        println!("{test} on {dev}");
                        super::$name(&dev);
                    }
                }
            }
        )*
    };
}

/// One test that reruns this binary's GPU tests under every other configuration of the driver
/// double (`common::gpu::CONFIGS`). Invoke once per test binary that has GPU tests.
#[macro_export]
macro_rules! cuda_configs {
    () => {
        #[test]
        fn gpu_tests_under_every_driver_config() {
            $crate::common::gpu::every_config();
        }
    };
}

/// What an op's CUDA kernels take.
#[derive(Clone, Copy, Debug)]
pub enum Cuda {
    /// Contiguous operands of these dtypes.
    Contiguous(&'static [DType]),
    /// Any layout (a metadata-only op), these dtypes.
    AnyLayout(&'static [DType]),
    /// No CUDA kernel: a GPU input is refused.
    NoKernel,
}

/// Contiguous float32: what our kernels take.
pub const CUDA_F32: Cuda = Cuda::Contiguous(&[DType::F32]);

/// Runs `op` with `inputs` on `dev` and returns its result on the host, or `None` when there is
/// nothing to compare (on a GPU: a dtype or op without a kernel, whose typed refusal is
/// checked here). On a GPU, a strided input of an op that needs contiguous ones is checked to
/// be refused too, then the op runs on contiguous copies.
pub fn run_on(
    dev: &Device,
    cuda: Cuda,
    inputs: &[&Tensor],
    op: impl Fn(&[Tensor]) -> Result<Tensor>,
) -> Option<Result<Tensor>> {
    let moved = |ins: &[&Tensor]| -> Vec<Tensor> {
        ins.iter()
            .map(|t| t.to(dev).unwrap_or_else(|e| panic!("moving to {dev}: {e}")))
            .collect()
    };
    if *dev == Device::Cpu {
        let ins: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
        return Some(op(&ins));
    }
    let back = |r: Result<Tensor>| r.and_then(|t| t.to(&Device::Cpu));
    let (dtypes, contiguous) = match cuda {
        Cuda::NoKernel => {
            let r = op(&moved(inputs));
            assert!(
                matches!(r, Err(Error::InvalidArgument { .. })),
                "no CUDA kernel: expected a typed refusal on {dev}, got {:?}",
                r.map(|t| t.shape().to_vec())
            );
            return None;
        }
        Cuda::Contiguous(d) => (d, true),
        Cuda::AnyLayout(d) => (d, false),
    };
    if let Some(t) = inputs.iter().find(|t| !dtypes.contains(&t.dtype())) {
        let r = op(&moved(inputs));
        assert!(
            matches!(r, Err(Error::DType { .. })),
            "{} has no CUDA kernel: expected Error::DType on {dev}, got {:?}",
            t.dtype(),
            r.map(|t| t.shape().to_vec())
        );
        return None;
    }
    if contiguous && inputs.iter().any(|t| !t.is_contiguous()) {
        let r = op(&moved(inputs));
        assert!(
            matches!(r, Err(Error::InvalidArgument { .. })),
            "strided input on {dev}: expected a typed refusal, got {:?}",
            r.map(|t| t.shape().to_vec())
        );
        let copies: Vec<Tensor> = inputs
            .iter()
            .map(|t| t.contiguous().expect("contiguous copy"))
            .collect();
        let refs: Vec<&Tensor> = copies.iter().collect();
        return Some(back(op(&moved(&refs))));
    }
    Some(back(op(&moved(inputs))))
}
