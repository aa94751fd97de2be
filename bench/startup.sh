#!/usr/bin/env bash
# Start-up cost of `rusm run` on a trivial module with a warm artifact cache,
# beside raw Wasmtime (crates/rusm-wasm/examples/raw_run.rs) on the same
# module, interleaved in one run. Target: rusm run <= 50 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p rusm
cargo build -q --release -p rusm-wasm --example raw_run
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '(module (memory (export "memory") 1) (func (export "run")))' > "$dir/trivial.wat"
export RUSM_CACHE_DIR="$dir/cache"
python3 - "$dir" <<'PY'
import os, statistics, subprocess, sys, time
d = sys.argv[1]
rusm = ["target/release/rusm", "run", f"{d}/trivial.wat"]
raw = ["target/release/examples/raw_run", f"{d}/trivial.wat"]
for cmd in (rusm, raw):  # warm both caches
    subprocess.run(cmd, check=True)
times = {"rusm run": [], "raw wasmtime": []}
for _ in range(30):
    for name, cmd in (("rusm run", rusm), ("raw wasmtime", raw)):
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        times[name].append((time.perf_counter() - t) * 1000)
ours, base = statistics.median(times["rusm run"]), statistics.median(times["raw wasmtime"])
print(f"rusm run (warm cache)      median {ours:6.1f} ms")
print(f"baseline: raw wasmtime     median {base:6.1f} ms   ratio rusm/baseline = {ours / base:.2f}x (lower is better)")
print(f"target: rusm run <= 50 ms: {'met' if ours <= 50 else 'MISSED'}")
print('{"scenario": "startup", "value": %.3f, "unit": "ms", "baselines": {"raw wasmtime": %.3f}, "ratios": {"raw wasmtime": %.3f}}' % (ours, base, ours / base))
PY
