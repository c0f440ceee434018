#!/usr/bin/env bash
# Every committed fixture is what its committed generator makes with real torch: regenerate each
# into a temporary folder and compare (.ci/fixtures_match.py: byte for byte, except the float
# outputs torch computes, which may round differently on another CPU). Usage:
# .ci/check_fixtures.sh PYTHON
set -euo pipefail
cd "$(dirname "$0")/.."
py="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
"$py" tests/fixtures/gen_fixtures.py --out "$tmp/main" >/dev/null 2>&1
mkdir -p "$tmp/committed/main"
for part in ok bad manifest.json; do
    cp -r "tests/fixtures/$part" "$tmp/committed/main/"
done
"$py" .ci/fixtures_match.py "$tmp/committed/main" "$tmp/main" || status=1
# torch.export programs: the committed archives and their torch outputs beside the generator.
"$py" tests/fixtures/pt2/gen_pt2.py --out "$tmp/pt2gen" >/dev/null 2>&1
mkdir -p "$tmp/committed/pt2"
find tests/fixtures/pt2 -maxdepth 1 -type f ! -name '*.py' -exec cp {} "$tmp/committed/pt2/" \;
"$py" .ci/fixtures_match.py "$tmp/committed/pt2" "$tmp/pt2gen/pt2" || status=1
# The hostile corpus holds no computed floats, so it must match byte for byte (and a differing
# bomb must never reach fixtures_match.py, which loads differing files with torch).
"$py" tests/fixtures/hostile/gen_hostile.py --out "$tmp/hostile" >/dev/null 2>&1
diff -rq -x '*.py' -x README.md -x .gitignore -x __pycache__ tests/fixtures/hostile "$tmp/hostile" || status=1
# The hostile .pt2 corpus: its files byte for byte. Its torch verdicts take about half an hour
# of torch.export.load runs, so CI regenerates the files only (--no-torch) and leaves the
# recorded verdicts to the generator's full run.
"$py" tests/fixtures/hostile_pt2/gen_hostile_pt2.py --no-torch --out "$tmp/hostile_pt2" >/dev/null 2>&1
diff -rq -x '*.py' -x README.md -x manifest.json -x __pycache__ tests/fixtures/hostile_pt2 "$tmp/hostile_pt2" || status=1
# Test images and torchvision's preprocessing of them (refs.pt holds torch's floats).
"$py" tests/fixtures/images/gen_images.py --out "$tmp/images" >/dev/null 2>&1
mkdir -p "$tmp/committed/images"
find tests/fixtures/images -maxdepth 1 -type f ! -name '*.py' -exec cp {} "$tmp/committed/images/" \;
"$py" .ci/fixtures_match.py "$tmp/committed/images" "$tmp/images" || status=1
for gen in tests/fixtures/ops/gen_*.py; do
    name=$(basename "$gen" .py)
    "$py" "$gen" --out "$tmp/$name" >/dev/null 2>&1
    outs=("$tmp/$name"/*)
    if [ ! -e "${outs[0]}" ]; then
        echo "$gen wrote nothing under --out" >&2
        status=1
        continue
    fi
    for out in "${outs[@]}"; do
        "$py" .ci/fixtures_match.py "tests/fixtures/ops/$(basename "$out")" "$out" || status=1
    done
done
if [ "$status" -ne 0 ]; then
    echo "fixtures differ from a fresh run of their generators; regenerate and commit them" >&2
    exit 1
fi
echo "fixtures match their generators"
