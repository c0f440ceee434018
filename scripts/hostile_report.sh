#!/usr/bin/env bash
# Builds the release CLI and runs every file of the hostile corpus through inspect --json,
# inspect, convert and load (when the binary has it), each under a 4 GiB address-space cap and a
# 60 s kill, printing exit status, peak RSS and wall time per file and command, then the maximum
# of each per command. The issue's bar: RSS < 1 GB and time < 5 s for every file in every
# command. Usage: scripts/hostile_report.sh [FILTER]   (FILTER: a substring of file names)
# Needs python3 (standard library only) to measure the children; their peak RSS includes the
# forked Python image before exec (about 11 MiB), a floor on every row, not a cost of ours.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p tensorport-cli --bin tensorport >&2
bin="${CARGO_TARGET_DIR:-target}/release/tensorport"
python3 - "$bin" tests/fixtures/hostile "${1:-}" <<'EOF'
import json, os, resource, subprocess, sys, tempfile, time

binary, corpus, only = sys.argv[1], sys.argv[2], sys.argv[3]
AS, KILL = 4 << 30, 60
manifest = json.load(open(os.path.join(corpus, "manifest.json")))["files"]
help_text = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
has_load = any(l.strip().startswith("load ") for l in help_text.splitlines())

def limit():
    resource.setrlimit(resource.RLIMIT_AS, (AS, AS))

def measure(args):
    start = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, preexec_fn=limit)
    status, hung = None, False
    while status is None:
        pid, st, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            status = st
        elif time.monotonic() - start > KILL:
            p.kill()
            _, status, ru = os.wait4(p.pid, 0)
            hung = True
        else:
            time.sleep(0.005)
    wall = time.monotonic() - start
    if hung:
        how = "hung"
    elif os.WIFEXITED(status):
        how = str(os.WEXITSTATUS(status))
    else:
        how = "sig" + str(os.WTERMSIG(status))
    return how, ru.ru_maxrss * 1024, wall

out_dir = tempfile.mkdtemp(prefix="hostile-report-")
commands = ["inspect_json", "inspect", "convert"] + (["load"] if has_load else [])
worst = {c: [0, "", 0.0, ""] for c in commands}
print(f"{'file':44} {'command':12} {'exit':>5} {'peak RSS MiB':>12} {'wall s':>8}")
for name in sorted(manifest):
    if only and only not in name:
        continue
    path = os.path.join(corpus, name)
    out = os.path.join(out_dir, "out.pt")
    argv = {"inspect_json": ["inspect", path, "--json"], "inspect": ["inspect", path],
            "convert": ["convert", path, out], "load": ["load", path, "--map-location", "cpu"]}
    for c in commands:
        how, rss, wall = measure([binary] + argv[c])
        print(f"{name[6:]:44} {c:12} {how:>5} {rss / 2**20:12.1f} {wall:8.2f}")
        w = worst[c]
        if rss > w[0]:
            w[0], w[1] = rss, name
        if wall > w[2]:
            w[2], w[3] = wall, name
        if os.path.exists(out):
            os.remove(out)
if not has_load:
    print("note: this binary has no load command; load was not measured")
print()
for c, (rss, rss_file, wall, wall_file) in worst.items():
    print(f"max {c:12} peak RSS {rss / 2**20:8.1f} MiB ({rss_file})   "
          f"wall {wall:6.2f} s ({wall_file})")
EOF
