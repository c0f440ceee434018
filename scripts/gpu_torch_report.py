#!/usr/bin/env python3
"""torch's figures for the rows of examples/gpu_report.rs, on the same device in the same run
(scripts/gpu_check.sh calls this when a Python with torch sees the GPU). Same shapes, same
units, same names, so each row lines up with the report's: ratio = ours / torch's, above 1 we
are faster. torch runs as a user would run it: eager, float32, TF32 off (torch's default for
matmul; cuDNN convolutions are allowed TF32 by default, so it is switched off too, to compare
float32 with float32), inputs already on the device, each call synchronized.

Usage: scripts/gpu_torch_report.py [--device cuda:0] [--quick] [--pt2 DIR]
"""
import argparse
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """The recipe's CIFAR-10 Net."""

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


def median_s(dev, runs, f):
    def once():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t = time.perf_counter()
        f()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return time.perf_counter() - t

    once()
    return statistics.median(once() for _ in range(runs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pt2", default=None)
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(a.device)
    q = a.quick
    runs = 3 if q else 20
    g = torch.Generator().manual_seed(0)
    rnd = lambda *s: (torch.rand(*s, generator=g) * 2 - 1).to(dev)
    rows = []
    with torch.inference_mode():
        n = 1 << 16 if q else 64 << 20
        x = rnd(n)
        rows.append((f"relu, {n} floats", "GB/s", 2 * n * 4 / median_s(dev, runs, lambda: F.relu(x)) / 1e9))
        sh = [2, 8, 32, 32] if q else [64, 64, 112, 112]
        x = rnd(*sh)
        s = median_s(dev, runs, lambda: F.max_pool2d(x, 2))
        rows.append((f"max_pool2d 2x2, {sh}", "GB/s", x.numel() * 4 * 5 / 4 / s / 1e9))
        b, c, hw = (1, 8, 16) if q else (32, 64, 56)
        x, w = rnd(b, c, hw, hw), rnd(c, c, 3, 3)
        s = median_s(dev, runs, lambda: F.conv2d(x, w, padding=1))
        rows.append((f"conv2d {c}->{c} 3x3, {b}x{hw}x{hw}", "GFLOP/s", 2 * b * c * c * 9 * hw * hw / s / 1e9))
        bn = 2 if q else 4096
        x, w = rnd(bn, 6, 14, 14), rnd(16, 6, 5, 5)
        s = median_s(dev, runs, lambda: F.conv2d(x, w))
        rows.append((f"conv2d 6->16 5x5 (small-channel), {bn}x14x14", "GFLOP/s", 2 * bn * 16 * 6 * 25 * 100 / s / 1e9))
        bd, cd, hd = (1, 8, 16) if q else (32, 96, 56)
        x, w = rnd(bd, cd, hd, hd), rnd(cd, 1, 3, 3)
        s = median_s(dev, runs, lambda: F.conv2d(x, w, padding=1, groups=cd))
        rows.append((f"conv2d depthwise 3x3, {bd}x{cd}x{hd}x{hd}", "GB/s", 2 * x.numel() * 4 / s / 1e9))
        m, k = (8, 64) if q else (256, 4096)
        x, w = rnd(m, k), rnd(k, k)
        s = median_s(dev, runs, lambda: F.linear(x, w))
        rows.append((f"linear {k}->{k}, batch {m}", "GFLOP/s", 2 * m * k * k / s / 1e9))
        k1 = 64 if q else 4096
        x, w = rnd(1, k1), rnd(k1, k1)
        s = median_s(dev, runs, lambda: F.linear(x, w))
        rows.append((f"linear {k1}->{k1}, batch 1 (weight bytes)", "GB/s", k1 * k1 * 4 / s / 1e9))
        net = Net().to(dev).eval()
        for batch in ([1, 4] if q else [1, 1024, 65536]):
            xh = torch.rand(batch, 3, 32, 32, generator=g) * 2 - 1
            xd = xh.to(dev)
            r = 3 if batch >= 65536 else runs
            rows.append((f"Net forward, batch {batch}", "images/s", batch / median_s(dev, r, lambda: net(xd))))
            if dev.type == "cuda":
                xp = xh.pin_memory()
                s = median_s(dev, r, lambda: net(xp.to(dev, non_blocking=True)).cpu())
                rows.append((f"Net forward from host memory, batch {batch}", "images/s", batch / s))
        for name in ["resnet18", "mobilenet_v2"]:
            path = a.pt2 and os.path.join(a.pt2, f"{name}.pt2")
            if not path or not os.path.exists(path):
                rows.append((f"{name}: no {name}.pt2 (pass --pt2 DIR)", "images/s", None))
                continue
            ep = torch.export.load(path)
            mod = ep.module().to(dev)
            shape = list(ep.example_inputs[0][0].shape)
            for batch in ([1, 2] if q else [1, 64]):
                shape[0] = batch
                x = rnd(*shape)
                s = median_s(dev, 2 if q else 10, lambda: mod(x))
                rows.append((f"{name} from .pt2, {shape}", "images/s", batch / s))
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(f"torch {torch.__version__} on {a.device} ({name})")
    print(f"\n| measurement | unit | torch {a.device} |\n|---|---|---:|")
    for what, unit, v in rows:
        print(f"| {what} | {unit} | {'-' if v is None else f'{v:.1f}'} |")


if __name__ == "__main__":
    main()
