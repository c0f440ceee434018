//! Every CPU code path of conv2d and linear against real PyTorch: each case of
//! `tests/fixtures/ops/cpu_paths` (made by `gen_cpu_paths.py`; shapes chosen to cross the
//! thresholds where the kernels change strategy) on every instruction set this CPU supports
//! (`set_cpu_capability`) and on 1, 2 and 3 threads.
//!
//! A path this CPU lacks cannot run here, and it is named in the output; with
//! `TENSORPORT_REQUIRE_CPU_CAPABILITY=avx512` (or `avx2`) a missing one fails the test instead,
//! so a machine that should prove a path cannot pass by skipping it.

mod common;

use std::path::Path;

use common::closeness::{assert_tensor_close, dot_tol};
use tensorport::ops::{conv2d, conv2d_relu, linear, linear_relu, Conv2dArgs};
use tensorport::{
    load, set_cpu_capability, set_num_threads, CpuCapability, MapLocation, StateDict,
};

fn fixtures(file: &str) -> StateDict {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ops/cpu_paths")
        .join(file);
    load(&path, &MapLocation::Keep)
        .and_then(|c| c.state_dict())
        .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

fn cases(sd: &StateDict) -> Vec<String> {
    sd.keys()
        .filter_map(|k| k.strip_suffix(".out"))
        .map(String::from)
        .collect()
}

fn run_conv(sd: &StateDict, what: &str) {
    for name in cases(sd) {
        let get = |s: &str| sd.get(&format!("{name}.{s}"));
        let (x, w, b, want) = (
            get("x").unwrap(),
            get("w").unwrap(),
            get("b"),
            get("out").unwrap(),
        );
        let a = get("args").unwrap().to_vec::<i64>().unwrap();
        let u = |i: usize| a[i] as usize;
        let args = Conv2dArgs {
            stride: [u(0), u(1)],
            padding: [u(2), u(3)],
            dilation: [u(4), u(5)],
            groups: u(6),
        };
        let op = if a[7] == 1 { conv2d_relu } else { conv2d };
        let out = op(x, w, b, &args).unwrap_or_else(|e| panic!("{name} {what}: {e}"));
        let ws = w.shape();
        let tol = dot_tol(ws[1] * ws[2] * ws[3], want.dtype());
        assert_tensor_close(&format!("conv {name} {what}"), &out, want, tol);
    }
}

fn run_linear(sd: &StateDict, what: &str) {
    for name in cases(sd) {
        let get = |s: &str| sd.get(&format!("{name}.{s}"));
        let (x, w, b, want) = (
            get("x").unwrap(),
            get("w").unwrap(),
            get("b"),
            get("out").unwrap(),
        );
        let relu = get("args").unwrap().to_vec::<i64>().unwrap()[0] == 1;
        let op = if relu { linear_relu } else { linear };
        let out = op(x, w, b).unwrap_or_else(|e| panic!("{name} {what}: {e}"));
        let tol = dot_tol(w.shape()[1], want.dtype());
        assert_tensor_close(&format!("linear {name} {what}"), &out, want, tol);
    }
}

#[test]
fn every_path_on_every_instruction_set_and_thread_count_matches_pytorch() {
    let (conv, lin) = (fixtures("conv2d.pt"), fixtures("linear.pt"));
    assert_eq!(cases(&conv).len(), 14, "cases in cpu_paths/conv2d.pt");
    assert_eq!(cases(&lin).len(), 11, "cases in cpu_paths/linear.pt");
    let required: Vec<CpuCapability> = std::env::var("TENSORPORT_REQUIRE_CPU_CAPABILITY")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            *CpuCapability::ALL
                .iter()
                .find(|c| c.name() == s.trim())
                .unwrap_or_else(|| panic!("TENSORPORT_REQUIRE_CPU_CAPABILITY: unknown {s:?}"))
        })
        .collect();
    for cap in CpuCapability::ALL {
        if !cap.supported() {
            assert!(
                !required.contains(&cap),
                "{cap} is required (TENSORPORT_REQUIRE_CPU_CAPABILITY) but this CPU lacks it"
            );
            eprintln!("NOT RUN: the {cap} path (this CPU lacks it)");
            continue;
        }
        set_cpu_capability(Some(cap)).unwrap();
        for threads in [1, 2, 3] {
            set_num_threads(threads).unwrap();
            let what = format!("on {cap}, {threads} threads");
            run_conv(&conv, &what);
            run_linear(&lin, &what);
        }
    }
    set_cpu_capability(None).unwrap();
    set_num_threads(0).unwrap();
    // Asking for a path the CPU lacks is an error, not a quiet downgrade.
    for cap in CpuCapability::ALL.into_iter().filter(|c| !c.supported()) {
        assert!(set_cpu_capability(Some(cap)).is_err(), "{cap}");
    }
}
