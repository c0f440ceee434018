#!/usr/bin/env python3
"""Canonical JSON description of a torch.save checkpoint *as torch sees it*.

Usage:  python describe.py FILE [--no-weights-only]

Loads FILE with ``torch.load(FILE, weights_only=True, map_location=<callable>)`` (with
--no-weights-only: weights_only=False, plain pickle; only for trusted files such as the
protocol-4/5 fixtures, which torch's weights-only loader refuses) and prints ONE
JSON document on stdout (followed by a newline).  The Rust side builds the same document from
its own reader; tests compare the two documents for equality as parsed JSON values (the text is
also canonical: ``json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``).

Exit status: 0 = described; 3 = torch refused the file, and the document is
``{"ok": false, "error": "<ExceptionTypeName>: <first line of str(exception)>"}`` (ANSI colour
codes removed, trailing blanks stripped);
2 = usage error or this script could not describe what torch returned (a bug, or a Python type
outside the encoding below; the traceback goes to stderr).

Document
--------
    {"ok": true, "structure": <value>, "tensors": [<tensor>, ...]}

<value> (tagged, so that nothing is lost):

    None                   -> null
    bool                   -> true / false
    str                    -> JSON string
    int                    -> {"int": "<decimal>"}                       (any size, sign "-" only)
    float                  -> {"float": "<16 lowercase hex digits>"}     IEEE-754 binary64 bits,
                              big-endian digit order: 1.0 -> "3ff0000000000000",
                              -0.0 -> "8000000000000000", Python's nan -> "7ff8000000000000"
    complex                -> {"complex": ["<hex bits re>", "<hex bits im>"]}
    bytes                  -> {"bytes": "<lowercase hex>"}
    bytearray              -> {"bytearray": "<lowercase hex>"}
    list                   -> {"list": [<value>, ...]}
    tuple                  -> {"tuple": [<value>, ...]}
    set                    -> {"set": [<value>, ...]}   items sorted by their canonical JSON text
                              json.dumps(item, sort_keys=True, separators=(",", ":"))
                              (ensure_ascii=True, Python's default).  A set may not hold tensors.
    dict                   -> {"dict": [[<key value>, <value>], ...]}     insertion order
    collections.OrderedDict-> {"odict": [[k, v], ...]}, plus "metadata": <value of the _metadata
                              attribute> only when the object has a _metadata attribute (other
                              attributes set by BUILD are not described)
    collections.Counter    -> {"counter": [[k, v], ...]}                   insertion order
    torch.Size             -> {"size": [<ints as plain JSON numbers>]}
    torch.dtype            -> {"dtype": "float32"}    str(dtype) without the "torch." prefix
    torch.device           -> {"device": "cuda:1"}    str(device)
    torch.Tensor / nn.Parameter -> {"tensor": <index into "tensors">}

Type tests are made in this order: None, bool, int, float, complex, str, bytes, bytearray,
tensor, torch.Size (before tuple), tuple, list, set, Counter, OrderedDict, dict, dtype, device.
Anything else (frozenset, numpy, custom classes, ...) is an error (exit 2).  Cycles are an error.

Tensor numbering: a depth-first walk in the order of the encoding above (a dict item: key
first, then value; sequences in order; an OrderedDict's "metadata" after all its items) numbers
each tensor when it is met.  The walk does NOT dedupe: the same tensor object met twice gets two
entries, each with its own path.

Path of a tensor: the list of steps from the root, each a JSON string:
    dict / OrderedDict / Counter item -> the key: a str as is; an int (not bool) as decimal
                                         text; any other key as json.dumps(<key encoding>,
                                         sort_keys=True, separators=(",", ":"))
    OrderedDict _metadata             -> the step "#metadata"
    list / tuple / set / Size element -> the index as decimal text
A tensor directly at the root has the path [].  A tensor used as a dict key (never produced by
torch.save of real models) gets the path of the dict plus the step "#key".

<tensor>:
    {"path": [...],
     "dtype": "float32",                 str(t.dtype) without "torch."
     "shape": [..], "stride": [..],      plain JSON numbers, in elements
     "storage_offset": N,                in elements
     "storage_index": K,                 0,1,2,... in order of first appearance (in the walk) of
                                         each distinct storage; identity of a storage =
                                         (untyped_storage().data_ptr(), nbytes) when nbytes > 0;
                                         an empty storage is identified by its StorageImpl
                                         (untyped_storage()._cdata), so two empty tensors share an
                                         index only when torch loaded them onto one storage object
                                         (same record key)
     "location": "cpu",                  the location tag saved for that storage.  Recorded
                                         through a map_location callable that torch calls once
                                         per distinct storage, in first-seen order during
                                         unpickling; the storage of index K must be the K-th
                                         storage passed to it (checked by identity, failing
                                         loudly otherwise)
     "requires_grad": false,
     "is_parameter": false,              isinstance(t, torch.nn.Parameter)
     "sha256": "<hex>"}                  sha256 of the values: conj and neg bits resolved,
                                         C-contiguous, little-endian element bytes, i.e.
                                         t.detach().resolve_conj().resolve_neg().contiguous()
                                          .reshape(-1).view(torch.uint8).numpy().tobytes()
                                         (bool = 1 byte 0/1; complex = re, im interleaved;
                                         empty tensor = sha256 of b"")

Storages that are passed to map_location but reached by no tensor in the structure (cannot
happen with torch.save output) make describe fail (exit 2).
"""

