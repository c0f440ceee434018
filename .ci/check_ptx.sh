#!/usr/bin/env bash
# CI: the committed kernels/ptx/ is exactly what the pinned NVRTC makes of kernels/*.cu, and the
# pinned ptxas (what an R550 driver accepts) assembles every module for each SM in PTXAS_ARCHS
# without warnings or spills. Prints registers, shared memory and spills per kernel.
# Standalone: installs the pinned tools into .tools/cuda (scripts/install_cuda_tools.sh) first.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export CARGO_TERM_COLOR=never
t0=$(date +%s%N)
# shellcheck source=../kernels/cuda-tools.env
source kernels/cuda-tools.env

scripts/install_cuda_tools.sh
tools="$root/.tools/cuda"
ptxas="$tools/nvidia/cuda_nvcc/bin/ptxas"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== recompiling kernels/*.cu with NVRTC $NVRTC_VERSION ($PTX_ARCH)"
# TENSORPORT_NVRTC makes NVRTC mandatory (no silent fallback to the committed PTX); a fresh
# TENSORPORT_PTX_OUT makes build.rs run and copy what it produced there. TENSORPORT_WRITE_PTX
# would overwrite the committed copy we are checking, so it is unset.
env -u TENSORPORT_WRITE_PTX \
    TENSORPORT_NVRTC="$tools/nvidia/cuda_nvrtc/lib/libnvrtc.so.12" \
    TENSORPORT_PTX_OUT="$work/fresh" \
    cargo check --lib --quiet
if ! diff -ru --exclude=README.md kernels/ptx "$work/fresh" >"$work/diff"; then
    head -n 60 "$work/diff"
    echo "kernels/ptx/ is stale: refresh it with 'TENSORPORT_WRITE_PTX=1 cargo build' (after" >&2
    echo "scripts/install_cuda_tools.sh) and commit kernels/ptx/" >&2
    exit 1
fi
echo "kernels/ptx/ matches a fresh compile ($(ls kernels/ptx/*.ptx | wc -l) modules)"

echo "== ptxas $PTXAS_VERSION -v --warn-on-spills -Werror ($PTXAS_ARCHS)"
printf '%-6s %-16s %-16s %5s %8s %7s %12s %11s\n' \
    arch module kernel regs smem_B stack_B spill_st_B spill_ld_B
for arch in $PTXAS_ARCHS; do
    for ptx in kernels/ptx/*.ptx; do
        module=$(basename "$ptx" .ptx)
        if ! "$ptxas" -arch="$arch" -v --warn-on-spills -Werror -o "$work/out.cubin" "$ptx" \
            >"$work/log" 2>&1; then
            cat "$work/log" >&2
            echo "ptxas rejected $ptx for $arch" >&2
            exit 1
        fi
        # ptxas -v says, per entry: "Compiling entry function 'NAME'", then "N bytes stack
        # frame, N bytes spill stores, N bytes spill loads", then "Used N registers[, N bytes
        # smem], N bytes cmem[0]".
        awk -v arch="$arch" -v module="$module" '
            /Compiling entry function/ { split($0, q, "'\''"); name = q[2]; smem = 0 }
            /bytes stack frame/ { stack = $1; st = $5; ld = $9 }
            /Used [0-9]+ registers/ {
                for (i = 1; i <= NF; i++) {
                    if ($i == "Used") regs = $(i + 1)
                    if ($i == "smem," || $i == "smem") smem = $(i - 2)
                }
                printf "%-6s %-16s %-16s %5s %8s %7s %12s %11s\n", arch, module, name, regs, smem, stack, st, ld
            }' "$work/log"
    done
done
echo "check_ptx passed in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
