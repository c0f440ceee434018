//! Puts `$OUT_DIR/<stem>.ptx` in place for every `kernels/*.cu`; `src/kernels/mod.rs` embeds them.
//!
//! The kernels include `params.cuh`, which is generated here (into `$OUT_DIR/include`) from the
//! one declaration of the kernel contract, `src/kernels/decl.rs`, by `kernels/gen.rs`; every
//! module that file names must have its `kernels/<module>.cu` and every `.cu` a module there.
//!
//! With NVRTC the PTX is compiled fresh; without it the committed `kernels/ptx/<stem>.ptx` is
//! copied, with a `cargo:warning`. NVRTC output is byte-for-byte deterministic, so
//! `.ci/check_ptx.sh` recompiles and fails when the committed copy is stale.
//!
//! NVRTC is `$TENSORPORT_NVRTC` (a path to `libnvrtc.so.12`; when set, NVRTC is required) or
//! else `.tools/cuda/nvidia/cuda_nvrtc/lib/libnvrtc.so.12` (`scripts/install_cuda_tools.sh`).
//! The tool versions and the target architecture are pinned in `kernels/cuda-tools.env`.
//!
//! Other variables: `TENSORPORT_WRITE_PTX=1` writes the fresh PTX back into `kernels/ptx/` (how
//! the committed copy is refreshed); `TENSORPORT_PTX_OUT=DIR` also copies the PTX into DIR (CI).
//!
//! A build script reports failure by exiting non-zero; every error names the file and the fix.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, CString};
use std::path::{Path, PathBuf};
use std::{env, fs};

use cudarc::nvrtc::{result as nvrtc, sys as nvrtc_sys};

#[allow(dead_code)]
mod contract {
    include!("kernels/gen.rs");
    include!("src/kernels/decl.rs");
}

/// Where `scripts/install_cuda_tools.sh` puts NVRTC, relative to the crate root.
const DEFAULT_NVRTC: &str = ".tools/cuda/nvidia/cuda_nvrtc/lib/libnvrtc.so.12";
const ENV_VARS: [&str; 3] = [
    "TENSORPORT_NVRTC",
    "TENSORPORT_WRITE_PTX",
    "TENSORPORT_PTX_OUT",
];

type BuildResult<T> = Result<T, String>;

fn main() {
    if let Err(msg) = run() {
        eprintln!("error: {msg}");
        std::process::exit(1);
    }
}

fn run() -> BuildResult<()> {
    let root = PathBuf::from(env_var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env_var("OUT_DIR")?);
    let kernels = root.join("kernels");
    let committed = kernels.join("ptx");
    for var in ENV_VARS {
        println!("cargo:rerun-if-env-changed={var}");
    }
    // Not the whole kernels/ folder: that would include the emulator crate in kernels/emu/.
    // Adding or removing a kernels/*.cu always edits src/kernels/decl.rs (which names every
    // module), so watching it reruns this script for new and deleted sources.
    rerun_if_changed(&root.join("src/kernels/decl.rs"));
    rerun_if_changed(&kernels.join("gen.rs"));
    rerun_if_changed(&committed);
    let pins_file = kernels.join("cuda-tools.env");
    rerun_if_changed(&pins_file);
    let pins = read_pins(&pins_file)?;
    let arch = pin(&pins, "PTX_ARCH", &pins_file)?;

    let sources = kernel_sources(&kernels)?;
    let c = contract::contract();
    check_modules(&sources, &contract::modules(&c))?;
    let include = out_dir.join("include");
    fs::create_dir_all(&include).map_err(|e| format!("creating {}: {e}", include.display()))?;
    write_if_changed(&include.join("params.cuh"), &contract::params_cuh(&c)?)?;
    let write_back = env::var("TENSORPORT_WRITE_PTX").is_ok_and(|v| v == "1");
    let ptx_out = env::var_os("TENSORPORT_PTX_OUT")
        .filter(|v| !v.is_empty())
        .map(|v| root.join(v));

    let mut produced = Vec::new();
    match load_nvrtc(&root, pin(&pins, "NVRTC_VERSION", &pins_file)?)? {
        Ok(_nvrtc) => {
            // `_nvrtc` keeps the library loaded while cudarc calls into it.
            for src in &sources {
                let ptx = compile(src, &[&kernels, &include], arch)?;
                let name = ptx_name(src)?;
                write_if_changed(&out_dir.join(&name), &ptx)?;
                if write_back {
                    write_if_changed(&committed.join(&name), &ptx)?;
                }
                produced.push((name, ptx));
            }
            if write_back {
                remove_stale(&committed, &produced)?;
            }
        }
        Err(why) => {
            if write_back {
                return Err(format!(
                    "TENSORPORT_WRITE_PTX=1 needs NVRTC, but NVRTC was not found ({why})"
                ));
            }
            println!(
                "cargo:warning=NVRTC not found ({why}): using the committed PTX in kernels/ptx/"
            );
            let mut missing = Vec::new();
            for src in &sources {
                let name = ptx_name(src)?;
                match fs::read_to_string(committed.join(&name)) {
                    Ok(ptx) => {
                        write_if_changed(&out_dir.join(&name), &ptx)?;
                        produced.push((name, ptx));
                    }
                    Err(_) => missing.push(format!("kernels/ptx/{name}")),
                }
            }
            if !missing.is_empty() {
                return Err(format!(
                    "no PTX for {}: NVRTC is not available ({why}) and the committed PTX is \
                     missing. Run scripts/install_cuda_tools.sh (or set TENSORPORT_NVRTC to a \
                     libnvrtc.so.12), then build with TENSORPORT_WRITE_PTX=1 and commit kernels/ptx/",
                    missing.join(", ")
                ));
            }
        }
    }
    if let Some(dir) = ptx_out {
        fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        for (name, ptx) in &produced {
            write_if_changed(&dir.join(name), ptx)?;
        }
    }
    Ok(())
}

