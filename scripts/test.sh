#!/usr/bin/env bash
# The whole test suite: the Rust workspace, then the Rust guests (which
# installs Debian's wasm toolchain first if it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
# `rusm-bench/wasm`: the Wasm benchmarks never run here, but they must build.
cargo test --workspace --locked --features rusm-bench/wasm
bash scripts/build-guests.sh --test
