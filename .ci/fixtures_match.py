"""Whether two fixture trees (the committed one, and a fresh run of the generators) match.

Usage: fixtures_match.py COMMITTED FRESH    (directories; exit 0 when they match)

Files must be byte-identical, with one exception: tensors that PyTorch *computed* in floating
point (conv and linear outputs, softmax, the Net's logits, a few Adam steps) depend on which
kernels torch picks for this CPU (AVX2, AVX-512, AMX; MKL and oneDNN choose at run time), so a
machine other than the one that made the fixtures gets the same values up to rounding. For a
`.pt` file that differs in bytes, both are loaded and compared structurally: the same Python
values and keys, and tensors of the same dtype, shape, strides, offset and flags, equal bit for
bit when integer or bool, and for floats with NaN and infinities in the same places and every
other element within 2^-16 (float32; 2^-40 float64) of the larger magnitude in the tensor: far
looser than a few ulps of rounding, far tighter than any change of inputs, generator or
arguments. `manifest.json` is compared with its `sha256` fields set aside (they hash those
tensors; tests/checkpoint_fixtures.rs checks every one against the committed file).
"""

import json
import math
import os
import sys

import torch


class Mismatch(Exception):
    pass


def close_tensors(a, b, where, stats):
    for attr in ("dtype", "shape", "requires_grad", "is_contiguous"):
        va, vb = getattr(a, attr), getattr(b, attr)
        va, vb = (va(), vb()) if callable(va) else (va, vb)
        if va != vb:
            raise Mismatch(f"{where}: {attr} {va} vs {vb}")
    if a.stride() != b.stride() or a.storage_offset() != b.storage_offset():
        raise Mismatch(f"{where}: layout {a.stride()}+{a.storage_offset()} vs "
                       f"{b.stride()}+{b.storage_offset()}")
    if isinstance(a, torch.nn.Parameter) != isinstance(b, torch.nn.Parameter):
        raise Mismatch(f"{where}: Parameter-ness differs")
    if torch.equal(a, b) or (a.is_floating_point() and torch.equal(a.isnan(), b.isnan())
                            and torch.equal(a.nan_to_num(0), b.nan_to_num(0))):
        return
    if not a.is_floating_point() or a.is_complex():
        raise Mismatch(f"{where}: {a.dtype} values differ")
    finite = a.isfinite()
    if not torch.equal(finite, b.isfinite()) or not torch.equal(a[~finite].nan_to_num(0),
                                                                b[~finite].nan_to_num(0)):
        raise Mismatch(f"{where}: NaN or infinities in other places")
    rel = 2.0 ** -16 if a.dtype != torch.float64 else 2.0 ** -40
    x, y = a[finite].double(), b[finite].double()
    scale = max(x.abs().max().item(), y.abs().max().item(), math.ulp(0))
    err = (x - y).abs().max().item()
    if err > rel * scale:
        raise Mismatch(f"{where}: max |difference| {err:.3e} exceeds {rel:.1e} x {scale:.3e}")
    stats.append((where, err / scale))


def close_values(a, b, where, stats):
    if type(a) is not type(b):
        raise Mismatch(f"{where}: {type(a).__name__} vs {type(b).__name__}")
    if isinstance(a, torch.Tensor):
        return close_tensors(a, b, where, stats)
    if isinstance(a, dict):
        if list(a.keys()) != list(b.keys()):
            raise Mismatch(f"{where}: keys differ")
        for k in a:
            close_values(a[k], b[k], f"{where}/{k}", stats)
        meta_a, meta_b = getattr(a, "_metadata", None), getattr(b, "_metadata", None)
        if meta_a != meta_b:
            raise Mismatch(f"{where}: _metadata differs")
        return
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            raise Mismatch(f"{where}: lengths differ")
        for i, (x, y) in enumerate(zip(a, b)):
            close_values(x, y, f"{where}/{i}", stats)
        return
    equal = a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
    if not equal:
        raise Mismatch(f"{where}: {a!r} vs {b!r}")


def close_pt2(pa, pb, rel):
    """Two torch.export archives: the same records, each byte-identical except torch.save
    files inside (sample inputs, pickled weights), compared as .pt files are."""
    import io
    import zipfile
    za, zb = zipfile.ZipFile(pa), zipfile.ZipFile(pb)
    if za.namelist() != zb.namelist():
        raise Mismatch(f"{rel}: different records")
    for name in za.namelist():
        a, b = za.read(name), zb.read(name)
        if a == b:
            continue
        if name.endswith(".pt"):
            close_values(torch.load(io.BytesIO(a), weights_only=True),
                         torch.load(io.BytesIO(b), weights_only=True), f"{rel}/{name}", [])
        else:
            raise Mismatch(f"{rel}/{name}: bytes differ")


def without_sha(v):
    if isinstance(v, dict):
        return {k: without_sha(x) for k, x in v.items() if k != "sha256"}
    if isinstance(v, list):
        return [without_sha(x) for x in v]
    return v


def main(committed, fresh):
    def files(root):
        return {os.path.relpath(os.path.join(d, f), root)
                for d, _, fs in os.walk(root) for f in fs}
    ours, theirs = files(committed), files(fresh)
    failed = False
    for rel in sorted(ours ^ theirs):
        print(f"{rel}: only in {'the committed tree' if rel in ours else 'the fresh run'}")
        failed = True
    rounded = 0
    for rel in sorted(ours & theirs):
        pa, pb = os.path.join(committed, rel), os.path.join(fresh, rel)
        with open(pa, "rb") as fa, open(pb, "rb") as fb:
            if fa.read() == fb.read():
                continue
        try:
            if rel.endswith(".pt"):
                stats = []
                close_values(torch.load(pa, weights_only=True), torch.load(pb, weights_only=True),
                             rel, stats)
                worst = max((s for _, s in stats), default=0.0)
                print(f"{rel}: equal up to torch's rounding on this CPU ({len(stats)} float "
                      f"tensors differ, worst {worst:.1e} of their magnitude)")
                rounded += 1
            elif rel.endswith(".pt2"):
                close_pt2(pa, pb, rel)
                print(f"{rel}: the same program; weights or sample inputs equal up to rounding")
                rounded += 1
            elif rel.endswith(".json"):
                with open(pa) as fa, open(pb) as fb:
                    if without_sha(json.load(fa)) != without_sha(json.load(fb)):
                        raise Mismatch(f"{rel}: differs beyond the sha256 of computed tensors")
                print(f"{rel}: equal but for the sha256 of tensors torch computed")
            else:
                raise Mismatch(f"{rel}: bytes differ")
        except Mismatch as e:
            print(f"MISMATCH {e}")
            failed = True
        except Exception as e:  # a file that no longer loads is a mismatch too
            print(f"MISMATCH {rel}: {type(e).__name__}: {e}")
            failed = True
    if rounded:
        print(f"{rounded} file(s) differ only by floating-point rounding of computed outputs")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
