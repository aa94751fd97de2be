#!/usr/bin/env bash
# Per-spawn instructions and instruction-cache misses of the Wasm storms
# (and per-request ones of http-hello, its load generator included on both
# sides, and of http-out-fresh, its local server included on both sides),
# RUSM beside raw Wasmtime, counted by callgrind: figures that the noise of
# a shared host does not move, to read beside the timed ratios of
# `rusm-bench module-storm` / `component-storm`. For `observer-storm` and
# `observer-ping-pong` the two sides are the observer off and on (per
# spawn, or per round trip).
#
# Each side runs alone (`rusm-bench <storm> --side rusm|raw`) at two sizes;
# the difference divided by the difference in spawns is the cost of one
# more spawn, without start-up, compilation and warm-up. callgrind's cache
# model is a simulation of this CPU's L1/LL sizes, not a measurement.
#
# Needs valgrind (apt-get install valgrind). Takes a few minutes.
# SMALL=n LARGE=n change the two sizes (spawns, or requests).
# Usage: bench/instructions.sh [module-storm] [component-storm] [http-hello] [http-out-fresh] [observer-storm] [observer-ping-pong]
# RUSM_BENCH=path/to/rusm-bench measures that binary instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
bin=${RUSM_BENCH:-}
if [ -z "$bin" ]; then
    cargo build --profile bench -p rusm-bench --features wasm --quiet
    bin=target/release/rusm-bench
fi
small=${SMALL:-10000}
large=${LARGE:-30000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Prints "Ir I1mr" for one callgrind run.
totals() {
    local scenario=$1 side=$2 spawns=$3 file="$out/$1.$2.$3"
    valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$file" \
        "$bin" "$scenario" --side "$side" --spawns "$spawns" >/dev/null 2>&1
    # The totals line: "totals: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw".
    awk '/^totals:/ { print $2, $5 }' "$file"
}

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(module-storm component-storm)
printf '%-16s %-5s %14s %14s\n' scenario side "instr/spawn" "I1-miss/spawn"
for scenario in "${scenarios[@]}"; do
    declare -A ir=() i1=()
    # The baseline side first, then ours.
    case $scenario in
        observer-*) base=off ours=on ;;
        *) base=raw ours=rusm ;;
    esac
    for side in $base $ours; do
        read -r ir_s i1_s < <(totals "$scenario" "$side" "$small")
        read -r ir_l i1_l < <(totals "$scenario" "$side" "$large")
        ir[$side]=$(( (ir_l - ir_s) / (large - small) ))
        i1[$side]=$(( (i1_l - i1_s) / (large - small) ))
        printf '%-16s %-5s %14d %14d\n' "$scenario" "$side" "${ir[$side]}" "${i1[$side]}"
    done
    awk -v s="$scenario" -v n="$base/$ours" -v a="${ir[$base]}" -v b="${ir[$ours]}" -v c="${i1[$base]}" -v d="${i1[$ours]}" \
        'BEGIN { printf "%-16s %s: instructions %.3f, I1 misses %.3f\n", s, n, a / b, c / d }'
    echo "{\"scenario\": \"$scenario\", \"instr_per_spawn\": {\"$base\": ${ir[$base]}, \"$ours\": ${ir[$ours]}}, \"i1_misses_per_spawn\": {\"$base\": ${i1[$base]}, \"$ours\": ${i1[$ours]}}}"
done
