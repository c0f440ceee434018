//! Compiles every `kernels/*.cu` as C++17 with `shim.h` force-included, plus the fiber scheduler
//! (`csrc/emu.cpp`), the per-kernel entry points (`csrc/glue.cpp`) and the emulator's own test
//! kernels (`csrc/selftest.cpp`), into one static library.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let csrc = manifest.join("csrc");
    let kernels = manifest.join("..");
    let mut cu: Vec<PathBuf> = std::fs::read_dir(&kernels)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "cu" || x == "cuh"))
                .collect()
        })
        .unwrap_or_default();
    cu.sort();

    let mut b = cc::Build::new();
    b.cpp(true)
        .std("c++17")
        // The emulator is only useful fast: always optimise, even in a debug test build.
        .opt_level(2)
        // _longjmp onto another fiber's stack trips glibc's fortified longjmp check.
        .flag("-U_FORTIFY_SOURCE")
        .flag("-include")
        .flag(path_str(&csrc.join("shim.h")))
        .include(&kernels)
        .include(&csrc)
        .warnings(true)
        .extra_warnings(true)
        // `-x c++` makes g++ read the following .cu files as C++ rather than as linker input.
        .flag("-x")
        .flag("c++");
    for f in cu
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "cu"))
    {
        b.file(f);
    }
    b.file(csrc.join("emu.cpp"))
        .file(csrc.join("glue.cpp"))
        .file(csrc.join("selftest.cpp"));
    b.compile("tensorport_emu");

    for f in cu.iter().chain(
        [
            csrc.join("shim.h"),
            csrc.join("emu.h"),
            csrc.join("emu.cpp"),
            csrc.join("glue.cpp"),
            csrc.join("selftest.cpp"),
        ]
        .iter(),
    ) {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    println!("cargo:rerun-if-changed={}", kernels.display());
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
