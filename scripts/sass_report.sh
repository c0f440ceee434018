#!/usr/bin/env bash
# Static performance report of the committed kernels/ptx/*.ptx: per arch and kernel, ptxas -v's
# registers / shared memory / spills, the hot loop's SASS instruction mix (nvdisasm), the
# occupancy the host's launch block allows, and a crude H200 roofline estimate. No GPU, no cargo:
# python3 + pip (PyPI) only. docs/sass-report.md says how to read it; scripts/sass_report.py has
# the hot-loop rule, the instruction classes and the models.
#
# Usage: scripts/sass_report.sh [--arch sm_80,sm_90] [--json OUT]
#
# Tools: ptxas is the pinned one (PTXAS_VERSION in kernels/cuda-tools.env), installed by
# scripts/install_cuda_tools.sh. nvdisasm: PyPI has no nvidia-cuda-nvdisasm-cu12 wheel at all
# (so none at PTXAS_VERSION, and no NVDISASM_VERSION pin in kernels/cuda-tools.env); the only
# nvdisasm wheels are nvidia-cuda-nvdisasm 13.x, and the closest to 12.4 is 13.2.51, pinned here.
# It reads ptxas 12.4's sm_80/sm_90 cubins (it warns "Disassembling Std Elf to Old format ...
# switching to Old format", which is harmless and filtered out). Installed, idempotently, into
# .tools/cuda/nvdisasm (its own pip --target folder: pip will not merge a second nvidia/ tree
# into the one install_cuda_tools.sh makes).
set -euo pipefail
NVDISASM_PKG="nvidia-cuda-nvdisasm==13.2.51"

root="$(cd "$(dirname "$0")/.." && pwd)"
archs="sm_80,sm_90"
json=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --arch) archs="${2:?--arch needs a value}"; shift 2 ;;
        --arch=*) archs="${1#--arch=}"; shift ;;
        --json) json="${2:?--json needs a file}"; shift 2 ;;
        --json=*) json="${1#--json=}"; shift ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "sass_report: unknown argument $1 (usage: $0 [--arch sm_80,sm_90] [--json OUT])" >&2
           exit 2 ;;
    esac
done
archs="${archs// /,}"

# shellcheck source=../kernels/cuda-tools.env
source "$root/kernels/cuda-tools.env"
"$root/scripts/install_cuda_tools.sh" >&2
ptxas="$root/.tools/cuda/nvidia/cuda_nvcc/bin/ptxas"

python="${PYTHON:-python3}"
nvd_dest="$root/.tools/cuda/nvdisasm"
nvdisasm="$nvd_dest/nvidia/cu13/bin/nvdisasm"
if [[ ! -f "$nvd_dest/.installed" || "$(cat "$nvd_dest/.installed")" != "$NVDISASM_PKG" \
      || ! -x "$nvdisasm" ]]; then
    tmp="$nvd_dest.tmp.$$"
    rm -rf "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    echo "installing $NVDISASM_PKG into $nvd_dest" >&2
    "$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        --no-deps --no-compile --target "$tmp" "$NVDISASM_PKG"
    chmod +x "$tmp/nvidia/cu13/bin/nvdisasm"
    echo "$NVDISASM_PKG" >"$tmp/.installed"
    rm -rf "$nvd_dest"
    mv "$tmp" "$nvd_dest"
    trap - EXIT
fi

tools="ptxas $PTXAS_VERSION ($ptxas), nvdisasm ${NVDISASM_PKG#*==} ($nvdisasm)"
tools="${tools//$root\//}"
args=(--root "$root" --ptxas "$ptxas" --nvdisasm "$nvdisasm" --arch "$archs" --tools "$tools")
if [[ -n "$json" ]]; then
    args+=(--json "$json")
fi
exec "$python" "$root/scripts/sass_report.py" "${args[@]}"
