"""Real models on the CPU: tensorport against torch eager, in the same run, on the same inputs.

Usage: scripts/bench_models_vs_torch.py [--size 224] [--only resnet18,...] [--threads N]

Exports the models with tests/fixtures/pt2/gen_models.py (random init, fixed seed; CREPE with
its trained weights) at the given image size into a temporary folder, times tensorport with
`cargo run --release --example model_timing` (load time, forward at batch 1 and 8: medians),
then torch eager on the same programs' inputs (torch.export.load for the load time, the eager
nn.Module for the forwards), and prints one markdown table with the ratios. Both use the same
number of threads.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures", "pt2"))
import gen_models  # noqa: E402


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def eager(name, size):
    if name in gen_models.CREPE:
        mod, assets = gen_models.load_crepe_module()
        kind = name.split("_")[1]
        m = mod.Crepe(kind)
        m.load_state_dict(torch.load(os.path.join(assets, f"{kind}.pth"), map_location="cpu", weights_only=True))
        return m.eval(), torch.randn(1, 1024)
    import torchvision
    torch.manual_seed(0)
    kw = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    m = getattr(torchvision.models, name)(weights=None, **kw).eval()
    return m, torch.randn(1, 3, size, size)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--only", default="")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    names = [n for n in a.only.split(",") if n] or gen_models.TORCHVISION + gen_models.CREPE
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, os.path.join(ROOT, "tests/fixtures/pt2/gen_models.py"), "--out", d,
                        "--size", str(a.size), "--only", ",".join(names)], check=True, stdout=subprocess.DEVNULL)
        out = os.path.join(d, "ours.json")
        env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
        subprocess.run(["cargo", "run", "--release", "-q", "--example", "model_timing", "--", out]
                       + [os.path.join(d, f"{n}.pt2") for n in names], check=True, cwd=ROOT, env=env)
        ours = {os.path.basename(r["model"])[:-4]: r for r in json.load(open(out))}
        print(f"\n| model | load ms (ours / torch.export.load) | batch 1 ms (ours / torch) | batch 8 ms (ours / torch) | speedup b1 | speedup b8 |")
        print("|---|---|---|---|---:|---:|")
        for n in names:
            t0 = time.perf_counter()
            loads = []
            for _ in range(5):
                t0 = time.perf_counter()
                torch.export.load(os.path.join(d, f"{n}.pt2"))
                loads.append((time.perf_counter() - t0) * 1e3)
            m, x1 = eager(n, a.size)
            times = []
            with torch.no_grad():
                for b, runs in ((1, 20), (8, 7)):
                    x = x1.repeat(b, *([1] * (x1.dim() - 1)))
                    m(x)
                    ts = []
                    for _ in range(runs):
                        t0 = time.perf_counter()
                        m(x)
                        ts.append((time.perf_counter() - t0) * 1e3)
                    times.append(median(ts))
            r = ours[n]
            print(f"| {n} | {r['load_ms']:.1f} / {median(loads):.1f} | {r['b1_ms']:.2f} / {times[0]:.2f} | "
                  f"{r['b8_ms']:.2f} / {times[1]:.2f} | {times[0] / r['b1_ms']:.2f}x | {times[1] / r['b8_ms']:.2f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
