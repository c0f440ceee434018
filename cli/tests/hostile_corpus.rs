//! Every file of the hostile corpus (`tests/fixtures/hostile`, made by `gen_hostile.py` and
//! checked against torch 2.15) through the `tensorport` binary as a user runs it: `inspect
//! --json`, `inspect`, `convert` and `load`, each in a child process with a 4 GiB address-space
//! cap and a 60 s hang detector. Each command must exit 0 or 1 (never a signal or a panic),
//! print one error line when it fails, peak under 1 GiB of RSS, and do what the manifest
//! expects: torch's describe document for `expect: ok` files, the manifest's error kind for
//! `expect: error` files. All failures are collected and reported together.

#[path = "common/limited.rs"]
mod limited;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use limited::{Ending, Outcome};
use serde_json::Value as Json;

const ADDRESS_SPACE: u64 = 4 << 30;
const MAX_RSS: u64 = 1 << 30;
const HANG: Duration = Duration::from_secs(60);

fn hostile_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/hostile")
}

fn manifest() -> Json {
    let text = std::fs::read_to_string(hostile_dir().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest JSON")
}

fn tensorport(args: &[OsString]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tensorport"));
    c.args(args);
    c
}

/// Whether the binary has the `load` command (it must).
fn has_load_command() -> bool {
    let out = tensorport(&["--help".into()])
        .output()
        .expect("tensorport --help");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim_start().starts_with("load "))
}

/// The first place where two JSON values differ, as a readable path. Equal subtrees are
/// skipped with one comparison, so that paths are built only along the difference.
fn first_difference(ours: &Json, theirs: &Json, path: &str) -> Option<String> {
    if ours == theirs {
        return None;
    }
    let show = |v: Option<&Json>| v.map_or_else(|| "nothing".to_string(), Json::to_string);
    match (ours, theirs) {
        (Json::Object(a), Json::Object(b)) => {
            a.keys()
                .chain(b.keys())
                .find_map(|k| match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => first_difference(x, y, &format!("{path}.{k}")),
                    (x, y) => Some(format!("{path}.{k}: ours {}, torch {}", show(x), show(y))),
                })
        }
        (Json::Array(a), Json::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &format!("{path}[{i}]"))),
        (Json::Array(a), Json::Array(b)) => Some(format!(
            "{path}: {} elements, torch has {}",
            a.len(),
            b.len()
        )),
        _ => Some(format!("{path}: ours {ours}, torch {theirs}")),
    }
}

/// The describe document `inspect --json` printed, without the fields torch's has not.
fn our_document(stdout: &[u8]) -> Result<Json, String> {
    let text = std::str::from_utf8(stdout).map_err(|_| "stdout is not UTF-8".to_string())?;
    let mut doc: Json =
        serde_json::from_str(text.trim_end()).map_err(|e| format!("not one JSON document: {e}"))?;
    if let Some(ts) = doc.get_mut("tensors").and_then(Json::as_array_mut) {
        for t in ts {
            if let Some(t) = t.as_object_mut() {
                t.remove("storage_key");
            }
        }
    }
    Ok(doc)
}

fn compare_with_torch(doc: &Json, want: &Json) -> Option<String> {
    if doc["ok"] != true {
        return Some(format!("printed ok = {}: {}", doc["ok"], doc["error"]));
    }
    for part in ["structure", "tensors"] {
        if let Some(d) = first_difference(&doc[part], &want[part], part) {
            return Some(format!("differs from torch at {d}"));
        }
    }
    None
}

/// Whether the command ended as a hostile file allows, whatever it was asked to do.
fn survival(o: &Outcome) -> Option<String> {
    let err = String::from_utf8_lossy(&o.stderr);
    let problem = match o.ending {
        Ending::Hung => format!("still running after {} s (hang)", HANG.as_secs()),
        Ending::Signaled(s) => format!("killed by signal {s}"),
        Ending::Exited(101) => "panicked (exit 101)".to_string(),
        Ending::Exited(0 | 1) if err.contains("panicked") => "printed a panic".to_string(),
        Ending::Exited(0 | 1) if o.peak_rss > MAX_RSS => {
            format!("peak RSS {} MiB", o.peak_rss >> 20)
        }
        Ending::Exited(0 | 1) => return None,
        Ending::Exited(c) => format!("exit status {c}"),
    };
    let last = err
        .lines()
        .last()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    Some(format!("{problem}; stderr ends: {last}"))
}

