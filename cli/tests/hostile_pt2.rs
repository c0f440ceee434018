//! Every hostile `.pt2` archive of `tests/fixtures/hostile_pt2/` (gen_hostile_pt2.py) through
//! `inspect`, `inspect --json` and `run`, each in a child process with a 4 GiB address-space
//! limit and a kill after 60 s (a hang detector, not a timing test): the command exits 0 or 1,
//! an error is one line, peak RSS stays under 1 GiB, and the manifest's `expect` holds.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

const ADDRESS_SPACE: u64 = 4 << 30;
const MAX_RSS: u64 = 1 << 30;
const KILL_AFTER: Duration = Duration::from_secs(60);

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/hostile_pt2")
}

struct Outcome {
    /// The exit code, or `None` when a signal ended the child (a crash, or our kill).
    code: Option<i32>,
    signal: Option<i32>,
    killed: bool,
    stdout: String,
    stderr: String,
    peak_rss: u64,
}

/// Runs the command under the limits; the child's pipes are drained by threads so that a
/// chatty child cannot block on a full pipe. The child is reaped by `wait4` (which also gives
/// its peak RSS), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn limited(args: &[&std::ffi::OsStr]) -> Outcome {
    // TENSORPORT_BIN runs the corpus against another build (an older one, to see what it fails).
    let bin = std::env::var_os("TENSORPORT_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_tensorport")),
        PathBuf::from,
    );
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: ADDRESS_SPACE,
                rlim_max: ADDRESS_SPACE,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawning tensorport");
    let pid = child.id() as libc::pid_t;
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(child.stdout.take().map(|r| Box::new(r) as _));
    let err = drain(child.stderr.take().map(|r| Box::new(r) as _));
    let start = Instant::now();
    let mut killed = false;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: a zeroed rusage is a valid out-parameter.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child; WNOHANG makes this a poll.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break (status, usage);
        }
        assert!(r == 0, "wait4 failed: {}", std::io::Error::last_os_error());
        if !killed && start.elapsed() > KILL_AFTER {
            // SAFETY: signalling our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let exited = libc::WIFEXITED(status);
    Outcome {
        code: exited.then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        killed,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        // ru_maxrss is in KiB on Linux.
        peak_rss: (usage.ru_maxrss.max(0) as u64) * 1024,
    }
}

/// What is wrong with `o` for a command that must end as `expect` ("ok" or "error"); empty
/// when nothing is.
fn problems(o: &Outcome, expect: &str, json: bool) -> Vec<String> {
    let mut p = Vec::new();
    if o.killed {
        p.push(format!(
            "still running after {}s (killed)",
            KILL_AFTER.as_secs()
        ));
    } else if let Some(s) = o.signal {
        p.push(format!("killed by signal {s} (a crash or an abort)"));
    }
    match o.code {
        Some(0) if expect == "ok" => {}
        Some(1) if expect == "error" => {}
        Some(c @ (0 | 1)) => p.push(format!("exit {c}, expected {expect}")),
        Some(c) => p.push(format!("exit {c} (only 0 and 1 are allowed)")),
        None => {}
    }
    if o.peak_rss >= MAX_RSS {
        p.push(format!("peak RSS {} MiB", o.peak_rss >> 20));
    }
    if o.code == Some(1) {
        if json {
            let doc: Option<Json> = serde_json::from_str(o.stdout.trim()).ok();
            let ok = doc.as_ref().and_then(|d| d.get("ok")) == Some(&Json::Bool(false));
            let msg = doc
                .as_ref()
                .and_then(|d| d["error"]["message"].as_str())
                .unwrap_or("");
            if !ok || o.stdout.trim().lines().count() != 1 || msg.contains('\n') {
                p.push(format!(
                    "an error is not one JSON line: {:?}",
                    truncate(&o.stdout)
                ));
            }
        } else {
            let lines: Vec<&str> = o.stderr.trim_end().lines().collect();
            if lines.len() != 1 || !lines[0].starts_with("error: ") {
                p.push(format!(
                    "an error is not one line: {:?}",
                    truncate(&o.stderr)
                ));
            }
        }
    }
    let text = format!("{}{}", o.stdout, o.stderr);
    if text.contains("panicked") || text.contains("RUST_BACKTRACE") {
        p.push(format!("panicked: {:?}", truncate(&o.stderr)));
    }
    for debug in ["Some(", "None)"] {
        if o.stderr.contains(debug) || (json && o.code == Some(1) && o.stdout.contains(debug)) {
            p.push(format!(
                "Rust debug text in the message: {:?}",
                truncate(&text)
            ));
        }
    }
    p
}

fn truncate(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

#[test]
fn every_hostile_program_is_refused_or_read_within_limits() {
    let dir = corpus();
    let manifest: Json = serde_json::from_slice(
        &std::fs::read(dir.join("manifest.json"))
            .expect("tests/fixtures/hostile_pt2/manifest.json"),
    )
    .expect("manifest.json is JSON");
    let files = manifest["files"].as_array().expect("manifest files");
    assert!(files.len() >= 40, "{} corpus files", files.len());
    let mut failures = Vec::new();
    for f in files {
        let name = f["file"].as_str().expect("file name");
        let expect = f["expect"].as_str().expect("expect");
        let expect_run = f["expect_run"].as_str().unwrap_or(expect);
        let path = dir.join(name);
        let p = path.as_os_str();
        let os = std::ffi::OsStr::new;
        for (label, args, want, json) in [
            ("inspect", vec![os("inspect"), p], expect, false),
            (
                "inspect --json",
                vec![os("inspect"), p, os("--json")],
                expect,
                true,
            ),
            ("run", vec![os("run"), p], expect_run, false),
        ] {
            let o = limited(&args);
            for why in problems(&o, want, json) {
                failures.push(format!("{name}: {label}: {why}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
