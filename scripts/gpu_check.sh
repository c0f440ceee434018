#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU, in one call (the device tool's budget is
# minutes; this takes under ten on one GPU): the driver and GPUs, the GPU tests with a missing
# GPU a failure (TENSORPORT_REQUIRE_CUDA=1), then the GPU report (examples/gpu_report.rs: each
# kernel family's GFLOP/s or GB/s, the recipe Net's images/s at batch 1, 1024 and 65536 with the
# data on the GPU and from host memory, ResNet-18 and MobileNetV2 from their .pt2 at batch 1 and
# 64, checkpoint-to-GPU GB/s, each beside the CPU's figure from the same run), and, when a
# Python there has torch and torch sees the GPU, torch's figures for the same rows
# (scripts/gpu_torch_report.py). Prints the tables at the end. Needs only a Rust toolchain and
# the NVIDIA driver; the PTX is the committed one (no NVRTC on the device), and only the test
# binaries with GPU tests and the report are built.
#
# Usage: scripts/gpu_check.sh [OUT_DIR]     (OUT_DIR, default $OUT or ./gpu_check, gets the logs)
# The .pt2 models come from TENSORPORT_PT2_DIR, else shared/pt2-models, else
# ~/.cache/tensorport/pt2-models (.ci/run's cache, 64x64 images); for 224x224 ones run
# `tests/fixtures/pt2/gen_models.py --out DIR --size 224 --only resnet18,mobilenet_v2` where
# torch is. Each runs at the image size it was exported with; the report says which were missing.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu_check}}"
mkdir -p "$out"
summary=()
run() {
    local name=$1
    shift
    local t0=$SECONDS
    if "$@" >"$out/$name.log" 2>&1; then
        summary+=("$(printf '| %-8s | ok     | %5ss |' "$name" $((SECONDS - t0)))")
    else
        summary+=("$(printf '| %-8s | FAILED | %5ss | see %s' "$name" $((SECONDS - t0)) "$out/$name.log")")
    fi
}
gpu_tests=(cuda_runtime cuda_ops cuda_faults cuda_plan nn_parallel nn_net ops_add ops_conv2d ops_linear
    ops_pool_relu ops_shape_softmax)
test_args=()
for t in "${gpu_tests[@]}"; do test_args+=(--test "$t"); done
run driver nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv
run build cargo build --release -p tensorport "${test_args[@]}" --example gpu_report
run tests env TENSORPORT_REQUIRE_CUDA=1 cargo test --release -p tensorport "${test_args[@]}"
pt2=""
for d in "${TENSORPORT_PT2_DIR:-}" shared/pt2-models "$HOME/.cache/tensorport/pt2-models"; do
    if [[ -n "$d" && -d "$d" ]]; then pt2="$d"; break; fi
done
run report cargo run --release -p tensorport --example gpu_report -- ${pt2:+--pt2 "$pt2"}
torch_py=""
for py in "${TENSORPORT_TORCH_PYTHON:-}" "$HOME/.cache/tensorport/venv/bin/python" python3; do
    if [[ -n "$py" ]] && "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
        torch_py="$py"; break
    fi
done
if [[ -n "$torch_py" ]]; then
    run torch "$torch_py" scripts/gpu_torch_report.py --device cuda:0 ${pt2:+--pt2 "$pt2"}
fi
echo "== GPUs"
cat "$out/driver.log"
echo "== tests (TENSORPORT_REQUIRE_CUDA=1)"
awk '/^test result:/ { p += $4; f += $6; i += $8 } /^skipped:/ { s++ }
    END { printf "| passed | failed | ignored | skip notices |\n|---:|---:|---:|---:|\n| %d | %d | %d | %d |\n", p, f, i, s }' \
    "$out/tests.log"
grep -E "^skipped:" "$out/tests.log" | sort | uniq -c | head -20
grep -E "FAILED|panicked" "$out/tests.log" | head -20
echo "== report"
grep -E "^device:|^\|" "$out/report.log"
echo "== torch on the same GPU"
if [[ -n "$torch_py" ]]; then
    grep -E "^torch |^\|" "$out/torch.log"
else
    echo "no Python with torch that sees the GPU: no torch figures"
fi
echo "== steps"
printf '| step | status | time |\n|---|---|---:|\n'
printf '%s\n' "${summary[@]}"