fn env_var(name: &str) -> BuildResult<String> {
    env::var(name).map_err(|e| format!("{name}: {e} (build.rs runs under cargo)"))
}

fn rerun_if_changed(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}

/// `KEY=VALUE` lines of `kernels/cuda-tools.env` (a file the shell scripts `source` too).
fn read_pins(path: &Path) -> BuildResult<BTreeMap<String, String>> {
    let text = fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

fn pin<'a>(pins: &'a BTreeMap<String, String>, key: &str, file: &Path) -> BuildResult<&'a str> {
    pins.get(key)
        .map(String::as_str)
        .ok_or_else(|| format!("{} has no {key}=... line", file.display()))
}

/// Every `kernels/*.cu`, sorted; also watches each `.cu` and `.cuh` there.
fn kernel_sources(kernels: &Path) -> BuildResult<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(kernels).map_err(|e| format!("reading {}: {e}", kernels.display()))? {
        files.push(
            entry
                .map_err(|e| format!("reading {}: {e}", kernels.display()))?
                .path(),
        );
    }
    files.sort();
    let ext = |p: &Path, want: &str| p.extension().is_some_and(|e| e == want);
    for file in files.iter().filter(|p| ext(p, "cu") || ext(p, "cuh")) {
        rerun_if_changed(file);
    }
    let sources: Vec<PathBuf> = files.into_iter().filter(|p| ext(p, "cu")).collect();
    if sources.is_empty() {
        return Err(format!("no kernel sources (*.cu) in {}", kernels.display()));
    }
    Ok(sources)
}

/// Every `kernels/*.cu` is a module of src/kernels/decl.rs and every module there has its `.cu`.
fn check_modules(sources: &[PathBuf], modules: &[&str]) -> BuildResult<()> {
    let stems: Vec<String> = sources
        .iter()
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
        .collect();
    for m in modules {
        if !stems.iter().any(|s| s == m) {
            return Err(format!(
                "src/kernels/decl.rs declares module {m}, but there is no kernels/{m}.cu"
            ));
        }
    }
    for s in &stems {
        if !modules.contains(&s.as_str()) {
            return Err(format!(
                "kernels/{s}.cu has no `module {s}` in src/kernels/decl.rs: declare its kernels there"
            ));
        }
    }
    Ok(())
}

fn ptx_name(src: &Path) -> BuildResult<String> {
    src.file_stem()
        .and_then(|s| s.to_str())
        .map(|s| format!("{s}.ptx"))
        .ok_or_else(|| format!("kernel file name is not UTF-8: {}", src.display()))
}

/// The loaded NVRTC library, kept open for as long as cudarc uses it.
struct Nvrtc {
    _lib: libloading::Library,
}

/// `Ok(Err(why))` when there is no usable NVRTC and the committed PTX should be used;
/// `Err` when NVRTC was asked for explicitly and cannot be used.
fn load_nvrtc(root: &Path, pinned: &str) -> BuildResult<Result<Nvrtc, String>> {
    let (path, explicit) = match env::var_os("TENSORPORT_NVRTC") {
        Some(p) if !p.is_empty() => (root.join(p), true),
        _ => (root.join(DEFAULT_NVRTC), false),
    };
    if !path.is_file() {
        let why = format!("{} does not exist", path.display());
        return if explicit {
            Err(format!("TENSORPORT_NVRTC: {why}"))
        } else {
            // No rerun-if-changed on a missing file (cargo would rerun every build);
            // scripts/install_cuda_tools.sh touches kernels/cuda-tools.env instead.
            Ok(Err(format!(
                "no TENSORPORT_NVRTC and {why}; run scripts/install_cuda_tools.sh"
            )))
        };
    }
    rerun_if_changed(&path);
    match open_nvrtc(&path, pinned) {
        Ok(nvrtc) => Ok(Ok(nvrtc)),
        Err(why) if explicit => Err(format!("TENSORPORT_NVRTC: {why}")),
        Err(why) => Ok(Err(why)),
    }
}

