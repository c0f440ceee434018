#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU, in one call (the device tool's budget is
# minutes; this takes under ten on one GPU): the driver and GPUs, the GPU tests with a missing
# GPU a failure (TENSORPORT_REQUIRE_CUDA=1), then the GPU report (examples/gpu_report.rs: op
# throughput, the recipe Net's images/s at batch 1, 1024 and 65536, checkpoint-to-GPU GB/s, each
# beside the CPU's figure from the same run). Prints one table at the end. Needs only a Rust
# toolchain and the NVIDIA driver; the PTX is the committed one (no NVRTC on the device), and
# only the test binaries with GPU tests and the report are built.
#
# Usage: scripts/gpu_check.sh [OUT_DIR]     (OUT_DIR, default $OUT or ./gpu_check, gets the logs)
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
gpu_tests=(cuda_runtime cuda_ops cuda_faults nn_parallel nn_net ops_add ops_conv2d ops_linear
    ops_pool_relu ops_shape_softmax)
test_args=()
for t in "${gpu_tests[@]}"; do test_args+=(--test "$t"); done
run driver nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv
run build cargo build --release -p tensorport "${test_args[@]}" --example gpu_report
run tests env TENSORPORT_REQUIRE_CUDA=1 cargo test --release -p tensorport "${test_args[@]}"
run report cargo run --release -p tensorport --example gpu_report
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
echo "== steps"
printf '| step | status | time |\n|---|---|---:|\n'
printf '%s\n' "${summary[@]}"
