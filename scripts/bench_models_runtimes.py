"""The four runtimes of scripts/bench_models_vs_torch.py, timed the same way on the same inputs.

Each `time_*` function returns, per batch name (for example "b1"), a cell: a dict with the
forward times (`times_ms`, `ms` their median) and the last output (`y`, a torch tensor), or
`{"error": "..."}` when that runtime could not run the model. Every runtime gets `warmup`
untimed calls first, then `runs` timed ones; an output is freed only after the clock stops.
torch, torchvision and onnxruntime are imported by the caller after it has set the thread
variables, so this module imports them lazily too.
"""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures", "pt2"))


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def time_calls(f, warmup, runs):
    for _ in range(warmup):
        f()
    ms, y = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = f()
        ms.append((time.perf_counter() - t0) * 1e3)
        y = out  # the previous output is freed here, off the clock
    return {"ms": median(ms), "times_ms": ms, "y": y}


def short_error(e):
    """One line for a table cell; the whole traceback goes to stderr."""
    traceback.print_exc(file=sys.stderr)
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0][:120] if msg else ''}".strip()


def each_batch(batches, f):
    """f(name, x) for every batch, an error in one batch recorded in its cell only."""
    cells = {}
    for b, (x, warmup, runs) in batches.items():
        try:
            cells[b] = f(b, x, warmup, runs)
        except Exception as e:  # noqa: BLE001 (a runtime's failure is a cell, not the end of the run)
            cells[b] = {"error": short_error(e)}
    return cells


# --- torch eager ------------------------------------------------------------------------------

def eager_module(name, ep):
    """The model as a user has it (an nn.Module, eval mode) with the .pt2's own weights."""
    import gen_models
    if name in gen_models.CREPE:
        mod, _ = gen_models.load_crepe_module()
        m = mod.Crepe(name.split("_")[1])
    else:
        import torchvision
        kw = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
        m = getattr(torchvision.models, name)(weights=None, **kw)
    # strict: the program keeps every parameter and buffer of the module's state dict.
    m.load_state_dict(ep.state_dict, strict=True)
    return m.eval()


def time_eager(m, batches):
    import torch

    def one(_b, x, warmup, runs):
        with torch.inference_mode():
            return time_calls(lambda: m(x), warmup, runs)
    return each_batch(batches, one)


# --- torch.compile ----------------------------------------------------------------------------

def cxx_compiler():
    """The C++ compiler inductor would use (it honours $CXX), or None."""
    cxx = os.environ.get("CXX")
    if cxx:
        return shutil.which(cxx)
    return next((p for p in map(shutil.which, ("g++", "c++", "clang++")) if p), None)


def time_compile(m, batches):
    """torch.compile, default mode (inductor), compiled afresh for each batch size: `compile_s`
    is the first call (tracing, inductor, the C++ build), kept out of the forward times."""
    import torch
    if cxx_compiler() is None:
        return {b: {"error": "no C++ compiler (inductor needs g++ or $CXX)"} for b in batches}

    def one(_b, x, warmup, runs):
        torch._dynamo.reset()
        c = torch.compile(m)
        with torch.inference_mode():
            t0 = time.perf_counter()
            c(x)
            compile_s = time.perf_counter() - t0
            cell = time_calls(lambda: c(x), warmup, runs)
        cell["compile_s"] = compile_s
        return cell
    cells = each_batch(batches, one)
    torch._dynamo.reset()
    return cells


# --- ONNX Runtime -----------------------------------------------------------------------------

def ort_missing():
    """The missing ONNX packages' names, [] when all three import."""
    missing = []
    for mod in ("onnxruntime", "onnx", "onnxscript"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    return missing


def time_ort(ep, batches, path, threads):
    """The same program exported with torch.onnx.export(dynamo=True): the batch stays the
    .pt2's dynamic dimension, so one export serves every batch size."""
    import onnxruntime as ort
    import torch
    try:
        x0 = next(iter(batches.values()))[0]
        t0 = time.perf_counter()
        # The exporter prints its progress on stdout; the table owns stdout.
        with contextlib.redirect_stdout(io.StringIO()):
            torch.onnx.export(ep, (x0,), path, dynamo=True, verbose=False)
        export_s = time.perf_counter() - t0
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        (inp,) = s.get_inputs()
        if not isinstance(inp.shape[0], str):
            raise RuntimeError(f"the ONNX input's batch is fixed at {inp.shape[0]}, not dynamic")
    except Exception as e:  # noqa: BLE001
        err = {"error": "export: " + short_error(e)}
        return {b: dict(err) for b in batches}

    def one(_b, x, warmup, runs):
        feed = {inp.name: x.numpy()}
        cell = time_calls(lambda: s.run(None, feed)[0], warmup, runs)
        cell["y"] = torch.from_numpy(cell["y"])
        return cell
    cells = each_batch(batches, one)
    for c in cells.values():
        c["export_s"] = export_s
    return cells


# --- tensorport -------------------------------------------------------------------------------

def build_ours():
    """Builds examples/model_timing.rs (release) and returns the executable's path."""
    cmd = ["cargo", "build", "--release", "-q", "--example", "model_timing", "--message-format=json"]
    out = subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "model_timing":
            if msg.get("executable"):
                return msg["executable"]
    raise RuntimeError("cargo built no model_timing executable")


def time_ours(exe, pt2, batches, workdir, threads):
    """examples/model_timing in its own process on the inputs the other runtimes get (written
    with torch.save, read back by tensorport); its outputs come back the same way."""
    import torch
    stem = os.path.join(workdir, os.path.basename(pt2)[:-4])
    inp, outp, report = stem + "_bench_in.pt", stem + "_ours_out.pt", stem + "_ours.json"
    torch.save({b: x for b, (x, _, _) in batches.items()}, inp)
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    specs = [f"{b}:{w}:{r}" for b, (_, w, r) in batches.items()]
    p = subprocess.run([exe, pt2, inp, outp, report, *specs], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
        print(p.stderr, file=sys.stderr)
        return {b: {"error": tail[:160]} for b in batches}, None
    r = json.load(open(report))
    if r["threads"] != threads:
        raise SystemExit(f"tensorport ran on {r['threads']} threads, not {threads}: "
                         "RAYON_NUM_THREADS ignored?")
    ys = torch.load(outp, weights_only=True)
    cells = {b: {"ms": r["runs"][b]["median_ms"], "times_ms": r["runs"][b]["times_ms"], "y": ys[b]}
             for b in batches}
    return cells, r["load_ms"]