/// One command's verdict against the manifest's expectation ("ok" or "error").
fn check(cmd: &str, o: &Outcome, want: &str, spec: &Json) -> Option<String> {
    if let Some(p) = survival(o) {
        return Some(p);
    }
    let code = match o.ending {
        Ending::Exited(c) => c,
        _ => unreachable!("survival() accepts only exits"),
    };
    let err = String::from_utf8_lossy(&o.stderr);
    if code == 1 && cmd != "inspect_json" {
        let lines = err.lines().count();
        if lines != 1 || !err.starts_with("error: ") {
            return Some(format!("failed with {lines} stderr lines: {err:.300}"));
        }
    }
    let first_err = err
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect::<String>();
    match (want, code) {
        ("ok", 1) => return Some(format!("refused a file torch loads: {first_err}")),
        ("error", 0) => {
            return Some(format!(
                "accepted a file it must refuse with {}",
                spec["kind"].as_str().unwrap_or("an error")
            ))
        }
        _ => {}
    }
    if cmd != "inspect_json" {
        return None;
    }
    if o.stdout_len > o.stdout.len() as u64 {
        return Some(format!("printed {} bytes of JSON", o.stdout_len));
    }
    let doc = match our_document(&o.stdout) {
        Ok(d) => d,
        Err(e) => return Some(e),
    };
    if want == "error" {
        let kind = &doc["error"]["kind"];
        if doc["ok"] != false || kind != &spec["kind"] {
            return Some(format!(
                "refused with kind {kind}, the manifest wants {}: {}",
                spec["kind"], doc["error"]["message"]
            ));
        }
        return None;
    }
    match spec.get("describe") {
        Some(want) if !spec["describe"].is_null() => compare_with_torch(&doc, want),
        _ => None,
    }
}

struct Job<'a> {
    name: &'a str,
    spec: &'a Json,
    with_load: bool,
}

fn run_file(job: &Job<'_>, scratch: &Path) -> Vec<String> {
    let file = hostile_dir().join(job.name);
    let out = scratch.join(job.name.replace('/', "_"));
    let mut cmds: Vec<(&str, Vec<OsString>)> = vec![
        (
            "inspect_json",
            vec!["inspect".into(), file.clone().into(), "--json".into()],
        ),
        ("inspect", vec!["inspect".into(), file.clone().into()]),
        (
            "convert",
            vec!["convert".into(), file.clone().into(), out.clone().into()],
        ),
    ];
    if job.with_load {
        cmds.push((
            "load",
            vec![
                "load".into(),
                file.clone().into(),
                "--map-location".into(),
                "cpu".into(),
            ],
        ));
    }
    let expect = job.spec["expect"].as_str().unwrap_or("?");
    let mut failures = Vec::new();
    for (cmd, args) in cmds {
        let want = job.spec["commands"][cmd].as_str().unwrap_or(expect);
        let o = match limited::run(tensorport(&args), ADDRESS_SPACE, HANG) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{}: {cmd}: could not run: {e}", job.name));
                continue;
            }
        };
        if let Some(f) = check(cmd, &o, want, job.spec) {
            let (secs, mib) = (o.wall.as_secs_f64(), o.peak_rss >> 20);
            failures.push(format!("{}: {cmd}: {f} [{secs:.1} s, {mib} MiB]", job.name));
        } else if cmd == "convert" && want == "ok" {
            failures.extend(check_converted(job, &out));
        }
        let _ = std::fs::remove_file(&out);
    }
    failures
}

/// What convert wrote must read back as the original: torch's document, when it is known.
fn check_converted(job: &Job<'_>, out: &Path) -> Option<String> {
    let want = job.spec.get("describe").filter(|d| !d.is_null())?;
    let args = [
        "inspect".into(),
        out.as_os_str().to_owned(),
        "--json".into(),
    ];
    let o = match limited::run(tensorport(&args), ADDRESS_SPACE, HANG) {
        Ok(o) => o,
        Err(e) => return Some(format!("{}: convert: could not inspect: {e}", job.name)),
    };
    let f = check("inspect_json", &o, "ok", job.spec).or_else(|| {
        let doc = our_document(&o.stdout).ok()?;
        compare_with_torch(&doc, want)
    });
    f.map(|f| format!("{}: convert: its output, inspected: {f}", job.name))
}

#[test]
fn hostile_corpus_under_process_limits() {
    let m = manifest();
    let files = m["files"].as_object().expect("files");
    assert!(
        files.len() >= 110,
        "only {} files in the manifest",
        files.len()
    );
    // Every command is checked: a binary without `load` fails here rather than skipping it.
    let with_load = has_load_command();
    assert!(with_load, "this tensorport has no `load` command");
    let scratch = tempfile::tempdir().expect("tempdir");
    let jobs: Vec<Job<'_>> = files
        .iter()
        .map(|(name, spec)| Job {
            name,
            spec,
            with_load,
        })
        .collect();
    let next = Mutex::new(0usize);
    let failures = Mutex::new(Vec::new());
    // Two files at a time: each child may use up to 4 GiB of address space and 1 GiB of RSS.
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().expect("counter");
                    *n += 1;
                    *n - 1
                };
                let Some(job) = jobs.get(i) else { break };
                let f = run_file(job, scratch.path());
                failures.lock().expect("failures").extend(f);
            });
        }
    });
    let mut failures = failures.into_inner().expect("failures");
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} failures over {} files:\n{}",
        failures.len(),
        jobs.len(),
        failures.join("\n")
    );
}
