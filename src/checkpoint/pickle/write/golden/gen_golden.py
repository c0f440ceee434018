"""Regenerates the golden data.pkl files the writer's tests compare against (torch 2.15, CPU).

Run: python gen_golden.py  (in this folder). The Rust tests build the same objects, with the
same object sharing (one Rust Arc where Python has one object)."""
import collections
import io
import zipfile

import torch


def data_pkl(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    z = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    return z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0])


def state_dict():
    sd = collections.OrderedDict()
    sd["w"] = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    sd["b"] = torch.tensor([1.0, 2.0])
    sd._metadata = collections.OrderedDict([("", {"version": 1})])
    return sd


def training():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    a = "a"
    name = "name"
    return {
        "epoch": 3, 0: 1.5, 1: float("inf"), 2: float("nan"), -1: -2.5,
        name: "héllo ☃", "tup": (1, 2), "tup4": (1, 2, 3, 4), "lst": [1, a, None],
        "none": None, "t": True, "f": False, "set": {1, 2}, "c": 1 + 2j,
        "bytes": b"\x00\x01\xff", "ba": bytearray(b"ab"), "size": torch.Size([2, 3]),
        "dt": torch.float16, "dev": torch.device("cuda:1"), "dev2": torch.device("cpu"),
        "param": torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0])),
        "f8": torch.tensor([1.0, 2.0]).to(torch.float8_e4m3fn),
        "u16": torch.tensor([1, 2, 3], dtype=torch.uint16),
        a: base, "view": base[1:, 1:3], "tr": base.t(),
        "big": 2**70, "neg": -(2**40), "sd": state_dict(),
        "cnt": collections.Counter({"x": 2}), "again": name,
        "rg": torch.ones(2, requires_grad=True),
    }


def big():
    d = {i: str(i) for i in range(1000)}
    lst = list(range(1001))
    od = collections.OrderedDict((f"k{i}", i) for i in range(1001))
    ints = [255, 256, 65535, 65536, 2**31 - 1, 2**31, -1, -(2**31), -(2**31) - 1,
            2**63 - 1, -(2**63), 2**64, 2**70, -(2**70), 2**200, -128, 127, 128, 0]
    empty = ([], {}, (), set(), "", collections.OrderedDict(), bytearray(), torch.Size([]))
    return {"d": d, "l": lst, "od": od, "tail": d[999], "again": lst, "ints": ints,
            "tup": (1, 2, 3, 4, 5), "empty": empty}


for name, obj in [("state_dict", state_dict()), ("training", training()), ("big", big())]:
    with open(f"{name}.pkl", "wb") as f:
        f.write(data_pkl(obj))
