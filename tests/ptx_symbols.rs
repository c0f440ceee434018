//! The embedded PTX matches `src/kernels.rs`: every `Kernel` is an `.entry` of its module, every
//! `.entry` is a `Kernel`, every `kernels/*.cu` is a `Module`, and the PTX is the pinned ISA
//! version and target (`kernels/cuda-tools.env`), so drivers R550 and newer can load it.
//! A typo in a kernel name fails here, not at the first launch on a GPU.

use std::collections::BTreeSet;

use tensorport::kernels::{Kernel, Module};

const PINS: &str = include_str!("../kernels/cuda-tools.env");

fn pin(key: &str) -> &'static str {
    PINS.lines()
        .filter_map(|l| l.trim().split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
        .unwrap_or_else(|| panic!("kernels/cuda-tools.env has no {key}= line"))
}

/// The names of the `.entry` directives (kernels) in a PTX module.
fn entries(ptx: &str) -> BTreeSet<&str> {
    ptx.lines()
        .filter_map(|l| l.split_once(".entry "))
        .map(|(_, rest)| rest.split('(').next().unwrap_or(rest).trim())
        .collect()
}

/// The operand of the first line that starts with `directive`, e.g. `.version 8.4` -> `8.4`.
fn directive<'a>(ptx: &'a str, directive: &str) -> Option<&'a str> {
    ptx.lines()
        .find_map(|l| l.trim().strip_prefix(directive))
        .map(str::trim)
}

fn version(v: &str) -> (u32, u32) {
    let (major, minor) = v
        .split_once('.')
        .unwrap_or_else(|| panic!("bad version {v:?}"));
    let num = |s: &str| s.parse().unwrap_or_else(|_| panic!("bad version {v:?}"));
    (num(major), num(minor))
}

#[test]
fn every_kernel_is_an_entry_of_its_module() {
    for kernel in Kernel::ALL {
        let ptx = kernel.module().ptx();
        let declared = format!(".entry {}(", kernel.name());
        assert!(
            ptx.contains(&declared),
            "{kernel:?}: module {} has no `{declared}`; its entries are {:?}",
            kernel.module().name(),
            entries(ptx)
        );
    }
}

#[test]
fn every_entry_is_a_kernel() {
    for module in Module::ALL {
        let named: BTreeSet<&str> = Kernel::ALL
            .iter()
            .filter(|k| k.module() == module)
            .map(|k| k.name())
            .collect();
        assert_eq!(
            entries(module.ptx()),
            named,
            "kernels/{}.cu defines other kernels than src/kernels.rs lists for {module:?}",
            module.name()
        );
    }
}

#[test]
fn names_are_unique_and_every_source_file_is_a_module() {
    let kernels: BTreeSet<&str> = Kernel::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(kernels.len(), Kernel::ALL.len(), "duplicate kernel name");
    let modules: BTreeSet<&str> = Module::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(modules.len(), Module::ALL.len(), "duplicate module name");
    for kernel in Kernel::ALL {
        assert!(Module::ALL.contains(&kernel.module()), "{kernel:?}");
    }

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels");
    let sources: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("kernels/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "cu"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    let modules: BTreeSet<String> = modules.into_iter().map(str::to_owned).collect();
    assert_eq!(sources, modules, "kernels/*.cu and Module::ALL differ");
}

#[test]
fn ptx_is_the_pinned_isa_version_and_target() {
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
            "{name}: PTX ISA {v} is newer than {max:?}; drivers older than the pinned NVRTC cannot load it"
        );
        assert_eq!(directive(ptx, ".target"), Some(target.as_str()), "{name}");
        assert_eq!(directive(ptx, ".address_size"), Some("64"), "{name}");
        assert!(!ptx.contains('\0'), "{name}: PTX contains a NUL byte");
    }
}
