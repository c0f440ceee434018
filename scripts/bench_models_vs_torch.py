"""Real models on the CPU, side by side in one run: torch eager, torch.compile, ONNX Runtime and
tensorport, all from the same .pt2, on the same inputs, with the same number of threads.

Usage: scripts/bench_models_vs_torch.py [--size 224] [--only resnet18,...] [--threads 2]
           [--repeats 20,7] [--skip-compile] [--skip-ort] [--json OUT.json]

Needs torch and torchvision (the models), and for the ONNX Runtime column
`pip install onnxruntime onnx onnxscript` (into the Python that runs this script; --skip-ort
runs without them). torch.compile needs a C++ compiler (g++ or $CXX): without one its cells
say so.

Each model of tests/fixtures/pt2/gen_models.py (twelve torchvision CNNs, random init from a
fixed seed, and the two CREPE models with their trained weights) is exported at --size into a
temporary folder. For each model, one after the other and never overlapping:
- tensorport: examples/model_timing.rs (release) in its own process, RAYON_NUM_THREADS=threads;
- torch eager: the nn.Module with the .pt2's weights, torch.set_num_threads, inference_mode;
- torch.compile: default mode (inductor), compiled afresh for each batch size; the first call
  (compile time, reported apart) is not a forward;
- ONNX Runtime: torch.onnx.export(the ExportedProgram, dynamo=True), batch dynamic as in the
  .pt2; intra-op threads = threads, inter-op 1, sequential, graph optimisation ALL.
Batch 1 and batch 8 get the same seeded inputs in every runtime; each runtime makes warm-up
calls, then --repeats timed calls (medians). Every output is compared with torch eager's: the
max abs difference goes in the second table, and a cell whose difference exceeds
1e-3 * max|eager output| is marked `!` and left out of the ratios and the summary.
ratio = that runtime's time / ours: above 1 we are faster.

A full run (all 14 models at 224, both batches) took 19 minutes with --repeats 10,5 (longer with
the default repeats) on the 2-core development machine, most of it inductor compiling (cold caches: it keeps them in
/tmp/torchinductor_$USER, so a second run compiles faster).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RUNTIMES = ["eager", "compile", "ort", "ours"]
LABEL = {"eager": "torch eager", "compile": "torch.compile", "ort": "ONNX Runtime", "ours": "tensorport"}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=224, help="image size of the torchvision models")
    ap.add_argument("--only", default="", help="comma-separated model names (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", default="20,7", help="timed calls at batch 1 and batch 8")
    ap.add_argument("--skip-compile", action="store_true")
    ap.add_argument("--skip-ort", action="store_true")
    ap.add_argument("--json", metavar="OUT", help="write every figure to OUT")
    a = ap.parse_args()
    try:
        a.runs = [int(r) for r in a.repeats.split(",")]
    except ValueError:
        ap.error("--repeats: two integers, for example 20,7")
    if len(a.runs) != 2 or min(a.runs) < 1 or a.threads < 1:
        ap.error("--repeats needs two counts of at least 1, --threads at least 1")
    return a


def batches_for(name, size, runs):
    """{"b1": (x, warmup, runs), "b8": ...}: the inputs every runtime gets."""
    import torch
    import gen_models
    g = torch.Generator().manual_seed(1)
    out = {}
    for b, n in ((1, runs[0]), (8, runs[1])):
        if name in gen_models.CREPE:
            # Frames of tones across CREPE's range, normalised as torchcrepe.core.preprocess does.
            hz = 50.0 * 2 ** (5 * torch.rand(b, 1, generator=g, dtype=torch.float64))
            t = torch.arange(1024, dtype=torch.float64) / 16000
            x = torch.sin(2 * torch.pi * hz * t)
            x = ((x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True)).float()
        else:
            x = torch.randn(b, 3, size, size, generator=g)
        out[f"b{b}"] = (x, 3 if b == 1 else 2, n)
    return out


def agreement(cells, ref):
    """Adds max_abs_diff and agrees to every cell with an output; drops the outputs."""
    for b, by_rt in cells.items():
        y0 = by_rt["eager"].get("y")
        scale = float(y0.abs().max()) if y0 is not None else None
        for rt, c in by_rt.items():
            y = c.pop("y", None)
            if y is None or y0 is None:
                continue
            if y.shape != y0.shape:
                c["max_abs_diff"], c["agrees"] = None, False
                c["error"] = f"output shape {tuple(y.shape)}, eager {tuple(y0.shape)}"
                continue
            d = float((y.float() - y0).abs().max())
            # Relative to the output's scale: random-init torchvision outputs can be ~1e-9.
            c["max_abs_diff"], c["agrees"] = d, d <= 1e-3 * scale
        ref[b] = scale


def run_model(name, a, d, exe):
    import torch
    import bench_models_runtimes as rt
    pt2 = os.path.join(d, f"{name}.pt2")
    batches = batches_for(name, a.size, a.runs)
    per_rt = {}
    per_rt["ours"], load_ours = rt.time_ours(exe, pt2, batches, d, a.threads)
    loads = []
    for _ in range(5):
        t0 = time.perf_counter()
        ep = torch.export.load(pt2)
        loads.append((time.perf_counter() - t0) * 1e3)
    m = rt.eager_module(name, ep)
    per_rt["eager"] = rt.time_eager(m, batches)
    skipped = {b: {"skipped": True} for b in batches}
    per_rt["compile"] = skipped if a.skip_compile else rt.time_compile(m, batches)
    per_rt["ort"] = skipped if a.skip_ort else \
        rt.time_ort(ep, batches, os.path.join(d, f"{name}.onnx"), a.threads)
    cells = {b: {r: per_rt[r][b] for r in RUNTIMES} for b in batches}
    scale = {}
    agreement(cells, scale)
    return {"load_ms": {"ours": load_ours, "torch.export.load": rt.median(loads)},
            "max_abs_eager_output": scale, "batches": cells}


def ms_cell(c):
    if c.get("skipped"):
        return "skipped"
    if "error" in c:
        return f"error: {c['error']}"
    return f"{c['ms']:.2f}" + ("" if c.get("agrees", True) else " !")


def ratio(c, ours):
    ok = lambda x: "ms" in x and "error" not in x and x.get("agrees", False)  # noqa: E731
    return c["ms"] / ours["ms"] if ok(c) and ok(ours) else None


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}x"


def print_tables(results):
    print("\n| model | batch | " + " | ".join(f"{LABEL[r]} ms" for r in RUNTIMES)
          + " | eager / ours | compile / ours | ORT / ours |")
    print("|---|---|" + "---:|" * (len(RUNTIMES) + 3))
    for name, res in results.items():
        for b, cs in res["batches"].items():
            rs = [fmt_ratio(ratio(cs[r], cs["ours"])) for r in ("eager", "compile", "ort")]
            print(f"| {name} | {b[1:]} | " + " | ".join(ms_cell(cs[r]) for r in RUNTIMES)
                  + " | " + " | ".join(rs) + " |")
    print("\n| model | load ms ours / torch.export.load | compile s b1 / b8 | ORT export s "
          "| max abs diff vs eager b1: compile / ORT / ours | b8: compile / ORT / ours "
          "| max abs eager output b1 / b8 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, res in results.items():
        bs = res["batches"]
        lo = res["load_ms"]
        ours_load = "n/a" if lo["ours"] is None else f"{lo['ours']:.1f}"
        comp = " / ".join(f"{bs[b]['compile']['compile_s']:.1f}" if "compile_s" in bs[b]["compile"] else "n/a"
                          for b in bs)
        exp = next((f"{c['ort']['export_s']:.1f}" for c in bs.values() if "export_s" in c["ort"]), "n/a")
        diff = lambda c: "n/a" if c.get("max_abs_diff") is None else f"{c['max_abs_diff']:.1e}"  # noqa: E731
        diffs = [" / ".join(diff(bs[b][r]) for r in ("compile", "ort", "ours")) for b in bs]
        scale = " / ".join(f"{res['max_abs_eager_output'][b]:.2g}" for b in bs)
        print(f"| {name} | {ours_load} / {lo['torch.export.load']:.1f} | {comp} | {exp} | "
              + " | ".join(diffs) + f" | {scale} |")


def summarise(results):
    """The figures the issue's targets use, per batch and over both: medians over models of
    eager / ours and ORT / ours (compile / ours too), and the minimum of eager / ours."""
    import bench_models_runtimes as rt
    groups = {"b1": ["b1"], "b8": ["b8"], "b1+b8": ["b1", "b8"]}
    summary = {}
    for g, bs in groups.items():
        s = {}
        for r in ("eager", "compile", "ort"):
            pairs = [(f"{n} {b}", ratio(res["batches"][b][r], res["batches"][b]["ours"]))
                     for n, res in results.items() for b in bs]
            pairs = [(k, v) for k, v in pairs if v is not None]
            if pairs:
                lo = min(pairs, key=lambda kv: kv[1])
                s[r] = {"median": rt.median([v for _, v in pairs]), "n": len(pairs),
                        "min": lo[1], "min_at": lo[0]}
        summary[g] = s
    return summary


def print_summary(summary, results):
    n_models = len(results)
    print()
    for g, s in summary.items():
        parts = []
        for r, target in (("eager", 1.5), ("ort", 1.0), ("compile", None)):
            if r in s:
                t = f" (target >= {target}x)" if target else ""
                parts.append(f"median {r} / ours {s[r]['median']:.2f}x over {s[r]['n']}{t}")
        if "eager" in s:
            e = s["eager"]
            parts.append(f"min eager / ours {e['min']:.2f}x at {e['min_at']} (target >= 1.0x)")
        print(f"- {g} ({n_models} models): " + "; ".join(parts) if parts else f"- {g}: no ratios")
    diff = lambda c: ("shape differs" if c["max_abs_diff"] is None  # noqa: E731
                      else f"max abs diff {c['max_abs_diff']:.1e}")
    wrong = [f"{LABEL[r]} on {n} {b} ({diff(c)})" for n, res in results.items()
             for b, cs in res["batches"].items() for r, c in cs.items()
             if "ms" in c and not c.get("agrees", False)]
    if wrong:
        print("- left out of the ratios, output disagrees with torch eager: " + "; ".join(wrong))


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def main():
    a = parse_args()
    # Before torch or onnxruntime is imported: OpenMP (torch's intra-op pool, inductor's
    # compiled kernels) and MKL read these once, at start-up.
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = str(a.threads)
    sys.path.insert(0, HERE)
    import bench_models_runtimes as rt
    if not a.skip_ort and rt.ort_missing():
        sys.exit(f"the ONNX Runtime column needs {', '.join(rt.ort_missing())}: "
                 f"{sys.executable} -m pip install onnxruntime onnx onnxscript (or pass --skip-ort)")
    import torch
    import gen_models
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    names = [n for n in a.only.split(",") if n] or gen_models.TORCHVISION + gen_models.CREPE
    unknown = [n for n in names if n not in gen_models.TORCHVISION + gen_models.CREPE]
    if unknown:
        sys.exit(f"unknown models {unknown}; known: {gen_models.TORCHVISION + gen_models.CREPE}")
    if not a.skip_compile and rt.cxx_compiler() is None:
        print("no C++ compiler (g++ or $CXX): the torch.compile cells will say so", file=sys.stderr)

    started, load_before = time.time(), os.getloadavg()
    exe = rt.build_ours()
    results = {}
    with tempfile.TemporaryDirectory() as d:
        gen = os.path.join(ROOT, "tests", "fixtures", "pt2", "gen_models.py")
        subprocess.run([sys.executable, gen, "--out", d, "--size", str(a.size), "--only", ",".join(names)],
                       check=True, stdout=subprocess.DEVNULL)
        for n in names:
            t0 = time.time()
            results[n] = run_model(n, a, d, exe)
            print(f"{n}: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    summary = summarise(results)
    load_after = os.getloadavg()
    ort_v = "skipped"
    if not a.skip_ort:
        import onnxruntime
        ort_v = onnxruntime.__version__
    import torchvision
    env = {"threads": a.threads, "size": a.size, "repeats": a.runs, "torch": torch.__version__,
           "torchvision": torchvision.__version__, "onnxruntime": ort_v,
           "cpu": cpu_name(), "cores": os.cpu_count(),
           "loadavg_before": load_before, "loadavg_after": load_after,
           "minutes": (time.time() - started) / 60}
    print(f"\n{a.threads} threads, size {a.size}, repeats {a.runs[0]} (b1) / {a.runs[1]} (b8); torch "
          f"{torch.__version__}, torchvision {torchvision.__version__}, onnxruntime {ort_v}; "
          f"{env['cpu']}, {os.cpu_count()} cores, load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after; "
          f"{env['minutes']:.1f} min")
    if max(load_before[0], load_after[0]) > 0.5 * os.cpu_count():
        print(f"\nWarning: other work was running (load average {load_before[0]:.1f} / "
              f"{load_after[0]:.1f} on {os.cpu_count()} cores): the times are not the machine's, and "
              "each runtime loses a different share to contention.")
    print_tables(results)
    print_summary(summary, results)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"env": env, "models": results, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