from __future__ import annotations

import collections
import hashlib
import json
import re
import struct
import sys
from typing import Any

import torch


class DescribeError(Exception):
    """The loaded object cannot be described with the encoding above."""


def _fhex(x: float) -> str:
    return struct.pack(">d", x).hex()


def canonical(doc: Any) -> str:
    """The canonical JSON text used for set sorting and non-trivial dict-key path steps."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def dtype_name(dt: torch.dtype) -> str:
    s = str(dt)
    assert s.startswith("torch."), s
    return s[len("torch."):]


def tensor_sha256(t: torch.Tensor) -> str:
    flat = t.detach().resolve_conj().resolve_neg().contiguous().reshape(-1)
    data = flat.view(torch.uint8).numpy().tobytes()
    if len(data) != flat.numel() * flat.element_size():
        raise DescribeError("byte view has the wrong length")
    return hashlib.sha256(data).hexdigest()


class _Walker:
    def __init__(self, storages_seen_by_torch: list | None):
        self.tensors: list[dict] = []
        self.tensor_objs: list[torch.Tensor] = []
        self.storage_ids: dict[tuple, int] = {}
        self.storage_cdata: list[int] = []
        self.active: set[int] = set()
        self.torch_storages = storages_seen_by_torch

    def _storage_index(self, t: torch.Tensor) -> int:
        st = t.untyped_storage()
        nbytes = st.nbytes()
        ident = ("data", st.data_ptr(), nbytes) if nbytes > 0 else ("empty", st._cdata)
        k = self.storage_ids.get(ident)
        if k is None:
            k = len(self.storage_ids)
            self.storage_ids[ident] = k
            self.storage_cdata.append(st._cdata)
        return k

    def tensor(self, t: torch.Tensor, path: list[str]) -> dict:
        idx = len(self.tensors)
        self.tensors.append(
            {
                "path": list(path),
                "dtype": dtype_name(t.dtype),
                "shape": list(t.shape),
                "stride": list(t.stride()),
                "storage_offset": t.storage_offset(),
                "storage_index": self._storage_index(t),
                "location": None,  # filled in by describe_object
                "requires_grad": bool(t.requires_grad),
                "is_parameter": isinstance(t, torch.nn.Parameter),
                "sha256": tensor_sha256(t),
            }
        )
        self.tensor_objs.append(t)
        return {"tensor": idx}

    def key_step(self, key: Any, enc: Any) -> str:
        if isinstance(key, str):
            return key
        if isinstance(key, int) and not isinstance(key, bool):
            return str(key)
        return canonical(enc)

    def items(self, pairs, path):
        out = []
        for k, v in pairs:
            ek = self.value(k, path + ["#key"])  # tensors as keys: path ends in "#key"
            ev = self.value(v, path + [self.key_step(k, ek)])
            out.append([ek, ev])
        return out

    def value(self, v: Any, path: list[str]) -> Any:
        if v is None or type(v) is bool or type(v) is str:
            return v
        if type(v) is int:
            return {"int": str(v)}
        if type(v) is float:
            return {"float": _fhex(v)}
        if type(v) is complex:
            return {"complex": [_fhex(v.real), _fhex(v.imag)]}
        if type(v) is bytes:
            return {"bytes": v.hex()}
        if type(v) is bytearray:
            return {"bytearray": bytes(v).hex()}
        if isinstance(v, torch.Tensor):
            if type(v) not in (torch.Tensor, torch.nn.Parameter):
                raise DescribeError(f"tensor subclass {type(v)} at {path}")
            return self.tensor(v, path)
        if isinstance(v, torch.Size):
            return {"size": [int(x) for x in v]}
        if isinstance(v, (torch.dtype, torch.device)):
            return {"dtype": dtype_name(v)} if isinstance(v, torch.dtype) else {"device": str(v)}
        if id(v) in self.active:
            raise DescribeError(f"cycle at {path}")
        self.active.add(id(v))
        try:
            if type(v) is tuple:
                return {"tuple": [self.value(x, path + [str(i)]) for i, x in enumerate(v)]}
            if type(v) is list:
                return {"list": [self.value(x, path + [str(i)]) for i, x in enumerate(v)]}
            if type(v) is set:
                encs = []
                for x in v:
                    n = len(self.tensors)
                    encs.append(self.value(x, path + ["?"]))
                    if len(self.tensors) != n:
                        raise DescribeError(f"tensor inside a set at {path}")
                encs.sort(key=canonical)
                return {"set": encs}
            if type(v) is collections.Counter:
                return {"counter": self.items(v.items(), path)}
            if type(v) is collections.OrderedDict:
                out: dict = {"odict": self.items(v.items(), path)}
                if hasattr(v, "_metadata"):
                    out["metadata"] = self.value(v._metadata, path + ["#metadata"])
                return out
            if type(v) is dict:
                return {"dict": self.items(v.items(), path)}
        finally:
            self.active.discard(id(v))
        raise DescribeError(f"cannot describe {type(v).__module__}.{type(v).__qualname__} at {path}")


def describe_object(obj: Any, torch_storages: list | None) -> dict:
    """Describe an already loaded object.

    torch_storages: the (storage, tag) pairs passed to the map_location callable, in call order,
    or None when unknown (then every "location" is null).
    """
    w = _Walker(torch_storages)
    structure = w.value(obj, [])
    if torch_storages is not None:
        if len(torch_storages) != len(w.storage_ids):
            raise DescribeError(
                f"map_location was called {len(torch_storages)} times but the structure holds "
                f"{len(w.storage_ids)} distinct storages"
            )
        for k, (st, tag) in enumerate(torch_storages):
            if st._cdata != w.storage_cdata[k]:
                raise DescribeError(
                    f"storage {k} of the walk is not the {k}-th storage torch restored "
                    f"(first-seen order assumption broken)"
                )
        for d in w.tensors:
            d["location"] = torch_storages[d["storage_index"]][1]
    return {"ok": True, "structure": structure, "tensors": w.tensors}


def load_with_tags(path, weights_only: bool = True):
    """torch.load with a recording map_location callable. Returns (obj, [(storage, tag), ...])."""
    seen: list = []

    def record(storage, tag):
        seen.append((storage, tag))
        return storage

    obj = torch.load(path, weights_only=weights_only, map_location=record)
    return obj, seen


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def strip_ansi(s: str) -> str:
    return _ANSI.sub("", s)


def error_text(e: BaseException) -> str:
    """'<ExceptionTypeName>: <first line of the message>', ANSI colour codes removed."""
    lines = strip_ansi(str(e)).strip().splitlines()
    return f"{type(e).__name__}: {lines[0] if lines else ''}".rstrip()


def describe_file(path, weights_only: bool = True) -> dict:
    """The describe document for FILE; torch's refusal becomes {"ok": false, ...}."""
    try:
        obj, seen = load_with_tags(path, weights_only=weights_only)
    except Exception as e:  # torch refused the file
        return {"ok": False, "error": error_text(e)}
    return describe_object(obj, seen)


def dumps(doc: dict) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("--")]
    flags = [a for a in argv[1:] if a.startswith("--")]
    if len(args) != 1 or any(f != "--no-weights-only" for f in flags):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    doc = describe_file(args[0], weights_only="--no-weights-only" not in flags)
    sys.stdout.write(dumps(doc) + "\n")
    return 0 if doc["ok"] else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
