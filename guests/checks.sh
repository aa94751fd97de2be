# Shared by guests/run-tests.sh and guests/c/run-tests.sh (sourced, not
# run): the checks on one run of `rusm`. The caller keeps the run's output
# in $out, its exit code in $status and its name in $current, and counts
# $passed and $failed.

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

# expect_none REGEX: no output line matches REGEX.
expect_none() {
    if grep -Eq -- "$1" "$out"; then fail "a line matches /$1/"; else pass "no /$1/"; fi
}
