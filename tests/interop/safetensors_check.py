"""safetensors interop with the reference Python package (safetensors.torch), both ways.

  make DIR   writes, for each case, CASE.pt (torch.save of the state dict, or of a training
             checkpoint) and CASE.ref.safetensors (what safetensors.torch writes for it:
             save_model for the tied model, save_file otherwise), plus cases.json listing them.
  check DIR  reads every OURS.safetensors that tensorport wrote beside them with load_file and
             compares it bit for bit (dtype, shape, bytes) and its __metadata__ with the
             reference's; reads every OURS.pt (tensorport's convert of the reference file back to
             .pt) with torch.load and compares it with the original state dict, sharing included.
"""
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file, save_model


def cases():
    g = torch.Generator().manual_seed(13)
    out = {}
    out["dtypes"] = {
        "f32": torch.randn(3, 5, generator=g),
        "f64": torch.randn(4, generator=g, dtype=torch.float64),
        "f16": torch.randn(2, 3, generator=g).half(),
        "bf16": torch.randn(7, generator=g).bfloat16(),
        "i64": torch.arange(-3, 3, dtype=torch.int64),
        "i32": torch.arange(5, dtype=torch.int32) * -7,
        "i16": torch.arange(4, dtype=torch.int16),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.arange(250, 256, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 4),
        "nan_inf": torch.tensor([float("nan"), float("inf"), -0.0]),
        "f8": torch.tensor([0.5, -2.0, 448.0]).to(torch.float8_e4m3fn),
        "c64": torch.randn(3, generator=g, dtype=torch.complex64),
        "u16": torch.tensor([0, 1, 65535], dtype=torch.int32).to(torch.uint16),
    }
    return out


class Tied(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(6, 4)
        self.head = torch.nn.Linear(4, 6, bias=False)
        self.head.weight = self.embed.weight
        self.norm = torch.nn.BatchNorm1d(4)


def make(d):
    torch.manual_seed(0)
    listed = []
    for name, sd in cases().items():
        torch.save(sd, os.path.join(d, f"{name}.pt"))
        save_file(sd, os.path.join(d, f"{name}.ref.safetensors"), metadata={"format": "pt"})
        listed.append({"name": name, "kind": "save_file"})
    tied = Tied()
    torch.save(tied.state_dict(), os.path.join(d, "tied.pt"))
    save_model(tied, os.path.join(d, "tied.ref.safetensors"))
    listed.append({"name": "tied", "kind": "save_model"})
    # A training checkpoint: only --key model_state_dict can go to safetensors.
    torch.save(
        {"epoch": 3, "model_state_dict": cases()["dtypes"], "optimizer_state_dict": {}},
        os.path.join(d, "training.pt"),
    )
    with open(os.path.join(d, "cases.json"), "w") as f:
        json.dump(listed, f)


def same(a, b):
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    # Bytes, not values: NaN payloads and -0.0 count.
    return torch.equal(
        a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8)
    )


def check(d):
    bad = []
    with open(os.path.join(d, "cases.json")) as f:
        listed = json.load(f)
    for case in listed:
        name = case["name"]
        ref_path = os.path.join(d, f"{name}.ref.safetensors")
        ours_path = os.path.join(d, f"{name}.ours.safetensors")
        ref, ours = load_file(ref_path), load_file(ours_path)
        if sorted(ref) != sorted(ours):
            bad.append(f"{name}: keys {sorted(ours)} != {sorted(ref)}")
        for k in ref:
            if k in ours and not same(ref[k], ours[k]):
                bad.append(f"{name}/{k}: tensors differ")
        with safe_open(ref_path, "pt") as a, safe_open(ours_path, "pt") as b:
            if a.metadata() != b.metadata():
                bad.append(f"{name}: metadata {b.metadata()} != {a.metadata()}")
        # Back to .pt: the original state dict, shared tensors shared again.
        orig = torch.load(os.path.join(d, f"{name}.pt"), weights_only=True)
        back = torch.load(os.path.join(d, f"{name}.back.pt"), weights_only=True)
        if sorted(orig) != sorted(back):
            bad.append(f"{name}.back.pt: keys {sorted(back)} != {sorted(orig)}")
        for k in orig:
            if k in back and not same(orig[k], back[k]):
                bad.append(f"{name}.back.pt/{k}: tensors differ")
        if name == "tied":
            if back["head.weight"].data_ptr() != back["embed.weight"].data_ptr():
                bad.append("tied.back.pt: head.weight no longer shares embed.weight")
        print(f"OK {name}" if not bad else f"checked {name}")
    # The weights of a training checkpoint, through --key.
    ours = load_file(os.path.join(d, "training.ours.safetensors"))
    for k, v in cases()["dtypes"].items():
        if k not in ours or not same(v, ours[k]):
            bad.append(f"training.ours.safetensors/{k}: missing or different")
    for b in bad:
        print("FAIL", b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    {"make": make, "check": check}[sys.argv[1]](sys.argv[2])
