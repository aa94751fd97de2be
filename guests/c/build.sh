#!/usr/bin/env bash
# Builds every C example (guests/c/examples/*.c) and check (guests/c/tests/*.c)
# into guests/wasm/c-<name>.wasm with clang --target=wasm32-wasi against
# Debian's wasi-libc.
#
# Installs the toolchain when missing (Debian 12 packages: clang, lld,
# wasi-libc, libclang-rt-14-dev-wasm32), with sudo only when not root.
# Works from any cwd. CC overrides the compiler (default: clang).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "$here/.." && pwd)/wasm
sysroot=/usr
include=$sysroot/include/wasm32-wasi
libdir=$sysroot/lib/wasm32-wasi
CC=${CC:-clang}

# The compiler-rt builtins for wasm32 (libclang_rt.builtins-wasm32.a), which
# clang links into every wasm32-wasi program.
have_builtins() {
    [[ -f $("$CC" --target=wasm32-wasi -print-libgcc-file-name 2>/dev/null) ]]
}

if ! command -v "$CC" >/dev/null || ! command -v wasm-ld >/dev/null ||
    [[ ! -f $include/stdio.h || ! -f $libdir/libc.a ]] || ! have_builtins; then
    echo "build.sh: installing clang, lld, wasi-libc, libclang-rt-14-dev-wasm32" >&2
    sudo=
    if [[ $(id -u) != 0 ]]; then sudo=sudo; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq clang lld wasi-libc libclang-rt-14-dev-wasm32 >/dev/null
fi

# --sysroot=/usr finds crt1-*.o and libc.a in /usr/lib/wasm32-wasi; with
# -nostdlibinc the only headers are wasi-libc's and clang's own (no host
# /usr/include, whose glibc headers would be wrong for wasm32).
cflags=(
    --target=wasm32-wasi --sysroot="$sysroot" -nostdlibinc -isystem "$include"
    -I "$here/include" -O2 -Wall -Wextra -Werror
)
# `run` is the entry ABI.md prefers (before `_start`): a reactor module
# exporting `run`; the runtime calls wasi-libc's `_initialize` (constructors)
# before it. -s strips the names section: a smaller module (drop it to debug).
ldflags=(-mexec-model=reactor -L "$libdir" -s)

mkdir -p "$out"
# tests/*.c are checks for run-tests.sh (abi-check imports every function).
for src in "$here"/examples/*.c "$here"/tests/*.c; do
    name=$(basename "$src" .c)
    wasm=$out/c-$name.wasm
    "$CC" "${cflags[@]}" "$src" "${ldflags[@]}" -o "$wasm"
    echo "build.sh: $wasm ($(stat -c %s "$wasm") bytes)"
done