fn open_nvrtc(path: &Path, pinned: &str) -> BuildResult<Nvrtc> {
    // SAFETY: loading NVRTC runs only its initialisers, which have no preconditions. Loading it
    // by absolute path first makes cudarc's later dlopen("libnvrtc.so.12") match it by SONAME.
    let lib = unsafe { libloading::Library::new(path) }
        .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
    type VersionFn = unsafe extern "C" fn(*mut c_int, *mut c_int) -> c_int;
    // SAFETY: nvrtcVersion has this signature in every NVRTC release.
    let ours = unsafe { lib.get::<VersionFn>(b"nvrtcVersion\0") }
        .map_err(|e| format!("{} is not NVRTC: {e}", path.display()))?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: both pointers are valid for writes.
    unsafe { ours(&mut major, &mut minor) };
    // cudarc opens NVRTC by bare names, the unversioned `libnvrtc.so` first; check it found ours.
    let (mut c_major, mut c_minor) = (0, 0);
    // SAFETY: as above; cudarc resolves the symbol in the library it opens.
    unsafe { nvrtc_sys::nvrtcVersion(&mut c_major, &mut c_minor) };
    if (c_major, c_minor) != (major, minor) {
        return Err(format!(
            "cudarc loaded NVRTC {c_major}.{c_minor}, not {major}.{minor} from {}: another \
             libnvrtc.so on the library path shadows it",
            path.display()
        ));
    }
    if !pinned.starts_with(&format!("{major}.{minor}.")) {
        println!(
            "cargo:warning=NVRTC at {} is {major}.{minor}, but kernels/cuda-tools.env pins \
             {pinned}: the PTX will differ from kernels/ptx/ (run scripts/install_cuda_tools.sh)",
            path.display()
        );
    }
    Ok(Nvrtc { _lib: lib })
}

fn c_chars_to_string(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Compiles one `.cu` file with NVRTC; its warnings become `cargo:warning` lines.
/// `include_dirs[0]` is `kernels/`, whose parent is the root that names are shown from.
fn compile(src: &Path, include_dirs: &[&Path], arch: &str) -> BuildResult<String> {
    let root = include_dirs.first().and_then(|k| k.parent());
    let shown = root.and_then(|r| src.strip_prefix(r).ok()).unwrap_or(src);
    let text = fs::read_to_string(src).map_err(|e| format!("reading {}: {e}", src.display()))?;
    let code = CString::new(text).map_err(|_| format!("{} contains a NUL byte", src.display()))?;
    let name = CString::new(shown.to_string_lossy().into_owned())
        .map_err(|_| format!("{} contains a NUL byte", src.display()))?;
    let mut options = vec![
        format!("--gpu-architecture={arch}"),
        "--std=c++14".to_owned(),
        "-default-device".to_owned(),
    ];
    options.extend(
        include_dirs
            .iter()
            .map(|d| format!("--include-path={}", d.display())),
    );
    let prog = nvrtc::create_program(&code, Some(&name)).map_err(|e| {
        format!(
            "NVRTC could not create a program for {}: {e:?}",
            src.display()
        )
    })?;
    // SAFETY: `prog` is a live program; `code` and `name` outlive it; it is destroyed once below.
    let (compiled, log, ptx) = unsafe {
        let compiled = nvrtc::compile_program(prog, &options);
        let log = nvrtc::get_program_log(prog).map(|l| c_chars_to_string(&l));
        let ptx = compiled.and_then(|()| nvrtc::get_ptx(prog));
        let _ = nvrtc::destroy_program(prog);
        (compiled, log.unwrap_or_default(), ptx)
    };
    let ptx = match (compiled, ptx) {
        (Ok(()), Ok(ptx)) => c_chars_to_string(&ptx),
        (Err(e), _) | (_, Err(e)) => {
            return Err(format!(
                "NVRTC failed to compile {} ({e:?}) with {}:\n{log}",
                shown.display(),
                options.join(" ")
            ))
        }
    };
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        println!("cargo:warning=NVRTC: {line}");
    }
    Ok(ptx)
}

/// Writes only when the content differs, so an unchanged PTX does not rebuild the crate.
fn write_if_changed(path: &Path, text: &str) -> BuildResult<()> {
    if fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// With `TENSORPORT_WRITE_PTX=1`: committed PTX whose `.cu` file is gone.
fn remove_stale(committed: &Path, produced: &[(String, String)]) -> BuildResult<()> {
    let entries =
        fs::read_dir(committed).map_err(|e| format!("reading {}: {e}", committed.display()))?;
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".ptx") && !produced.iter().any(|(p, _)| p == name) {
            fs::remove_file(&path).map_err(|e| format!("removing {}: {e}", path.display()))?;
            println!("cargo:warning=removed stale {}", path.display());
        }
    }
    Ok(())
}
