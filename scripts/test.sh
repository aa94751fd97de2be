#!/usr/bin/env bash
# The whole test suite: the Rust workspace, then the Rust guests (which
# installs Debian's wasm toolchain first if it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
bash scripts/build-guests.sh --test
