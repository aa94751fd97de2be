#!/usr/bin/env bash
# Builds the Rust guests in guests/ for wasm32-wasip1 and copies each
# example's module to guests/wasm/<example>.wasm.
#
#   scripts/build-guests.sh            install the toolchain if missing, build
#   scripts/build-guests.sh --test     ... then run guests/run-tests.sh
#
# Toolchain, in order of preference:
#   1. rustup with the wasm32-wasip1 target installed (a stable build);
#   2. Debian's packages (rustc-web, cargo-web, rust-web-src, lld, wasi-libc),
#      installed here with apt-get when missing: Debian ships no prebuilt
#      std for wasm32-wasip1, so std is built from rust-web-src
#      (-Zbuild-std, allowed on a stable compiler by RUSTC_BOOTSTRAP) and
#      linked with wasm-ld against Debian's wasi-libc.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
guests=$root/guests
target=wasm32-wasip1
# Its own target dir: the host workspace's target/ is shared with others.
guest_target=$guests/target

toolchain=
if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    toolchain=rustup
else
    debian_tools=(/usr/bin/rustc /usr/bin/cargo /usr/bin/wasm-ld /usr/lib/wasm32-wasi/libc.a)
    missing=0
    for tool in "${debian_tools[@]}"; do [[ -e $tool ]] || missing=1; done
    [[ -d /usr/lib/rustlib/src/rust/library ]] || missing=1
    if (( missing )); then
        echo "build-guests: installing the Debian Rust toolchain for $target" >&2
        sudo=; (( EUID == 0 )) || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
            rustc-web cargo-web rust-web-src lld wasi-libc >/dev/null
    fi
    toolchain=debian
fi

cd "$guests"
echo "build-guests: building with the $toolchain toolchain" >&2
if [[ $toolchain == rustup ]]; then
    CARGO_TARGET_DIR=$guest_target cargo build --locked --target "$target" --release
else
    CARGO_TARGET_DIR=$guest_target \
    PATH=/usr/bin:$PATH \
    RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_WASM32_WASIP1_LINKER=wasm-ld \
    RUSTFLAGS="-L /usr/lib/wasm32-wasi -C link-self-contained=no" \
        /usr/bin/cargo build --locked -Zbuild-std=std,panic_abort --target "$target" --release
fi

mkdir -p "$guests/wasm"
for dir in "$guests"/examples/*/; do
    name=$(basename "$dir")
    cp "$guest_target/$target/release/${name//-/_}.wasm" "$guests/wasm/$name.wasm"
done
ls -l "$guests"/wasm/*.wasm | awk '{ printf "build-guests: %-40s %7d bytes\n", $9, $5 }' >&2

if [[ ${1:-} == --test ]]; then
    exec "$guests/run-tests.sh"
fi
