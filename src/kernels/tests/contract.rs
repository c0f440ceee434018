//! The declaration (`decl.rs`), the C side generated from it, the emulator's build of the
//! kernels and the embedded PTX all agree; a kernel or field added to one side only fails here.

use std::collections::BTreeSet;

use tensorport_emu as emu;

use super::closeness::{assert_close, Tol};
use super::rng::Rng;
use crate::kernels::{Kernel, Module, PARAMS_LAYOUT};

const PINS: &str = include_str!("../../../kernels/cuda-tools.env");

fn pin(key: &str) -> &'static str {
    PINS.lines()
        .filter_map(|l| l.trim().split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
        .unwrap_or_else(|| panic!("kernels/cuda-tools.env has no {key}= line"))
}

#[test]
fn params_layouts_agree_with_gxx() {
    let c = emu::c_layout();
    let mut rows = c.iter();
    for (name, size, fields) in PARAMS_LAYOUT {
        for (field, offset) in *fields {
            let r = rows
                .next()
                .unwrap_or_else(|| panic!("C side ends before {name}.{field}"));
            assert_eq!((r.st.as_str(), r.field.as_str()), (*name, *field));
            assert_eq!(r.value, *offset, "{name}.{field}: offset in params.cuh");
        }
        let r = rows
            .next()
            .unwrap_or_else(|| panic!("C side has no sizeof({name})"));
        assert_eq!(
            (r.st.as_str(), r.field.as_str(), r.value),
            (*name, "", *size)
        );
    }
    assert!(
        rows.next().is_none(),
        "the C side has more structs than decl.rs"
    );
}

#[test]
fn the_emulator_has_every_kernel_with_its_arguments() {
    let built: Vec<(String, u32)> = emu::kernels();
    let declared: Vec<(String, u32)> = Kernel::ALL
        .iter()
        .map(|k| (k.entry().to_owned(), k.operands().len() as u32 + 1))
        .collect();
    assert_eq!(built, declared);
}

/// The `.entry` directives of a PTX module, each with its parameter declarations.
fn entries(ptx: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut lines = ptx.lines();
    while let Some(l) = lines.next() {
        let Some((_, rest)) = l.split_once(".entry ") else {
            continue;
        };
        let name = rest.split('(').next().unwrap_or(rest).trim().to_owned();
        let mut params = Vec::new();
        for p in lines.by_ref() {
            let p = p.trim();
            if p.starts_with(')') {
                break;
            }
            if p.starts_with(".param") {
                params.push(p.trim_end_matches(',').to_owned());
            }
        }
        out.push((name, params));
    }
    out
}

#[test]
fn every_kernel_is_an_entry_with_the_declared_parameters() {
    for kernel in Kernel::ALL {
        let module = kernel.module();
        let found = entries(module.ptx());
        let (_, params) = found
            .iter()
            .find(|(n, _)| n == kernel.entry())
            .unwrap_or_else(|| {
                panic!(
                    "{kernel:?}: module {} has no entry {}; it has {:?}",
                    module.name(),
                    kernel.entry(),
                    found.iter().map(|(n, _)| n).collect::<Vec<_>>()
                )
            });
        // The params struct by value (bytes, 8-aligned), then one 64-bit pointer per operand.
        let by_value = format!(
            ".param .align 8 .b8 {}_param_0[{}]",
            kernel.entry(),
            kernel.params_size()
        );
        assert_eq!(params.first(), Some(&by_value), "{kernel:?}: params struct");
        assert_eq!(
            params.len(),
            kernel.operands().len() + 1,
            "{kernel:?}: {params:?}"
        );
        for (i, p) in params.iter().enumerate().skip(1) {
            assert_eq!(
                p,
                &format!(".param .u64 {}_param_{i}", kernel.entry()),
                "{kernel:?}"
            );
        }
    }
}

#[test]
fn every_entry_is_a_kernel_and_every_source_a_module() {
    for module in Module::ALL {
        let named: BTreeSet<&str> = Kernel::ALL
            .iter()
            .filter(|k| k.module() == *module)
            .map(|k| k.entry())
            .collect();
        let found: BTreeSet<String> = entries(module.ptx()).into_iter().map(|(n, _)| n).collect();
        let found: BTreeSet<&str> = found.iter().map(String::as_str).collect();
        assert_eq!(found, named, "kernels/{}.cu vs decl.rs", module.name());
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
    let sources: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("kernels/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "cu"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    let modules: BTreeSet<String> = Module::ALL.iter().map(|m| m.name().to_owned()).collect();
    assert_eq!(
        sources, modules,
        "kernels/*.cu and decl.rs's modules differ"
    );
    let entries: BTreeSet<&str> = Kernel::ALL.iter().map(|k| k.entry()).collect();
    assert_eq!(entries.len(), Kernel::ALL.len(), "duplicate entry name");
}

fn version(v: &str) -> (u32, u32) {
    let (major, minor) = v
        .split_once('.')
        .unwrap_or_else(|| panic!("bad version {v:?}"));
    let num = |s: &str| s.parse().unwrap_or_else(|_| panic!("bad version {v:?}"));
    (num(major), num(minor))
}

#[test]
fn ptx_is_the_pinned_isa_version_and_target() {
    let directive = |ptx: &'static str, d: &str| {
        ptx.lines()
            .find_map(|l| l.trim().strip_prefix(d).map(str::trim))
    };
    let max = version(pin("PTX_ISA_MAX"));
    let arch = pin("PTX_ARCH");
    let target = format!(
        "sm_{}",
        arch.strip_prefix("compute_")
            .unwrap_or_else(|| panic!("PTX_ARCH={arch} is not compute_XX"))
    );
    for module in Module::ALL {
        let ptx = module.ptx();
        let name = module.name();
        let v = directive(ptx, ".version").unwrap_or_else(|| panic!("{name}: no .version"));
        assert!(
            version(v) <= max,
            "{name}: PTX ISA {v} is newer than {max:?}; drivers older than the pinned NVRTC \
             cannot load it"
        );
        assert_eq!(directive(ptx, ".target"), Some(target.as_str()), "{name}");
        assert_eq!(directive(ptx, ".address_size"), Some("64"), "{name}");
        assert!(!ptx.contains('\0'), "{name}: PTX contains a NUL byte");
    }
}

#[test]
fn emulator_barrier_and_shared_memory() {
    let mut rng = Rng::new(1);
    for block in [[256, 1], [16, 16], [32, 4], [1, 1], [1024, 1]] {
        let len = block[0] as usize * block[1] as usize;
        let x = rng.vec(len * 5);
        let y = emu::selftest::reverse_blocks(block, &x).unwrap();
        let want: Vec<f32> = x
            .chunks(len)
            .flat_map(|c| c.iter().rev().copied())
            .collect();
        assert_close(&format!("reverse {block:?}"), &y, &want, Tol::Bits);
    }
}

#[test]
fn emulator_reports_divergent_syncthreads() {
    for site in [false, true] {
        let e = emu::selftest::divergent(site).unwrap_err();
        assert!(e.to_string().contains("divergent __syncthreads"), "{e}");
    }
}
