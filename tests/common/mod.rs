//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod closeness;
pub mod devices;
pub mod eltwise_fixtures;
pub mod gpu;
pub mod net;
pub mod op_fixtures;
pub mod rng;
pub mod rule;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tensorport::Checkpoint;
use tensorport_cli::describe::describe;

/// `tests/fixtures` of the repository: found from this package's directory upwards, so the CLI
/// package (`cli/`) shares the fixtures of the library's tests.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("tests/fixtures"))
        .find(|d| d.join("manifest.json").is_file())
        .expect("tests/fixtures/manifest.json above CARGO_MANIFEST_DIR")
}

pub fn manifest() -> Json {
    let path = fixtures_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("manifest.json is valid JSON")
}

/// Our description of an opened checkpoint, in describe.py's format (without storage keys,
/// which torch does not expose).
pub fn describe_checkpoint(ckpt: &Checkpoint) -> Json {
    let loc = |s: &tensorport::Storage| {
        ckpt.storage_info(s)
            .map_or_else(|| s.device().location_tag(), |i| i.location.clone())
    };
    let mut doc = describe(ckpt.value(), &loc, &|_| None).expect("describe");
    doc["ok"] = Json::Bool(true);
    doc
}

/// The first place where `ours` and `theirs` differ, as a JSON path with both sides.
pub fn first_difference(ours: &Json, theirs: &Json, path: &str) -> Option<String> {
    match (ours, theirs) {
        (Json::Object(a), Json::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    None => return Some(format!("{path}/{k}: ours has {va}, torch's has nothing")),
                    Some(vb) => {
                        if let Some(d) = first_difference(va, vb, &format!("{path}/{k}")) {
                            return Some(d);
                        }
                    }
                }
            }
            b.keys()
                .find(|k| !a.contains_key(*k))
                .map(|k| format!("{path}/{k}: torch's has {}, ours has nothing", b[k]))
        }
        (Json::Array(a), Json::Array(b)) => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                if let Some(d) = first_difference(va, vb, &format!("{path}/{i}")) {
                    return Some(d);
                }
            }
            (a.len() != b.len())
                .then(|| format!("{path}: ours has {} items, torch's {}", a.len(), b.len()))
        }
        _ => (ours != theirs).then(|| format!("{path}: ours {ours}, torch's {theirs}")),
    }
}

/// Says that a test skipped, visibly: libtest captures println!/eprintln! of passing tests,
/// but not writes to the stderr handle itself.
pub fn skip_notice(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {msg}");
}

/// A python interpreter with torch, or `None` (the caller prints that it skipped).
/// `TENSORPORT_PYTHON` names one; otherwise the cached CI venv and `python3` are tried.
/// With `TENSORPORT_REQUIRE_TORCH=1` a missing torch is a failure.
pub fn torch_python() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("TENSORPORT_PYTHON") {
        candidates.push(PathBuf::from(p));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cache/tensorport/venv/bin/python"));
    }
    candidates.push(PathBuf::from("python3"));
    for c in candidates {
        let ok = std::process::Command::new(&c)
            .args(["-c", "import torch"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return Some(c);
        }
    }
    if std::env::var("TENSORPORT_REQUIRE_TORCH").as_deref() == Ok("1") {
        panic!(
            "TENSORPORT_REQUIRE_TORCH=1 but no python with torch was found (set TENSORPORT_PYTHON)"
        );
    }
    None
}
