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
    plus "truncated": TRUNCATED_NOTE when a cap (below) was reached

<value> (tagged, so that nothing is lost):

    None                   -> null
    bool                   -> true / false
    str                    -> JSON string
    int                    -> {"int": "<decimal>"}  (sign "-" only) up to CPython's 4300-digit
                              str(int) limit; beyond it {"int_hex": format(v, "x")} ("-" then
                              lower-case hex digits, no "0x"): linear in the size on both sides
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

Walk order: depth first, in the order of the encoding above (a dict item: key first, then
value; sequences in order; an OrderedDict's "metadata" after all its items).

Sharing (the output is linear in the number of distinct objects, however often the pickle memo
makes one object appear):
    A *shareable* object is a non-empty list, tuple, set, dict, OrderedDict or Counter, a str of
    at least SHARE_MIN_CHARS (64) code points, a bytes or bytearray of at least 64 bytes, or an
    int outside [-2**63, 2**63).  Shareable objects are numbered 0, 1, 2, ... in the order the
    walk first meets them; meeting one again (same id()) gives {"ref": N} instead of its
    description.  The Rust side uses Arc pointer identity; both come from the unpickler's memo,
    so they coincide.  Not shareable, because Python caches them or Rust holds them by value:
    empty containers (() is one object in Python), short str/bytes (1-character ones are
    cached), ints inside i64 (small ints are cached), floats, torch.Size.  Inside a set (at
    any depth) nothing is numbered or referenced: Python iterates a set in hash order, Rust in
    pickle order, so set items are always described in full.
    Tensors are objects here but cloned values in Rust, so they are deduplicated by *view* on
    both sides: (storage identity as for storage_index, dtype, shape, stride, storage_offset,
    requires_grad, is_parameter, and here is_neg()/is_conj()).  The first mention of a view
    makes its entry in "tensors" (numbered in walk order, with the path of that mention); a
    later mention of the same view is {"tensor": <that entry>}.

Caps (identical on both sides):
    The walk spends MAX_UNITS (1000000) units: 1 per value described (a {"ref"} and each
    {"tensor"} mention included); a str adds len(s) // 64, bytes/bytearray 2*len(b) // 64, an
    int len(text) // 64 (text: the string in its {"int"}/{"int_hex"} encoding, sign included);
    a torch.Size adds len(size); a new tensor entry adds 1 + len(path).  Before each item of a
    list, tuple, dict, OrderedDict or Counter (and before an OrderedDict's metadata) the walk
    checks the units left: when none are left (<= 0) the remaining items are replaced by one
    item {"omitted": <how many>} (metadata by {"omitted": 1}).  A set (outside another set) is
    first costed in full (its units: 1 for the set plus its items' full cost); when that is
    more than the units left it is {"set": [{"omitted": <len>}]}, else it is described whole.
    A path step longer than MAX_STEP_CHARS (200) code points keeps its first 200 followed by
    "...(<len> characters)".
    Hashing: a new view's sha256 is computed only while hashed + view_bytes <= 2 * (bytes of
    the distinct storages met so far, this one's included) + 256 MiB, where view_bytes is
    numel * element_size and hashed the sum over views hashed so far; otherwise it is
    "skipped".  Either cap adds the top-level member "truncated": TRUNCATED_NOTE.

Path of a tensor: the list of steps from the root, each a JSON string:
    dict / OrderedDict / Counter item -> the key: a str as is; an int (not bool) inside
                                         [-2**63, 2**63) as decimal text; any other key as
                                         canonical(<key encoding>), i.e. json.dumps(..,
                                         sort_keys=True, separators=(",", ":")) (a shared key
                                         encodes as {"ref": N}); steps are cut as below
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
                                         empty tensor = sha256 of b""); "skipped" past
                                         the hashing cap

Storages that are passed to map_location but reached by no tensor in the structure (cannot
happen with torch.save output) make describe fail (exit 2), unless the document is truncated.
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

from describe_rules import (  # noqa: E402  (the same folder, on sys.path for scripts)
    _I64,
    HASH_FACTOR,
    HASH_SLACK,
    MAX_UNITS,
    TRUNCATED_NOTE,
    _full_cost,
    _shareable,
    _text_units,
    cut_step,
    int_encoding,
)


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
        self.views: dict[tuple, int] = {}
        self.shared: dict[int, int] = {}
        self.in_set = 0
        self.units = MAX_UNITS
        self.truncated = False
        self.hashed = 0
        self.storage_bytes = 0
        self.active: set[int] = set()
        self.torch_storages = storages_seen_by_torch

    def _storage_ident(self, t: torch.Tensor) -> tuple:
        st = t.untyped_storage()
        nbytes = st.nbytes()
        return ("data", st.data_ptr(), nbytes) if nbytes > 0 else ("empty", st._cdata)

    def _storage_index(self, t: torch.Tensor, ident: tuple) -> int:
        k = self.storage_ids.get(ident)
        if k is None:
            st = t.untyped_storage()
            k = len(self.storage_ids)
            self.storage_ids[ident] = k
            self.storage_cdata.append(st._cdata)
            self.storage_bytes += st.nbytes()
        return k

    def tensor(self, t: torch.Tensor, path: list[str]) -> dict:
        self.units -= 1
        ident = self._storage_ident(t)
        view = (ident, t.dtype, tuple(t.shape), tuple(t.stride()), t.storage_offset(),
                bool(t.requires_grad), isinstance(t, torch.nn.Parameter), t.is_neg(), t.is_conj())
        if view in self.views:
            return {"tensor": self.views[view]}
        self.units -= 1 + len(path)
        idx = len(self.tensors)
        self.views[view] = idx
        sidx = self._storage_index(t, ident)
        view_bytes = t.numel() * t.element_size()
        if self.hashed + view_bytes <= HASH_FACTOR * self.storage_bytes + HASH_SLACK:
            self.hashed += view_bytes
            sha = tensor_sha256(t)
        else:
            self.truncated = True
            sha = "skipped"
        self.tensors.append(
            {
                "path": list(path),
                "dtype": dtype_name(t.dtype),
                "shape": list(t.shape),
                "stride": list(t.stride()),
                "storage_offset": t.storage_offset(),
                "storage_index": sidx,
                "location": None,  # filled in by describe_object
                "requires_grad": bool(t.requires_grad),
                "is_parameter": isinstance(t, torch.nn.Parameter),
                "sha256": sha,
            }
        )
        self.tensor_objs.append(t)
        return {"tensor": idx}

    def key_step(self, key: Any, enc: Any) -> str:
        if isinstance(key, str):
            return cut_step(key)
        if type(key) is int and -_I64 <= key < _I64:
            return str(key)
        return cut_step(canonical(enc))

    def _out_of_units(self) -> bool:
        if self.units <= 0 and self.in_set == 0:
            self.truncated = True
            return True
        return False

    def seq(self, v, path) -> list:
        self.units -= 1
        out = []
        items = list(v)
        for i, x in enumerate(items):
            if self._out_of_units():
                out.append({"omitted": len(items) - i})
                break
            out.append(self.value(x, path + [str(i)]))
        return out

    def items(self, mapping, path) -> list:
        self.units -= 1
        out = []
        pairs = list(mapping.items())
        for i, (k, v) in enumerate(pairs):
            if self._out_of_units():
                out.append({"omitted": len(pairs) - i})
                break
            ek = self.value(k, path + ["#key"])  # tensors as keys: path ends in "#key"
            ev = self.value(v, path + [self.key_step(k, ek)])
            out.append([ek, ev])
        return out

    def value(self, v: Any, path: list[str]) -> Any:
        if self.in_set == 0 and _shareable(v):
            n = self.shared.get(id(v))
            if n is not None:
                self.units -= 1
                return {"ref": n}
            self.shared[id(v)] = len(self.shared)
        if v is None or type(v) is bool:
            self.units -= 1
            return v
        if type(v) is str:
            self.units -= _text_units(len(v))
            return v
        if type(v) is int:
            enc = int_encoding(v)
            self.units -= _text_units(len(next(iter(enc.values()))))
            return enc
        if type(v) is bytes:
            self.units -= _text_units(2 * len(v))
            return {"bytes": v.hex()}
        if type(v) is bytearray:
            self.units -= _text_units(2 * len(v))
            return {"bytearray": bytes(v).hex()}
        if isinstance(v, torch.Tensor):
            if type(v) not in (torch.Tensor, torch.nn.Parameter):
                raise DescribeError(f"tensor subclass {type(v)} at {path}")
            if self.in_set:
                raise DescribeError(f"tensor inside a set at {path}")
            return self.tensor(v, path)
        if isinstance(v, torch.Size):
            self.units -= 1 + len(v)
            return {"size": [int(x) for x in v]}
        self.units -= 1
        if type(v) is float:
            return {"float": _fhex(v)}
        if type(v) is complex:
            return {"complex": [_fhex(v.real), _fhex(v.imag)]}
        if isinstance(v, (torch.dtype, torch.device)):
            return {"dtype": dtype_name(v)} if isinstance(v, torch.dtype) else {"device": str(v)}
        self.units += 1  # containers charge their own unit in seq()/items()
        if id(v) in self.active:
            raise DescribeError(f"cycle at {path}")
        self.active.add(id(v))
        try:
            if type(v) is tuple:
                return {"tuple": self.seq(v, path)}
            if type(v) is list:
                return {"list": self.seq(v, path)}
            if type(v) is set:
                if self.in_set == 0 and not _full_cost(v, self.units - 1):
                    self.units -= 1
                    self.truncated = True
                    return {"set": [{"omitted": len(v)}]}
                self.in_set += 1
                try:
                    encs = self.seq(v, path + ["?"])
                finally:
                    self.in_set -= 1
                encs.sort(key=canonical)
                return {"set": encs}
            if type(v) is collections.Counter:
                return {"counter": self.items(v, path)}
            if type(v) is collections.OrderedDict:
                out: dict = {"odict": self.items(v, path)}
                if hasattr(v, "_metadata"):
                    if self._out_of_units():
                        out["metadata"] = {"omitted": 1}
                    else:
                        out["metadata"] = self.value(v._metadata, path + ["#metadata"])
                return out
            if type(v) is dict:
                return {"dict": self.items(v, path)}
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
        if len(torch_storages) != len(w.storage_ids) and not (
            w.truncated and len(torch_storages) > len(w.storage_ids)
        ):
            raise DescribeError(
                f"map_location was called {len(torch_storages)} times but the structure holds "
                f"{len(w.storage_ids)} distinct storages"
            )
        for k in range(len(w.storage_ids)):
            st, _tag = torch_storages[k]
            if st._cdata != w.storage_cdata[k]:
                raise DescribeError(
                    f"storage {k} of the walk is not the {k}-th storage torch restored "
                    f"(first-seen order assumption broken)"
                )
        for d in w.tensors:
            d["location"] = torch_storages[d["storage_index"]][1]
    doc = {"ok": True, "structure": structure, "tensors": w.tensors}
    if w.truncated:
        doc["truncated"] = TRUNCATED_NOTE
    return doc


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
