//! safetensors against the reference Python package (`safetensors.torch`), both ways and
//! bit-exact: `tensorport convert` of a torch.save file writes the very bytes `save_file` /
//! `save_model` write for it; Python's `load_file` reads our files back to the same tensors and
//! metadata; our `.pt` made from Python's `.safetensors` is, for torch.load, the original state
//! dict (tied weights tied again); a `.pt2`'s weights match `ExportedProgram.state_dict`.
//! Needs a python with torch and safetensors (see tests/common); with TENSORPORT_REQUIRE_TORCH=1
//! a missing one fails.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;

use common::torch_python;
use serde_json::Value as Json;

fn tensorport(args: &[&std::ffi::OsStr]) {
    let out = Command::new(env!("CARGO_BIN_EXE_tensorport"))
        .args(args)
        .output()
        .expect("running tensorport");
    assert!(
        out.status.success(),
        "tensorport {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn python_with_safetensors() -> Option<std::path::PathBuf> {
    let py = torch_python()?;
    let ok = Command::new(&py)
        .args(["-c", "import safetensors.torch"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var("TENSORPORT_REQUIRE_TORCH").as_deref() == Ok("1") {
        panic!("TENSORPORT_REQUIRE_TORCH=1 but {py:?} lacks the safetensors package");
    }
    ok.then_some(py)
}

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/safetensors_check.py")
}

#[test]
fn safetensors_round_trips_with_the_python_package() {
    let Some(py) = python_with_safetensors() else {
        eprintln!("skipped: no python with torch and safetensors");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let made = Command::new(&py).arg(script()).arg("make").arg(d).status();
    assert!(made.is_ok_and(|s| s.success()), "the generator failed");
    let cases: Json =
        serde_json::from_slice(&std::fs::read(d.join("cases.json")).unwrap()).unwrap();
    let f = |name: &str| d.join(name).into_os_string();
    for case in cases.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let ours = f(&format!("{name}.ours.safetensors"));
        let mut args = vec!["convert".into(), f(&format!("{name}.pt")), ours.clone()];
        if case["kind"] == "save_file" {
            args.extend(["--metadata".into(), "format=pt".into()]);
        }
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        tensorport(&refs);
        // At most one metadata entry in these cases, so the reference's header order (a hash
        // map's) is fixed and the files can be compared byte for byte.
        assert_eq!(
            std::fs::read(&ours).unwrap(),
            std::fs::read(d.join(format!("{name}.ref.safetensors"))).unwrap(),
            "{name}: our bytes differ from safetensors.torch's"
        );
        tensorport(&[
            "convert".as_ref(),
            &f(&format!("{name}.ref.safetensors")),
            &f(&format!("{name}.back.pt")),
        ]);
    }
    tensorport(&[
        "convert".as_ref(),
        &f("training.pt"),
        &f("training.ours.safetensors"),
        "--key".as_ref(),
        "model_state_dict".as_ref(),
    ]);
    let out = Command::new(&py)
        .arg(script())
        .arg("check")
        .arg(d)
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "python disagrees:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pt2_weights_match_the_exported_programs_state_dict() {
    let Some(py) = python_with_safetensors() else {
        eprintln!("skipped: no python with torch and safetensors");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pt2");
    for model in ["net.pt2", "tinyres.pt2"] {
        let pt2 = fixtures.join(model);
        let st = dir.path().join(format!("{model}.safetensors"));
        let pt = dir.path().join(format!("{model}.pt"));
        tensorport(&["convert".as_ref(), pt2.as_os_str(), st.as_os_str()]);
        tensorport(&["convert".as_ref(), pt2.as_os_str(), pt.as_os_str()]);
        let check = format!(
            "import torch, sys\n\
             from safetensors.torch import load_file\n\
             ep = torch.export.load(sys.argv[1])\n\
             want = {{**ep.state_dict, **ep.constants}}\n\
             for got in (load_file(sys.argv[2]), torch.load(sys.argv[3], weights_only=True)):\n\
             \x20   assert list(sorted(got)) == list(sorted(want)), (sorted(got), sorted(want))\n\
             \x20   for k, v in want.items():\n\
             \x20       assert got[k].dtype == v.dtype and torch.equal(got[k], v), k\n\
             print('OK {model}')\n"
        );
        let out = Command::new(&py)
            .args(["-c", &check])
            .arg(&pt2)
            .arg(&st)
            .arg(&pt)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{model}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
