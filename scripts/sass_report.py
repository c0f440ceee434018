#!/usr/bin/env python3
"""Static performance report of the committed kernels/ptx/*.ptx (helper of scripts/sass_report.sh).

For each module, kernel (.entry) and arch: ptxas -v (registers, static shared memory, stack,
spills) into a cubin, nvdisasm -c of the cubin, the hot loop's instruction mix, the occupancy the
host's launch block allows, and a crude roofline estimate on an H200. No GPU is used.

Hot loop rule. A loop is a backward branch (BRA at address A to a label at T <= A) inside the
entry's own code (the section's code before its first `$__internal_*` subroutine; a branch to
itself, the `BRA .` trap after EXIT, is not a loop); its body is [T, A]. A loop's nesting depth is
the number of other loops whose body contains its body. Candidates: the innermost loops (no other
loop inside) at the deepest depth. Among them the one with the most FFMA, ties broken by the
shortest body. (The plain "shortest body" rule is not used because it picks conv2d_f32's
shared-memory staging loop, LDG -> STS with no FFMA, over its unrolled tap loop; the JSON also
gives the shortest candidate, `shortest_loop`.) An entry without a loop reports its whole code,
marked `noloop`.

Instruction classes (by base opcode, the part before the first '.'; uniform-datapath U* twins
count with their vector twins): ffma/fmul/fadd; int (IMAD, IADD3, LEA, SHF, LOP3, ISETP, MOV,
SEL, ...); memory split by space: ldg, lds, ldc (LDC, ULDC), stg, sts, mem_other (LD, ST, LDL,
STL, ATOM*, RED, LDSM, LDGSTS, ...); branch (BRA, BSSY, BSYNC, EXIT, CALL, RET, WARPSYNC, ...);
other (everything else: FSETP, FMNMX, MUFU, conversions, S2R, BAR, NOP, ...).
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile

# --- machine limits (per SM) ------------------------------------------------------------------
LIMITS = {
    # regs/SM, max threads/SM, max blocks/SM, shared memory/SM (bytes)
    "sm_80": dict(regs=65536, threads=2048, blocks=32, smem=164 * 1024),
    "sm_90": dict(regs=65536, threads=2048, blocks=32, smem=228 * 1024),
}
REG_GRANULE = 256  # registers are allocated per warp in units of 256
SMEM_GRANULE = 128  # shared memory is allocated per block in units of 128 bytes
SMEM_RESERVED = 1024  # bytes the driver reserves per block on sm_80 and newer

# --- H200 roofline (sm_90) --------------------------------------------------------------------
H200_SMS = 132
H200_CLOCK = 1.98e9
H200_FP32_PEAK = H200_SMS * 128 * 2 * H200_CLOCK  # ~66.9 TFLOP/s
H200_HBM = 4.8e12  # bytes/s
ISSUE_PER_SM = 4  # warp instructions per clock per SM (4 schedulers)
FMA_MODULES = {"conv2d", "conv2d_small", "linear"}
# In those modules, the kernels bound by memory rather than by FMA: a batch-1 linear reads each
# weight once for M <= 8 multiply-adds.
BW_KERNELS = {"linear_gemv_f32"}
OCC_KNEE = 0.25  # occupancy at or above which latency is assumed hidden

INT_OPS = {
    "IMAD", "IADD3", "IADD", "IADD32I", "LEA", "SHF", "SHL", "SHR", "LOP3", "LOP", "LOP32I",
    "ISETP", "IMNMX", "IABS", "IMUL", "VIADD", "VIMNMX", "IDP", "SGXT", "BMSK", "POPC", "FLO",
    "BREV", "MOV", "MOV32I", "SEL", "PRMT", "PLOP3", "P2R", "R2P", "ICMP", "LEPC",
}
BRANCH_OPS = {
    "BRA", "BRX", "JMP", "JMX", "CALL", "RET", "EXIT", "BSSY", "BSYNC", "WARPSYNC", "BREAK",
    "BPT", "KILL", "YIELD",
}
MEM_OTHER = {
    "LD", "ST", "LDL", "STL", "ATOM", "ATOMS", "ATOMG", "RED", "LDSM", "LDGSTS", "LDGDEPBAR",
    "CCTL", "MEMBAR", "ERRBAR", "STSM", "UBLKCP", "UTMALDG", "UTMASTG",
}
CLASSES = ["ffma", "fmul", "fadd", "int", "ldg", "lds", "ldc", "stg", "sts", "mem_other",
           "branch", "other"]
MEM_CLASSES = ["ldg", "lds", "ldc", "stg", "sts", "mem_other"]

INSN_RE = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
LABEL_RE = re.compile(r"^(\.L_x_\d+|\$?[A-Za-z_$][\w$.]*):\s*$")
TARGET_RE = re.compile(r"`\((\.L_x_\d+)\)")


def base_opcode(text):
    toks = text.split()
    if toks and toks[0].startswith("@"):
        toks = toks[1:]
    return toks[0] if toks else ""


def classify(op):
    base = op.split(".")[0]
    if base in ("FFMA", "FMUL", "FADD"):
        return base.lower()
    if base in ("LDG", "LDS", "LDC", "STG", "STS"):
        return base.lower()
    if base == "ULDC":
        return "ldc"
    if base in MEM_OTHER:
        return "mem_other"
    if base in BRANCH_OPS:
        return "branch"
    if base in INT_OPS or (base.startswith("U") and base[1:] in INT_OPS):
        return "int"
    return "other"


def access_bytes(op):
    """Bytes per thread of an LDG/STG from its width suffix (default 32 bits)."""
    parts = op.split(".")
    for p in parts[1:]:
        if p == "128":
            return 16
        if p == "64":
            return 8
        if p in ("U8", "S8"):
            return 1
        if p in ("U16", "S16"):
            return 2
    return 4


def parse_sass(text):
    """{function: [(addr, opcode, full_text)], labels: {label: addr}} per .text section."""
    funcs = {}
    cur = None
    pending = []
    for line in text.splitlines():
        m = re.match(r"^\s*\.section\s+\.text\.([\w$]+),", line)
        if m:
            cur = dict(insns=[], labels={}, internal_at=None)
            funcs[m.group(1)] = cur
            pending = []
            continue
        if cur is None:
            continue
        m = LABEL_RE.match(line.strip())
        if m:
            name = m.group(1)
            if name.startswith("$__internal") and cur["internal_at"] is None:
                cur["internal_at"] = len(cur["insns"])
            pending.append(name)
            continue
        m = INSN_RE.match(line)
        if m:
            addr = int(m.group(1), 16)
            for lab in pending:
                cur["labels"][lab] = addr
            pending = []
            cur["insns"].append((addr, base_opcode(m.group(2)), m.group(2)))
    for f in funcs.values():
        for lab in pending:  # a label after the last instruction (section end)
            f["labels"][lab] = (f["insns"][-1][0] + 16) if f["insns"] else 0
    return funcs


def mix(insns):
    c = {k: 0 for k in CLASSES}
    gbytes = 0
    for _, op, _ in insns:
        k = classify(op)
        c[k] += 1
        if k in ("ldg", "stg"):
            gbytes += access_bytes(op)
    return c, gbytes


def hot_loop(f):
    insns = f["insns"]
    if f["internal_at"] is not None:
        insns = insns[: f["internal_at"]]
    if not insns:
        return None, None, []
    lo, hi = insns[0][0], insns[-1][0]
    loops = []
    for addr, op, text in insns:
        if op.split(".")[0] != "BRA":
            continue
        m = TARGET_RE.search(text)
        if not m or m.group(1) not in f["labels"]:
            continue
        t = f["labels"][m.group(1)]
        if lo <= t < addr:  # backward, inside the entry, not a branch to itself
            loops.append((t, addr))
    loops = sorted(set(loops))

    def body(lp):
        return [i for i in insns if lp[0] <= i[0] <= lp[1]]

    if not loops:
        return None, None, insns

    def contains(a, b):
        return a != b and a[0] <= b[0] and b[1] <= a[1]

    depth = {lp: sum(contains(o, lp) for o in loops) for lp in loops}
    inner = [lp for lp in loops if not any(contains(lp, o) for o in loops)]
    deepest = max(depth[lp] for lp in inner)
    cands = [lp for lp in inner if depth[lp] == deepest]
    size = {lp: len(body(lp)) for lp in cands}
    ffma = {lp: mix(body(lp))[0]["ffma"] for lp in cands}
    chosen = min(cands, key=lambda lp: (-ffma[lp], size[lp], lp[0]))
    shortest = min(cands, key=lambda lp: (size[lp], lp[0]))
    return chosen, shortest, body(chosen)


def ptxas_info(log):
    """{entry: dict(regs, smem, stack, spill_st, spill_ld)} from ptxas -v's log."""
    out = {}
    name = None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '([^']+)'", line)
        if m:
            name = m.group(1)
            out[name] = dict(regs=0, smem=0, stack=0, spill_st=0, spill_ld=0)
            continue
        if name is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads",
                      line)
        if m:
            out[name].update(stack=int(m.group(1)), spill_st=int(m.group(2)),
                             spill_ld=int(m.group(3)))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            out[name]["regs"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            out[name]["smem"] = int(s.group(1)) if s else 0
    return out


# --- launch block sizes from the host code ------------------------------------------------------
def block_sizes(root):
    """{entry: (threads per block, how)}: src/kernels/decl.rs names each kernel's shape function
    in src/kernels/shapes.rs, whose constants give the block. (src/cuda/*.rs launch through
    src/cuda/launch.rs, which takes the block from that shape; none has a block_dim of its own.)"""
    try:
        decl = open(os.path.join(root, "src/kernels/decl.rs")).read()
        shapes = open(os.path.join(root, "src/kernels/shapes.rs")).read()
    except OSError:
        return {}

    def const(name):
        m = re.search(r"const %s: [^=]+= ([^;]+);" % name, shapes)
        if not m:
            return None
        v = m.group(1).strip()
        if v.startswith("["):
            return math.prod(int(x) for x in re.findall(r"\d+", v))
        return int(v) if v.isdigit() else None

    fn_block = {}
    for fn in ("grid_stride", "grid_stride_product"):
        if const("ELTWISE_BLOCK"):
            fn_block[fn] = (const("ELTWISE_BLOCK"), "ELTWISE_BLOCK")
    if const("LINEAR_BLOCK"):
        fn_block["linear"] = (const("LINEAR_BLOCK"), "LINEAR_BLOCK")
    if const("GEMM_BLOCK"):
        for fn in ("linear_tiled", "conv2d_igemm"):
            fn_block[fn] = (const("GEMM_BLOCK"), "GEMM_BLOCK")
    if const("SMALL_BLOCK"):
        fn_block["conv2d_small"] = (const("SMALL_BLOCK"), "SMALL_BLOCK")
    if const("GEMV_BLOCK"):
        fn_block["linear_gemv"] = (const("GEMV_BLOCK"), "GEMV_BLOCK")
    if const("CONV_MAX_BLOCK"):
        # conv2d's block follows the feature map: 32..256 threads; 256 for any map >= 16x16
        fn_block["conv2d"] = (const("CONV_MAX_BLOCK"), "CONV_MAX_BLOCK (max)")
        fn_block["conv2d_depthwise"] = (const("CONV_MAX_BLOCK"), "CONV_MAX_BLOCK (max)")
    out = {}
    for m in re.finditer(r"kernel\s+\w+\s*=\s*(\w+)\s*\([^)]*\)\s*\{\s*launch:\s*(\w+)\(", decl):
        entry, fn = m.group(1), m.group(2)
        if fn in fn_block:
            out[entry] = fn_block[fn]
    return out


def occupancy(arch, regs, smem, block):
    lim = LIMITS[arch]
    warps = math.ceil(block / 32)
    by = {"threads": lim["threads"] // (warps * 32), "blocks": lim["blocks"]}
    if regs:
        per_warp = math.ceil(regs * 32 / REG_GRANULE) * REG_GRANULE
        by["regs"] = lim["regs"] // (per_warp * warps)
    per_block_smem = math.ceil(smem / SMEM_GRANULE) * SMEM_GRANULE + SMEM_RESERVED
    by["smem"] = lim["smem"] // per_block_smem
    blocks = min(by.values())
    limiter = min(by, key=lambda k: by[k])
    occ = blocks * warps / (lim["threads"] // 32)
    return occ, blocks, limiter


def estimate(module, row):
    """H200 estimate: (value, unit, model) -- see the header printed by main()."""
    occ_f = min(1.0, row["occupancy"] / OCC_KNEE)
    n = row["loop_instrs"] or 1
    if module in FMA_MODULES and row["kernel"] not in BW_KERNELS:
        v = H200_FP32_PEAK * row["mix"]["ffma"] / n * occ_f
        return v / 1e12, "TFLOP/s", "fma"
    issue_bw = H200_SMS * ISSUE_PER_SM * H200_CLOCK * 32 * row["global_bytes"] / n
    factor = min(1.0, issue_bw / H200_HBM)
    return H200_HBM * factor * occ_f / 1e12, "TB/s", "bw"


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ptxas", required=True)
    ap.add_argument("--nvdisasm", required=True)
    ap.add_argument("--arch", default="sm_80,sm_90")
    ap.add_argument("--json")
    ap.add_argument("--root", default=".")
    ap.add_argument("--tools", default="")
    a = ap.parse_args()
    archs = [x.strip() for x in a.arch.split(",") if x.strip()]
    for arch in archs:
        if arch not in LIMITS:
            sys.exit("sass_report: no occupancy limits for %s (known: %s)"
                     % (arch, ", ".join(LIMITS)))
    ptx_dir = os.path.join(a.root, "kernels/ptx")
    modules = sorted(f[:-4] for f in os.listdir(ptx_dir) if f.endswith(".ptx"))
    blocks = block_sizes(a.root)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for arch in archs:
            for module in modules:
                ptx = os.path.join(ptx_dir, module + ".ptx")
                cubin = os.path.join(work, "%s.%s.cubin" % (module, arch))
                p = run([a.ptxas, "-arch=" + arch, "-v", "-o", cubin, ptx])
                if p.returncode:
                    sys.stderr.write(p.stdout + p.stderr)
                    sys.exit("sass_report: ptxas rejected %s for %s" % (ptx, arch))
                info = ptxas_info(p.stdout + p.stderr)
                d = run([a.nvdisasm, "-c", cubin])
                if d.returncode:
                    sys.stderr.write(d.stderr)
                    sys.exit("sass_report: nvdisasm failed on %s" % cubin)
                funcs = parse_sass(d.stdout)
                for entry in sorted(info):
                    f = funcs.get(entry)
                    if f is None:
                        sys.exit("sass_report: no SASS for %s in %s" % (entry, cubin))
                    chosen, shortest, body = hot_loop(f)
                    c, gbytes = mix(body)
                    n = len(body)
                    block, how = blocks.get(entry, (256, "assumed"))
                    i = info[entry]
                    occ, nblocks, limiter = occupancy(arch, i["regs"], i["smem"], block)
                    row = dict(
                        arch=arch, module=module, kernel=entry, **i,
                        block=block, block_source=how, occupancy=occ,
                        blocks_per_sm=nblocks, occupancy_limiter=limiter,
                        loop=None if chosen is None else "%04x-%04x" % chosen,
                        shortest_loop=None if shortest is None else "%04x-%04x" % shortest,
                        loop_instrs=n, mix=c, global_bytes=gbytes,
                        calls=sum(op.startswith("CALL") for _, op, _ in body),
                        ffma_share=c["ffma"] / n if n else 0.0,
                        int_share=c["int"] / n if n else 0.0,
                        mem_share=sum(c[k] for k in MEM_CLASSES) / n if n else 0.0,
                    )
                    if arch == "sm_90":
                        v, unit, model = estimate(module, row)
                        row["estimate"] = dict(value=v, unit=unit, model=model)
                    rows.append(row)

    print("# sass_report: static analysis of kernels/ptx/*.ptx (ptxas -v + nvdisasm -c), no GPU")
    print("# tools: %s" % a.tools)
    print("# loop = the hot loop: innermost at the deepest nesting, most FFMA, then shortest;")
    print("#        loop_instrs = its body's SASS instructions; ffma%/int%/mem% = shares of them")
    print("# occ% = resident warps / 64 per SM from regs (256/warp granules), smem (+1 KiB per block)")
    print("#        and the launch block (* = block not found in the host code, 256 assumed;")
    print("#        conv2d: its largest block, 256)")
    print("# est (sm_90 rows: H200, 132 SMs, 1.98 GHz, fp32 peak %.1f TFLOP/s, HBM3e 4.8 TB/s), crude:"
          % (H200_FP32_PEAK / 1e12))
    print("#   conv2d/linear (FMA-bound): peak * FFMA share of the loop * min(1, occ/0.25)")
    print("#   others (bandwidth-bound): 4.8 TB/s * min(1, B/4.8 TB/s) * min(1, occ/0.25), where")
    print("#   B = 132 SMs * 4 warp-instr/clk * 1.98 GHz * 32 * (LDG+STG bytes per thread per loop")
    print("#   iteration / loop_instrs): the bandwidth the loop's instruction issue alone can feed")
    hdr = "%-5s %-24s %4s %6s %6s %5s %11s %5s %5s %5s %13s" % (
        "arch", "kernel", "regs", "spills", "smem", "occ%", "loop_instrs", "ffma%", "int%", "mem%",
        "est")
    print(hdr)
    for r in rows:
        est = "-"
        if "estimate" in r:
            e = r["estimate"]
            est = "%.2f %s" % (e["value"], e["unit"])
        loop_n = "%d" % r["loop_instrs"] + ("" if r["loop"] else " noloop")
        print("%-5s %-24s %4d %6d %6d %4.0f%s %11s %5.1f %5.1f %5.1f %13s" % (
            r["arch"], r["kernel"], r["regs"], r["spill_st"] + r["spill_ld"], r["smem"],
            100 * r["occupancy"], "*" if r["block_source"] == "assumed" else " ", loop_n,
            100 * r["ffma_share"], 100 * r["int_share"], 100 * r["mem_share"], est))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(dict(tools=a.tools, rows=rows), fh, indent=1)
            fh.write("\n")
        print("# json: %s" % a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
