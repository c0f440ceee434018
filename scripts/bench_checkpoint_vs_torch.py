#!/usr/bin/env python3
"""Times torch 2.x and tensorport on the same checkpoint files in one run and prints ratios.

Usage: python scripts/bench_checkpoint_vs_torch.py [WORKDIR]   (needs torch; 2.3 GB of disk)

Files are written by torch.save (the recipe's Net state dict, 1 GiB in 4 tensors, 1.08 GB in
10,000 tensors). Both sides run warm (files in the page cache), torch with 2 threads. Each figure
is a median of repeated runs; tensorport's come from examples/checkpoint_timing.rs.
"""
import json, os, statistics, subprocess, sys, time

import torch
import torch.nn as nn

torch.set_num_threads(2)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
work = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "bench-torch")
os.makedirs(work, exist_ok=True)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)


def median_ms(runs, f):
    t = []
    for _ in range(runs):
        s = time.perf_counter()
        f()
        t.append((time.perf_counter() - s) * 1e3)
    return statistics.median(t)


net = os.path.join(work, "net.pt")
big = os.path.join(work, "big.pt")
many = os.path.join(work, "many.pt")
torch.manual_seed(0)
torch.save(Net().state_dict(), net)
if not os.path.exists(big):
    torch.save({f"t{i}": torch.randn(1 << 26) for i in range(4)}, big)
if not os.path.exists(many):
    torch.save({f"layer{i}.weight": torch.randn(27000) for i in range(10000)}, many)
for p in (net, big, many):
    torch.load(p, weights_only=True)

theirs = {
    "net_load_ms": median_ms(200, lambda: torch.load(net, weights_only=True)),
    "big_open_ms": median_ms(20, lambda: torch.load(big, weights_only=True, mmap=True)),
    "big_load_ms": median_ms(7, lambda: torch.load(big, weights_only=True)),
    "many_open_ms": median_ms(7, lambda: torch.load(many, weights_only=True, mmap=True)),
    "many_load_ms": median_ms(7, lambda: torch.load(many, weights_only=True)),
}
sd = torch.load(big, weights_only=True)
target = os.path.join(work, "torch_save.pt")


def save_fsync():
    with open(target, "wb") as f:
        torch.save(sd, f)
        f.flush()
        os.fsync(f.fileno())


theirs["save_1gb_fsync_ms"] = median_ms(5, save_fsync)
os.remove(target)

subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "checkpoint_timing",
                "--bin", "tensorport"], cwd=ROOT, check=True)
exe = os.path.join(ROOT, "target", "release")
out = subprocess.run([os.path.join(exe, "examples", "checkpoint_timing"), net, big, many, work],
                     check=True, capture_output=True, text=True).stdout
ours = json.loads(out)


def proc_ms(runs, argv):
    t = []
    for _ in range(runs):
        s = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        t.append((time.perf_counter() - s) * 1e3)
    return statistics.median(t)


ours["inspect_process_ms"] = proc_ms(50, [os.path.join(exe, "tensorport"), "inspect", net])
theirs["inspect_process_ms"] = proc_ms(5, [sys.executable, "-c",
                                           f"import torch; sd = torch.load({net!r}, weights_only=True); "
                                           "[print(k, v.dtype, tuple(v.shape)) for k, v in sd.items()]"])

rows = [
    ("Net state dict load (in-process)", "net_load_ms", 0.050),
    ("1 GiB, 4 tensors: open + index", "big_open_ms", 1.0),
    ("1 GiB, 4 tensors: fully resident", "big_load_ms", 170.0),
    ("10,000 tensors: metadata only", "many_open_ms", 10.0),
    ("10,000 tensors: full load", "many_load_ms", 200.0),
    ("save + fsync of 1 GiB", "save_1gb_fsync_ms", 500.0),
    ("inspect of the Net file, whole process", "inspect_process_ms", 5.0),
]
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians in ms")
print(f"{'case':42} {'tensorport':>11} {'torch':>11} {'speedup':>8} {'goal':>8}")
for name, key, goal in rows:
    o, t = ours[key], theirs[key]
    print(f"{name:42} {o:11.3f} {t:11.3f} {t / o:7.1f}x {goal:8.3f}{'  MISSED' if o > goal else ''}")
print("torch side for 'open': torch.load(mmap=True); tensorport side: Checkpoint::open (zero-copy).")
