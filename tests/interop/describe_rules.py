"""The sharing and cap rules of describe.py's document (see its docstring), kept apart so
that describe.py stays readable; tensorport's cli/src/describe.rs applies the same rules."""

from __future__ import annotations

import collections
from typing import Any

import torch

MAX_UNITS = 1_000_000
TEXT_UNIT = 64
SHARE_MIN_CHARS = 64
MAX_STEP_CHARS = 200
HASH_FACTOR = 2
HASH_SLACK = 256 << 20
MAX_DECIMAL_DIGITS = 4300
TRUNCATED_NOTE = (
    "output capped: after 1000000 units (values, path steps, 64-character pieces of text) the "
    "rest of each container is {\"omitted\": N}, and views past the hashing budget have sha256 "
    "\"skipped\""
)
_I64 = 1 << 63


def int_encoding(v: int) -> dict:
    """{"int": decimal} within CPython's str(int) digit limit, else {"int_hex": format(v, "x")}."""
    try:
        text = str(v)
    except ValueError:  # more than sys.get_int_max_str_digits() digits
        return {"int_hex": format(v, "x")}
    if len(text.lstrip("-")) > MAX_DECIMAL_DIGITS:  # a raised limit: same rule as the default
        return {"int_hex": format(v, "x")}
    return {"int": text}


def _text_units(n: int) -> int:
    return 1 + n // TEXT_UNIT


def _shareable(v: Any) -> bool:
    t = type(v)
    if t in (list, tuple, set, dict, collections.OrderedDict, collections.Counter):
        return len(v) > 0
    if t in (str, bytes, bytearray):
        return len(v) >= SHARE_MIN_CHARS
    return t is int and not (-_I64 <= v < _I64)


def cut_step(s: str) -> str:
    if len(s) <= MAX_STEP_CHARS:
        return s
    return f"{s[:MAX_STEP_CHARS]}...({len(s)} characters)"


def _full_cost(items, left: int) -> bool:
    """Whether describing `items` in full (no references, as inside a set) costs <= left."""
    stack = list(reversed(list(items)))
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str:
            left -= _text_units(len(v))
        elif t in (bytes, bytearray):
            left -= _text_units(2 * len(v))
        elif t is int:
            left -= _text_units(len(next(iter(int_encoding(v).values()))))
        elif isinstance(v, torch.Size):
            left -= 1 + len(v)
        elif t in (list, tuple, set, frozenset):
            stack.extend(reversed(list(v)))
            left -= 1
        elif t in (dict, collections.OrderedDict, collections.Counter):
            for k, x in v.items():
                stack.append(x)
                stack.append(k)
            left -= 1
        else:
            left -= 1
        if left < 0:
            return False
    return True
