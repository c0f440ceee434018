//! `tensorport bench`: the table's and the JSON's structure, refusals of bad flags, and the
//! torch comparison (run when a Python with torch is found, else its explicit "not run" line).
//! Nothing here checks a speed: runs are few and only the shape of the report is asserted.

use std::process::Command;

use serde_json::Value as Json;

use crate::common::{self, fixtures_dir};

/// Few runs: structure, not speed.
const QUICK: [&str; 4] = ["--iters", "2", "--warmup", "1"];

fn bench(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tensorport"));
    cmd.arg("bench")
        .args(args)
        .env_remove("TENSORPORT_REQUIRE_TORCH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running tensorport bench");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixture(name: &str) -> String {
    fixtures_dir().join(name).display().to_string()
}

/// The table's rows: the lines after the column header, as whitespace-separated cells.
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .skip_while(|l| !l.trim_start().starts_with("batch"))
        .skip(1)
        .take_while(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[test]
fn bench_net_prints_a_table_and_json() {
    let net = fixture("ok/net_state_dict_dataparallel.pt");
    let mut args = vec![net.as_str(), "--batch", "1,2"];
    args.extend(QUICK);
    let (code, out, err) = bench(&args, &[]);
    assert_eq!(code, 0, "{out}{err}");
    for needle in [
        "tensorport ",
        "machine ",
        "logical CPUs",
        "CPU kernels",
        "device   cpu",
    ] {
        assert!(out.contains(needle), "{needle} missing from\n{out}");
    }
    assert!(out.contains(&net) && out.contains("2 timed runs"), "{out}");
    let table = rows(&out);
    assert_eq!(table.len(), 2, "{out}");
    for (row, batch) in table.iter().zip(["1", "2"]) {
        // batch, runs, median ms, p90 ms, items/s.
        assert_eq!(row.len(), 5, "{row:?}");
        assert_eq!((row[0].as_str(), row[1].as_str()), (batch, "2"));
        assert!(row[2..]
            .iter()
            .all(|c| c.parse::<f64>().is_ok_and(|v| v > 0.0)));
    }

    args.extend(["--json", "--threads", "1"]);
    let (code, out, err) = bench(&args, &[]);
    assert_eq!(code, 0, "{err}");
    let doc: Json = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(doc["ok"], true);
    assert_eq!(
        doc["threads"], 1,
        "--threads sets the library's thread count"
    );
    assert_eq!(doc["device"], "cpu");
    assert_eq!(doc["model"]["kind"], "net");
    assert!(doc["tensorport_version"].is_string() && doc["machine"]["cpu"].is_string());
    assert!(doc["machine"]["logical_cpus"]
        .as_u64()
        .is_some_and(|n| n >= 1));
    assert!(doc["machine"]["cpu_capability"].is_string());
    assert_eq!(doc["policy"]["iters"], 2);
    assert_eq!(doc["torch"], Json::Null);
    let results = doc["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    for (r, batch) in results.iter().zip([1, 2]) {
        assert_eq!(r["batch"], batch);
        assert_eq!(r["iters"], 2);
        for k in ["median_ms", "p90_ms", "min_ms", "mean_ms", "items_per_s"] {
            assert!(r[k].as_f64().is_some_and(|v| v > 0.0), "{k}: {r}");
        }
        assert!(r["p90_ms"].as_f64() >= r["median_ms"].as_f64());
        assert_eq!(r["torch"], Json::Null);
        assert_eq!(r["torch_over_ours"], Json::Null);
    }
}

#[test]
fn bench_refuses_bad_flags_in_one_line() {
    let net = fixture("ok/net_state_dict.pt");
    let fixed = fixture("pt2/net_static.pt2");
    let cases: [(&[&str], &str); 10] = [
        (&[&net, "--batch", "0"], "at least 1"),
        (&[&net, "--batch", "1,,8"], "comma-separated"),
        (&[&net, "--batch", "eight"], "comma-separated"),
        (&[&net, "--threads", "0"], "--threads"),
        (&[&net, "--iters", "0"], "--iters"),
        (&[&net, "--time", "-1"], "--time"),
        (&[&net, "--device", "tpu"], "tpu"),
        // Never a silent CPU run when a GPU was asked for.
        (&[&net, "--device", "cuda:9"], "cuda:9"),
        (&[&fixed, "--batch", "1,2"], "fixed at 2"),
        (&["does/not/exist.pt"], "exist.pt"),
    ];
    for (args, needle) in cases {
        let (code, out, err) = bench(args, &[]);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(needle) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    // --json refusals are JSON documents.
    let (code, out, _) = bench(&[&net, "--batch", "0", "--json"], &[]);
    assert_eq!(code, 1);
    let doc: Json = serde_json::from_str(&out).expect("JSON refusal");
    assert_eq!(doc["ok"], false);
    // The help says how many runs are timed.
    let (code, out, _) = bench(&["--help"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("at least 10 runs and 1 s"), "{out}");
}

#[test]
fn bench_without_torch_says_the_comparison_was_not_run() {
    let net = fixture("ok/net_state_dict.pt");
    let mut args = vec![net.as_str(), "--batch", "1", "--compare-torch"];
    args.extend(QUICK);
    let no_python = [("TENSORPORT_PYTHON", "/nonexistent/python")];
    let (code, out, err) = bench(&args, &no_python);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("torch comparison not run: could not start /nonexistent/python"),
        "{out}"
    );
    assert_eq!(rows(&out).len(), 1, "our figures are still printed: {out}");

    args.push("--json");
    let (code, out, _) = bench(&args, &no_python);
    assert_eq!(code, 0);
    let doc: Json = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["torch"]["run"], false);
    assert!(doc["torch"]["reason"]
        .as_str()
        .is_some_and(|r| !r.is_empty()));
    assert_eq!(doc["results"][0]["torch"], Json::Null);

    // Where torch must be there, its absence fails the command (after printing our figures).
    let required = [no_python[0], ("TENSORPORT_REQUIRE_TORCH", "1")];
    let (code, out, err) = bench(&args, &required);
    assert_eq!(code, 1, "{err}");
    assert!(serde_json::from_str::<Json>(&out).is_ok() && err.contains("did not run"));
}

/// torch times the same cases beside ours: a dynamic-batch program and the DataParallel Net.
#[test]
fn bench_compares_with_torch_when_it_is_there() {
    let Some(python) = common::torch_python() else {
        eprintln!("skipped: no python with torch (TENSORPORT_REQUIRE_TORCH=1 makes this fail)");
        return;
    };
    let python = python.display().to_string();
    let env = [("TENSORPORT_PYTHON", python.as_str())];
    let program = fixture("pt2/net.pt2");
    let mut args = vec![program.as_str(), "--batch", "1,3", "--compare-torch"];
    args.extend(QUICK);
    let (code, out, err) = bench(&args, &env);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("torch/ours") && !out.contains("not run"),
        "{out}"
    );
    let table = rows(&out);
    assert_eq!(table.len(), 2, "{out}");
    for row in &table {
        // Ours (5 cells), torch's runs, median, p90, items/s, and the ratio.
        assert_eq!(row.len(), 10, "{row:?}");
        assert_eq!(row[5], "2");
        let ratio = row[9].strip_suffix('x').expect("a ratio like 1.23x");
        assert!(ratio.parse::<f64>().is_ok_and(|r| r > 0.0), "{row:?}");
    }

    let net = fixture("ok/net_state_dict_dataparallel.pt");
    let mut args = vec![net.as_str(), "--batch", "2", "--compare-torch", "--json"];
    args.extend(QUICK);
    let (code, out, err) = bench(&args, &env);
    assert_eq!(code, 0, "{out}{err}");
    let doc: Json = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["torch"]["run"], true, "{doc}");
    assert_eq!(doc["torch"]["threads"], doc["threads"]);
    let r = &doc["results"][0];
    assert_eq!(r["torch"]["iters"], 2);
    assert!(
        r["torch_over_ours"].as_f64().is_some_and(|x| x > 0.0),
        "{r}"
    );
}

/// On a GPU (the driver double where there is none) the header names it.
#[test]
fn bench_on_a_gpu_names_it() {
    let net = fixture("ok/net_state_dict.pt");
    let mut env = Vec::new();
    if common::gpu::double().is_some() {
        env.push(("TENSORPORT_CUDA_DRIVER", tensorport_emu::driver::LIB));
    }
    let args = [
        &net, "--device", "cuda:0", "--batch", "1", "--iters", "1", "--warmup", "0",
    ];
    let (code, out, err) = bench(&args, &env);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("device   cuda:0 ("), "{out}");
    let (code, _, err) = bench(&[&net, "--device", "cuda:9"], &env);
    assert_eq!(code, 1);
    assert!(err.contains("cuda:9 does not exist"), "{err}");
}
