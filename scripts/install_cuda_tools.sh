#!/usr/bin/env bash
# Installs the pinned NVRTC (for build.rs) and ptxas (for .ci/check_ptx.sh) from PyPI into the
# git-ignored .tools/cuda. Versions come from kernels/cuda-tools.env. Idempotent: does nothing
# when the pinned versions are already there.
#
# Usage: scripts/install_cuda_tools.sh [DEST]     (DEST defaults to .tools/cuda)
# Afterwards `cargo build` compiles kernels/*.cu with NVRTC (build.rs finds the library there).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=../kernels/cuda-tools.env
source "$root/kernels/cuda-tools.env"
dest="${1:-$root/.tools/cuda}"
stamp="$dest/.installed"
want="nvidia-cuda-nvrtc-cu12==$NVRTC_VERSION nvidia-cuda-nvcc-cu12==$PTXAS_VERSION"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" \
      && -f "$dest/nvidia/cuda_nvrtc/lib/libnvrtc.so.12" && -x "$dest/nvidia/cuda_nvcc/bin/ptxas" ]]; then
    echo "CUDA tools already installed in $dest ($want)"
    exit 0
fi

# pip --target will not merge a second nvidia/ tree into an existing one, so every wheel goes in
# with ONE call into a fresh folder, which then replaces the old one.
python="${PYTHON:-python3}"
tmp="$dest.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "installing $want into $dest"
# shellcheck disable=SC2086 # $want is two requirement words on purpose
"$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --no-compile \
    --target "$tmp" $want
chmod +x "$tmp/nvidia/cuda_nvcc/bin/ptxas"
echo "$want" >"$tmp/.installed"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$tmp" "$dest"
trap - EXIT
# build.rs does not watch a missing NVRTC (cargo would rerun it on every build); touching the
# pins file, which it watches, makes the next cargo build compile the kernels with NVRTC.
touch "$root/kernels/cuda-tools.env"
echo "NVRTC: $dest/nvidia/cuda_nvrtc/lib/libnvrtc.so.12"
echo "ptxas: $dest/nvidia/cuda_nvcc/bin/ptxas ($("$dest/nvidia/cuda_nvcc/bin/ptxas" --version | tail -1))"
