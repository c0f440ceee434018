#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU, in one call (the device tool's budget is
# minutes): the driver and GPUs, every test with a missing GPU a failure
# (TENSORPORT_REQUIRE_CUDA=1), then the GPU-vs-CPU bench (criterion, short). Prints a summary
# table at the end. Needs only a Rust toolchain and the NVIDIA driver; the PTX is the committed
# one (no NVRTC on the device).
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
        summary+=("$(printf '%-12s %-6s %5ss' "$name" ok $((SECONDS - t0)))")
    else
        summary+=("$(printf '%-12s %-6s %5ss  (see %s)' "$name" FAILED $((SECONDS - t0)) "$out/$name.log")")
    fi
}
run driver nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv
run tests env TENSORPORT_REQUIRE_CUDA=1 cargo test --release
run bench cargo bench --bench gpu_vs_cpu -- --warm-up-time 1 --measurement-time 2
echo "== GPUs"
cat "$out/driver.log"
echo "== tests (TENSORPORT_REQUIRE_CUDA=1): results"
grep -E "^test result|FAILED|panicked" "$out/tests.log" | sort | uniq -c
echo "== bench: medians"
grep -E "^[a-z_0-9]+/(cpu|cuda:[0-9]+)/|time:|GFLOP/s|GB/s" "$out/bench.log" | head -80
echo "== summary"
printf '%s\n' "${summary[@]}"
