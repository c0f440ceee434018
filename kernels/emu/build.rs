//! Compiles the kernels' own source (`kernels/*.cu`) as C++17 with `shim.h` force-included, into
//! one static library with the fiber scheduler (`csrc/emu.cpp`), the launcher (`csrc/glue.cpp`)
//! and the emulator's own test kernels (`csrc/selftest.cpp`).
//!
//! The same objects (compiled once, position-independent) are also linked with the CPU-backed
//! CUDA driver double (`csrc/driver/*.cpp`) into `$OUT_DIR/fakecuda/libcuda.so`, whose absolute
//! path reaches `src/driver.rs` as `TP_FAKE_CUDA_LIB`.
//!
//! What ties the kernels to tensorport's contract is generated from the one declaration,
//! `src/kernels/decl.rs`, by `kernels/gen.rs` (shared with the root build.rs): `params.cuh`, one
//! translation unit per module that includes `<module>.cu` and adds a call shim per kernel (type-
//! checked against the kernel's definition), and the table of entries and struct layouts.

use std::path::{Path, PathBuf};

#[allow(dead_code)]
mod contract {
    include!("../gen.rs");
    include!("../../src/kernels/decl.rs");
}

fn main() {
    if let Err(msg) = run() {
        eprintln!("error: {msg}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let csrc = manifest.join("csrc");
    let kernels = manifest.join("..");
    let decl = kernels.join("../src/kernels/decl.rs");

    let c = contract::contract();
    write(&out.join("params.cuh"), &contract::params_cuh(&c)?)?;
    write(&out.join("emu_table.cpp"), &contract::emu_table_cpp(&c)?)?;
    let mut units = Vec::new();
    for module in contract::modules(&c) {
        let unit = out.join(format!("emu_{module}.cpp"));
        write(&unit, &contract::emu_module_cpp(&c, module)?)?;
        units.push(unit);
        println!(
            "cargo:rerun-if-changed={}",
            kernels.join(format!("{module}.cu")).display()
        );
    }

    let mut b = cc::Build::new();
    b.cpp(true)
        .std("c++17")
        // Position-independent: the same objects go into the static library and libcuda.so.
        .pic(true)
        // The emulator is only useful fast: always optimise, even in a debug test build.
        .opt_level(2)
        // _longjmp onto another fiber's stack trips glibc's fortified longjmp check.
        .flag("-U_FORTIFY_SOURCE")
        .flag("-include")
        .flag(path_str(&csrc.join("shim.h")))
        // The generated params.cuh first, so `#include "params.cuh"` finds it.
        .include(&out)
        .include(&kernels)
        .include(&csrc)
        .warnings(true)
        .extra_warnings(true);
    for f in &units {
        b.file(f);
    }
    b.file(out.join("emu_table.cpp"))
        .file(csrc.join("emu.cpp"))
        .file(csrc.join("glue.cpp"))
        .file(csrc.join("selftest.cpp"));
    // Compiled once; archived here for the Rust side and linked below into the driver double.
    let emu_objects = b.compile_intermediates();
    archive(&b, &out.join("libtensorport_emu.a"), &emu_objects)?;
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=tensorport_emu");
    println!("cargo:rustc-link-lib=stdc++");

    let lib = fake_cuda(&out, &csrc, &emu_objects)?;
    println!("cargo:rustc-env=TP_FAKE_CUDA_LIB={}", lib.display());

    for f in [
        decl,
        kernels.join("gen.rs"),
        kernels.join("common.cuh"),
        kernels.join("broadcast.cuh"),
        kernels.join("gemm_tile.cuh"),
        kernels.join("conv_epilogue.cuh"),
        csrc.join("shim.h"),
        csrc.join("emu.h"),
        csrc.join("table.h"),
        csrc.join("emu.cpp"),
        csrc.join("glue.cpp"),
        csrc.join("selftest.cpp"),
        csrc.join("driver"),
    ] {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    Ok(())
}

/// The driver double's sources, in `csrc/driver/` (see `src/driver.rs`).
const DRIVER_SOURCES: [&str; 7] = [
    "init.cpp",
    "graph.cpp",
    "stream.cpp",
    "memory.cpp",
    "copy.cpp",
    "module.cpp",
    "control.cpp",
];

/// Compiles the driver double and links it with the emulator's objects into
/// `$OUT_DIR/fakecuda/libcuda.so` (SONAME `libcuda.so`, exporting only `cu*` and `tpfake_*`).
fn fake_cuda(out: &Path, csrc: &Path, emu_objects: &[PathBuf]) -> Result<PathBuf, String> {
    let driver = csrc.join("driver");
    let mut d = cc::Build::new();
    d.cpp(true)
        .std("c++17")
        .pic(true)
        .opt_level(2)
        .flag("-fvisibility=hidden")
        .flag("-pthread")
        .include(csrc)
        .warnings(true)
        .extra_warnings(true);
    for f in DRIVER_SOURCES {
        d.file(driver.join(f));
    }
    let mut objects = d.compile_intermediates();
    objects.extend_from_slice(emu_objects);

    let dir = out.join("fakecuda");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let lib = dir.join("libcuda.so");
    let mut cmd = std::process::Command::new(d.get_compiler().path());
    cmd.arg("-shared")
        .arg("-o")
        .arg(&lib)
        .arg("-Wl,-soname,libcuda.so")
        .arg("-Wl,-Bsymbolic")
        .arg(format!(
            "-Wl,--version-script={}",
            path_str(&driver.join("exports.map"))
        ))
        .arg("-pthread")
        .args(&objects);
    let status = cmd
        .status()
        .map_err(|e| format!("running the linker for {}: {e}", lib.display()))?;
    if !status.success() {
        return Err(format!("linking {} failed ({status})", lib.display()));
    }
    Ok(lib)
}

/// `ar crs` with cc's archiver: the static library cc's `compile()` would have made.
fn archive(b: &cc::Build, lib: &Path, objects: &[PathBuf]) -> Result<(), String> {
    let _ = std::fs::remove_file(lib);
    let mut cmd = b.get_archiver();
    cmd.arg("crs").arg(lib).args(objects);
    let status = cmd
        .status()
        .map_err(|e| format!("running the archiver for {}: {e}", lib.display()))?;
    if !status.success() {
        return Err(format!("archiving {} failed ({status})", lib.display()));
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
