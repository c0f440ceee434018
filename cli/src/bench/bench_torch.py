"""The torch side of `tensorport bench --compare-torch` (embedded in the binary).

Reads one JSON document on stdin: the model (kind "program" or "net", path), device, thread
count, batch sizes, which program inputs are batched, the state-dict keys tensorport looks
under, and the run policy. Times the same cases as tensorport did, under the same policy, and
writes one JSON document on stdout: raw seconds per timed run for each batch size, which
tensorport summarises with the same code as its own times. Any failure is
{"ok": false, "error": "..."} and exit status 1.
"""

import json
import sys
import time


def load_program(p, torch, dev):
    ep = torch.export.load(p["model"])
    args, kwargs = ep.example_inputs
    if kwargs:
        raise ValueError("the program's sample inputs have keyword arguments")
    model = ep.module().to(dev)
    samples = [a.to(dev) for a in args]

    def inputs(batch):
        # Row i of a batched input is sample row i % rows, as tensorport builds it.
        out = []
        for x, batched in zip(samples, p["batched"]):
            if batched:
                idx = torch.arange(batch, device=dev) % x.shape[0]
                x = x[idx].contiguous()
            out.append(x)
        return out

    return model, inputs


def load_net(p, torch, dev):
    import torch.nn as nn
    import torch.nn.functional as F

    class Net(nn.Module):
        # The recipe's Net ("Saving and loading models across devices").
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
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    ckpt = torch.load(p["model"], map_location="cpu", weights_only=True)
    sd = find_state_dict(ckpt, p["state_dict_keys"], torch)
    for prefix in ("module.", "_orig_mod."):
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    model = Net()
    model.load_state_dict(sd, strict=True)
    model = model.to(dev).eval()
    gen = torch.Generator().manual_seed(0)

    def inputs(batch):
        # Uniform in [-1, 1) like tensorport's input; the values differ, the work does not.
        x = torch.rand((batch, 3, 32, 32), generator=gen) * 2 - 1
        return [x.to(dev)]

    return model, inputs


def find_state_dict(value, keys, torch):
    def is_sd(v):
        return isinstance(v, dict) and all(
            isinstance(k, str) and isinstance(t, torch.Tensor) for k, t in v.items()
        )

    if is_sd(value):
        return value
    if isinstance(value, dict):
        for k in keys:
            if is_sd(value.get(k)):
                return value[k]
    raise ValueError("no state dict (a dict of str -> tensor) in the checkpoint")


def time_runs(policy, step):
    # tensorport's timing.rs, line for line: warm-up, then single runs until the policy is met.
    for _ in range(policy["warmup"]):
        step()
    times = []
    start = time.perf_counter()
    while True:
        n, elapsed = len(times), time.perf_counter() - start
        if policy["iters"] is not None:
            if n >= policy["iters"]:
                break
        elif n >= policy["min_iters"] and elapsed >= policy["min_seconds"]:
            break
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def main():
    p = json.load(sys.stdin)
    import torch

    torch.set_num_threads(p["threads"])
    dev = torch.device(p["device"])
    device_name = None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("this torch has no usable CUDA device (torch.cuda.is_available() is False)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RuntimeError(f"torch sees {torch.cuda.device_count()} CUDA device(s), not {dev}")
        # tensorport computes in full float32: no TF32 on either side.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        device_name = torch.cuda.get_device_name(dev)

        def sync():
            torch.cuda.synchronize(dev)
    else:

        def sync():
            pass

    load = load_program if p["kind"] == "program" else load_net
    with torch.inference_mode():
        model, make_inputs = load(p, torch, dev)
        cases = []
        # One check run per batch size first, as tensorport does, so nothing is timed before
        # every size is known to run.
        for b in p["batches"]:
            xs = make_inputs(b)
            model(*xs)
            sync()
            cases.append((b, xs))
        results = []
        for b, xs in cases:

            def step():
                model(*xs)
                sync()

            results.append({"batch": b, "times_s": time_runs(p["policy"], step)})
    json.dump(
        {
            "ok": True,
            "torch_version": torch.__version__,
            "threads": torch.get_num_threads(),
            "device_name": device_name,
            "results": results,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    try:
        main()
    except BaseException as e:  # noqa: BLE001 - every failure becomes the reason tensorport prints
        msg = " ".join(f"{type(e).__name__}: {e}".split())
        json.dump({"ok": False, "error": msg}, sys.stdout)
        sys.exit(1)
