#!/usr/bin/env python3
"""Times PyTorch (eager, 2 threads) and tensorport's CPU path on the same shapes in one run and
prints the table of the CPU issue: ours, PyTorch's, ratio, goal. Medians of repeated runs, warm.

Usage: python scripts/bench_ops_vs_torch.py     (needs torch; builds examples/ops_timing.rs)
"""
import json, os, statistics, subprocess, time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def median_ms(f, min_runs, min_secs=1.0):
    f()
    t, start = [], time.perf_counter()
    while len(t) < min_runs or time.perf_counter() - start < min_secs:
        s = time.perf_counter()
        f()
        t.append((time.perf_counter() - s) * 1e3)
    return statistics.median(t)


torch.manual_seed(0)
net = Net().eval()
theirs = {}
with torch.inference_mode():
    for b in (1, 64, 1024):
        x = torch.randn(b, 3, 32, 32)
        theirs[f"net_b{b}"] = median_ms(lambda: net(x), 10 if b == 1024 else 50)
    x, w, bias = torch.randn(64, 3, 32, 32), torch.randn(6, 3, 5, 5), torch.randn(6)
    theirs["conv_small"] = median_ms(lambda: F.conv2d(x, w, bias), 20)
    x, w, bias = torch.randn(8, 64, 56, 56), torch.randn(64, 64, 3, 3), torch.randn(64)
    theirs["conv_large"] = median_ms(lambda: F.conv2d(x, w, bias, padding=1), 10)
    x, w, bias = torch.randn(1024, 4096), torch.randn(4096, 4096), torch.randn(4096)
    theirs["linear"] = median_ms(lambda: F.linear(x, w, bias), 5)
    x = torch.randn(64, 64, 112, 112)
    theirs["max_pool"] = median_ms(lambda: F.max_pool2d(x, 2), 10)
    x = torch.randn(64 << 20)
    theirs["relu"] = median_ms(lambda: torch.relu(x), 10)
    del x
    x, w, bias = torch.randn(1, 25088), torch.randn(4096, 25088), torch.randn(4096)
    theirs["linear_b1"] = median_ms(lambda: F.linear(x, w, bias), 10)
    del x, w, bias

subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "ops_timing"], cwd=ROOT,
               check=True)
out = subprocess.run([os.path.join(ROOT, "target", "release", "examples", "ops_timing")],
                     check=True, capture_output=True, text=True).stdout
ours = json.loads(out)

flops = {
    "conv_small": 2 * 64 * 6 * 28 * 28 * 3 * 25,
    "conv_large": 2 * 8 * 64 * 56 * 56 * 64 * 9,
    "linear": 2 * 1024 * 4096 * 4096,
    "linear_b1": 2 * 25088 * 4096,
}
rows = [
    ("Net, batch 1", "net_b1", 0.020),
    ("Net, batch 64", "net_b64", 0.6),
    ("Net, batch 1024", "net_b1024", 12.0),
    ("conv2d N64 3->6 32x32 k5", "conv_small", 0.81 * 56 / 110),
    ("conv2d N8 64->64 56x56 k3 p1", "conv_large", 9.9),
    ("linear N1024 4096->4096", "linear", 194.0),
    ("max_pool2d 2x2 on 64x64x112x112", "max_pool", 20.0),
    ("relu out of place, 64M floats", "relu", 15.0),
    ("linear N1 25088->4096 (VGG fc1)", "linear_b1", None),
]
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians in ms (warm)")
print(f"{'case':34} {'tensorport':>11} {'torch':>10} {'speedup':>8} {'goal':>8}  GFLOP/s ours/torch")
for name, key, goal in rows:
    o, t = ours[key], theirs[key]
    gf = (f"  {flops[key] / o / 1e6:6.1f} / {flops[key] / t / 1e6:6.1f}" if key in flops else "")
    miss = "  MISSED" if goal is not None and o > goal else ""
    goal_text = f"{goal:8.3f}" if goal is not None else f"{'-':>8}"
    print(f"{name:34} {o:11.3f} {t:10.3f} {t / o:7.2f}x {goal_text}{gf}{miss}")
# Batch-1 linear streams its weights once: against the machine's streaming read bandwidth,
# measured by ops_timing on the same bytes and threads in this run (the target is >= 90%).
wbytes = 4096 * 25088 * 4
print(f"linear N1 25088->4096: {wbytes / ours['linear_b1'] / 1e6:.1f} GB/s of weights; "
      f"streaming read {ours['stream_read_gbs']:.1f} GB/s: "
      f"{100 * wbytes / ours['linear_b1'] / 1e6 / ours['stream_read_gbs']:.0f}% "
      f"(torch {wbytes / theirs['linear_b1'] / 1e6:.1f} GB/s)")
