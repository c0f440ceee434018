#!/usr/bin/env python3
"""Check that torch reads a file the way our writer claims.

Usage:  python roundtrip_check.py FILE EXPECTED.json
        python roundtrip_check.py --pairs FILE1 EXPECTED1.json [FILE2 EXPECTED2.json ...]
        (one torch import for many files; exit 1 if any pair differs)

Loads FILE with torch.load(weights_only=True) (through describe.py's describe_file, so with the
recording map_location callable), and compares the resulting describe document with
EXPECTED.json, a describe document (see describe.py's docstring) that the Rust writer claims for
FILE.  EXPECTED.json may also be a fixtures manifest entry; then its "describe" member is used.

Comparison is exact equality of parsed JSON values (object key order ignored, array order
significant).  Exit status: 0 equal; 1 different (the first difference, in document order, is
printed on stdout with its JSON path, e.g. `$.tensors[3].stride: expected [4, 1], torch says
[1, 4]`; if torch refused FILE its error is shown); 2 usage error or unreadable EXPECTED.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import describe  # noqa: E402


def _short(v: Any) -> str:
    s = json.dumps(v, sort_keys=True, ensure_ascii=False)
    return s if len(s) <= 300 else s[:297] + "..."


def first_difference(expected: Any, actual: Any, path: str = "$") -> str | None:
    if type(expected) is not type(actual):
        # JSON numbers: 1 and 1.0 would differ in type; describe never emits floats as numbers
        return f"{path}: expected {_short(expected)}, torch says {_short(actual)}"
    if isinstance(expected, dict):
        for k in expected:
            if k not in actual:
                return f"{path}: key {k!r} expected but missing in torch's description"
            d = first_difference(expected[k], actual[k], f"{path}.{k}")
            if d:
                return d
        for k in actual:
            if k not in expected:
                return f"{path}: torch's description has unexpected key {k!r} = {_short(actual[k])}"
        return None
    if isinstance(expected, list):
        for i, (e, a) in enumerate(zip(expected, actual)):
            d = first_difference(e, a, f"{path}[{i}]")
            if d:
                return d
        if len(expected) != len(actual):
            return (f"{path}: expected {len(expected)} items, torch says {len(actual)}"
                    f" (first extra: {_short((expected if len(expected) > len(actual) else actual)[min(len(expected), len(actual))])})")
        return None
    if expected != actual:
        return f"{path}: expected {_short(expected)}, torch says {_short(actual)}"
    return None


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[1] == "--pairs":
        rest = argv[2:]
        if not rest or len(rest) % 2:
            print("usage: roundtrip_check.py --pairs FILE EXPECTED.json [...]", file=sys.stderr)
            return 2
        worst = 0
        for i in range(0, len(rest), 2):
            worst = max(worst, check_one(rest[i], rest[i + 1]))
        return worst
    if len(argv) != 3:
        print("usage: roundtrip_check.py FILE EXPECTED.json", file=sys.stderr)
        return 2
    return check_one(argv[1], argv[2])


def check_one(file: str, expected_path: str) -> int:
    argv = [None, file, expected_path]
    try:
        expected = json.loads(Path(argv[2]).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"cannot read {argv[2]}: {e}", file=sys.stderr)
        return 2
    if isinstance(expected, dict) and "describe" in expected and "ok" not in expected:
        expected = expected["describe"]
    actual = describe.describe_file(argv[1], weights_only=True)
    diff = first_difference(expected, actual)
    if diff is None:
        print(f"OK: torch describes {argv[1]} as expected ({len(actual.get('tensors', []))} tensors)")
        return 0
    if not actual.get("ok", False):
        print(f"MISMATCH: torch refused {argv[1]}: {actual.get('error')}")
    print(f"MISMATCH: {diff}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
