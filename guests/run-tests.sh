#!/usr/bin/env bash
# Runs every example guest with the real `rusm` binary and checks its
# output. Needs the modules in guests/wasm (scripts/build-guests.sh).
# Builds `rusm` (cargo build -p rusm) unless RUSM names a binary.
# Ends with `N passed, M failed`; exits non-zero if any check failed.
set -uo pipefail
cd "$(dirname "$0")"
guests=$PWD
if [[ -z ${RUSM:-} ]]; then
    (cd .. && env -u CARGO_TARGET_DIR cargo build -q -p rusm) || { echo "run-tests: cargo build -p rusm failed"; echo "0 passed, 1 failed"; exit 1; }
    RUSM=$guests/../target/debug/rusm
fi
wasm=$guests/wasm
passed=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# run NAME DIR -- ARGS...: runs `rusm ARGS` in examples/DIR (or guests/),
# keeping stdout+stderr and the exit code for the checks that follow.
run() {
    local name=$1 dir=$2; shift 3
    current=$name
    (cd "$dir" && timeout 60 "$RUSM" "$@") >"$out" 2>&1
    status=$?
}

pass() { passed=$((passed + 1)); echo "ok   $current: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $current: $1"; sed 's/^/     | /' "$out"; }

# expect_status N: the run's exit code was N.
expect_status() {
    if [[ $status == "$1" ]]; then pass "exit $1"; else fail "exit $status, expected $1"; fi
}

# expect REGEX: some output line matches REGEX (grep -E).
expect() {
    if grep -Eq -- "$1" "$out"; then pass "/$1/"; else fail "no line matches /$1/"; fi
}

# The library's own unit tests (encodings, error codes), on the host.
current=rusm-guest
if CARGO_TARGET_DIR=$guests/target cargo test -q -p rusm-guest >"$out" 2>&1; then pass "unit tests"; else fail "unit tests"; fi

for module in hello ping-pong sandbox-demo supervised-worker kv-counter request-reply; do
    current=$module
    if [[ -f $wasm/$module.wasm ]]; then pass "built"; else fail "missing $wasm/$module.wasm (run scripts/build-guests.sh)"; fi
done

run hello "$guests" -- run "$wasm/hello.wasm" --capability trusted
expect_status 0
expect '^hello from #[0-9]+$'
size=$(stat -c %s "$wasm/hello.wasm" 2>/dev/null || echo 0)
if (( size > 0 && size < 100 * 1024 )); then pass "minimal guest is $size bytes (< 100 KiB)"; else fail "minimal guest is $size bytes"; fi

run ping-pong examples/ping-pong -- run ping -- 10000
expect_status 0
expect '^ping-pong: 10000 round trips in [0-9]+ ms \([0-9]+ round trips/s\)$'

run sandbox-demo examples/sandbox-demo -- run demo
expect_status 0
for call in list_processes 'kill parent' spawn kv_get 'process_info parent'; do
    expect "^sandbox-demo: $call -> denied$"
done
expect '^sandbox-demo: process_info self -> ok'
expect '^sandbox-demo: jail finished$'

run supervised-worker examples/supervised-worker -- run supervisor
expect_status 0
expect '^supervisor: job 2 worker #[0-9]+ crashed: panicked at [^ ]+src/lib.rs:[0-9]+:[0-9]+: job 2 failed on purpose; restarting$'
expect '^supervisor: job 3 done by worker #[0-9]+: 465$'
expect '^supervisor: 3 jobs done, 1 restart\(s\)$'

rm -rf examples/kv-counter/data
run kv-counter examples/kv-counter -- run counter
expect_status 0
expect '^kv-counter: visits=1$'
run kv-counter examples/kv-counter -- run counter
expect '^kv-counter: visits=2$'
expect '^kv-counter: keys=\["last-visitor", "visits"\]$'
rm -rf examples/kv-counter/data

run request-reply examples/request-reply -- run main
expect_status 0
expect '^request-reply: get -> 42$'
expect '^request-reply: crash -> error: exited \(.*crashed: panicked at .*asked to crash with total 42\)$'
expect '^request-reply: get after crash -> error: no process$'

# A panic in the root process is its exit reason, and `rusm run` says so.
run panic-root "$guests" -- run "$wasm/hello.wasm" --capability trusted -- panic
expect_status 1
expect '^rusm: hello#[0-9]+ crashed: panicked at [^ ]+src/lib.rs:[0-9]+:[0-9]+: asked to panic$'

# An entry that returns Err ends with the error as its reason. Run as a path
# target there is no manifest, so the supervisor's spawn of `worker` fails.
run err-root "$guests" -- run "$wasm/supervised-worker.wasm" --capability trusted
expect_status 1
expect '^rusm: supervised-worker#[0-9]+ crashed: not found$'

echo "$passed passed, $failed failed"
(( failed == 0 ))
