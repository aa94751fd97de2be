#!/usr/bin/env bash
# Runs the C guests (guests/wasm/c-*.wasm, built by guests/c/build.sh) with
# the real `rusm` binary and checks their output and exit status.
# RUSM names the binary; default target/debug/rusm at the repo root, built
# with `cargo build -p rusm` when missing. Works from any cwd.
# Ends with `N passed, M failed`; exits non-zero if any check failed.
set -uo pipefail
cd "$(dirname "$0")"
c=$PWD
root=$(cd ../.. && pwd)
wasm=$root/guests/wasm
if [[ -z ${RUSM:-} ]]; then
    RUSM=$root/target/debug/rusm
    if [[ ! -x $RUSM ]]; then
        (cd "$root" && env -u CARGO_TARGET_DIR cargo build -q -p rusm) ||
            { echo "run-tests: cargo build -p rusm failed"; echo "0 passed, 1 failed"; exit 1; }
    fi
fi
passed=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# run NAME DIR -- ARGS...: runs `rusm ARGS` in DIR, keeping stdout+stderr
# and the exit code for the checks that follow.
run() {
    local name=$1 dir=$2; shift 3
    current=$name
    (cd "$dir" && timeout 60 "$RUSM" "$@") >"$out" 2>&1
    status=$?
}

# pass, fail, expect_status, expect, expect_none
source ../checks.sh || exit 1




# The header declares every import the runtime's own test prelude lists.
current=rusm.h
: >"$out"
imports=$(grep -o '(import "rusm" "[a-z_]*"' "$root/crates/rusm-wasm/tests/all/fixtures/prelude.wat" | cut -d'"' -f4)
missing=0
for name in $imports; do
    grep -q "RUSM_IMPORT($name)" include/rusm.h || { echo "missing import $name" >>"$out"; missing=1; }
done
count=$(grep -c '^RUSM_IMPORT(' include/rusm.h)
if ((missing == 0)); then pass "declares all $(wc -w <<<"$imports") imports of prelude.wat ($count RUSM_IMPORT lines)"; else fail "imports missing"; fi

for module in ping-pong abi-check; do
    current=c-$module
    if [[ -f $wasm/c-$module.wasm ]]; then
        size=$(stat -c %s "$wasm/c-$module.wasm")
        if ((size < 100 * 1024)); then pass "built, $size bytes (< 100 KiB)"; else fail "$size bytes"; fi
    else
        : >"$out"
        fail "missing $wasm/c-$module.wasm (run guests/c/build.sh)"
    fi
done

# Every import with the header's signatures links (else `failed to start`),
# and each call answers; no manifest here, so no components and no store.
run c-abi-check "$c" -- run "$wasm/c-abi-check.wasm" --capability trusted
expect_status 0
expect '^abi-check: make_ref >= RUSM_FIRST_REF -> 1$'
expect '^abi-check: msg_tag -> -5$'
expect '^abi-check: recv empty -> timeout$'
expect '^abi-check: cancel_timer -> 1$'
expect '^abi-check: spawn -> not found$'
expect '^abi-check: kill -> no process$'
expect '^abi-check: whereis is self -> 1$'
expect '^abi-check: kv_cas -> no store$'
expect '^abi-check: spawn_on -> no process$'
expect '^abi-check: register_global -> no process$'
expect '^abi-check: whereis_global -> not found$'
expect '^abi-check: nodes -> 0$'
expect '^abi-check: node_of -> no process$'
expect '^abi-check: exit$'
expect_none 'failed to start'

# Sandboxed: the same module still starts (every import is linked under any
# profile), but without allow-stdio its output is dropped.
run c-abi-check-sandboxed "$c" -- run "$wasm/c-abi-check.wasm"
expect_status 0
expect_none 'abi-check'

run c-ping-pong "$c/examples" -- run ping -- 2000
expect_status 0
expect '^ping: self is #1$'
expect '^ping: register pong -> denied$'
expect '^ping: spawned pong #[0-9]+, it answered "pong: hello"$'
expect '^ping: 2000 round trips in [0-9]+ ms$'
expect '^ping: "noise" from #1 waited in the mailbox$'
expect '^ping: timer #[0-9]+ delivered "tick"$'
expect '^ping: recv with a 50 ms timeout -> timeout$'
for call in list_processes 'spawn ping' kv_get; do
    expect "^ping: $call -> denied$"
done
expect '^ping: pong #[0-9]+ down: crashed: unreachable$'
expect '^ping: is_alive pong -> 0$'
expect '^ping: send to dead pong -> no process$'
expect '^ping: monitor dead pong: down noproc$'
expect '^ping: linked pong #[0-9]+ exited: crashed: bye$'
expect '^ping: killed pong #[0-9]+: killed$'
expect '^ping: demonitor after down -> not found$'
expect '^ping: after demonitor -> timeout$'
expect '^ping: done$'

# An exit with a reason is the root's reason, and `rusm run` says so.
run c-ping-pong-give-up "$c/examples" -- run ping -- 10 give-up
expect_status 1
expect '^ping: giving up$'
expect '^rusm: ping#[0-9]+ crashed: gave up on purpose$'

# As a sandboxed path target it may not spawn: `denied` comes back as a
# value, and the guest turns it into its exit reason.
run c-ping-pong-sandboxed "$c" -- run "$wasm/c-ping-pong.wasm"
expect_status 1
expect '^rusm: c-ping-pong#[0-9]+ crashed: spawn pong: denied$'
expect_none '^ping:'

echo "$passed passed, $failed failed"
# No check ran at all is a failure too, not a vacuous pass.
(( failed == 0 && passed > 0 ))
