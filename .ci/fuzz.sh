#!/usr/bin/env bash
# Fuzz every target in fuzz/ for ${FUZZ_SECONDS:-30} seconds each (DESIGN §8, §10).
#
# - Installs cargo-fuzz if absent (`cargo install cargo-fuzz --locked`).
# - Runs on stable with RUSTC_BOOTSTRAP=1 (CARGO_CACHE_RUSTC_INFO=0, or a
#   cached failed probe makes it fail again); uses nightly flags only through
#   that.
# - If cargo-fuzz cannot be installed, or this toolchain cannot compile with
#   the sanitizer/coverage flags, prints "fuzzing skipped: <reason>" and exits
#   0. The saved inputs are replayed by engine/tests/fuzz_replay.rs in the
#   normal test suite either way.
# - New inputs go to a scratch corpus (the checked-in corpus is only read).
# - A crash (or timeout, or out-of-memory) makes the script exit 1 after
#   printing the artifact path; save it under fuzz/crashers/<target>/.
set -uo pipefail

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
export RUSTC_BOOTSTRAP=1 CARGO_CACHE_RUSTC_INFO=0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz="$root/fuzz"
work="$(mktemp -d "${TMPDIR:-/tmp}/shoplist-fuzz.XXXXXX")"

skip() {
    echo "fuzzing skipped: $*"
    exit 0
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not found; installing (cargo install cargo-fuzz --locked)"
    if ! cargo install cargo-fuzz --locked >"$work/install.log" 2>&1; then
        tail -n 5 "$work/install.log"
        skip "cargo-fuzz could not be installed (log: $work/install.log)"
    fi
fi

# Can this toolchain build instrumented code? Same flags cargo-fuzz passes.
echo 'fn main() {}' >"$work/probe.rs"
if ! rustc -Zsanitizer=address -Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-trace-compares \
    "$work/probe.rs" -o "$work/probe" >"$work/probe.log" 2>&1; then
    head -n 3 "$work/probe.log"
    skip "$(rustc --version) cannot build sanitizer-instrumented code even with RUSTC_BOOTSTRAP=1"
fi

cd "$fuzz" || exit 1
echo "building fuzz targets ($(rustc --version))"
if ! cargo fuzz build >"$work/build.log" 2>&1; then
    # The toolchain passed the probe, so this is a broken fuzz crate: fail.
    tail -n 30 "$work/build.log"
    echo "fuzz build failed (log: $work/build.log)"
    exit 1
fi

status=0
for target in $(cargo fuzz list); do
    scratch="$work/corpus/$target"
    mkdir -p "$scratch" "$fuzz/artifacts/$target"
    before="$(ls "$fuzz/artifacts/$target")"
    echo "== $target: ${FUZZ_SECONDS}s"
    seeds=()
    [ -d "$fuzz/corpus/$target" ] && seeds+=("$fuzz/corpus/$target")
    [ -d "$fuzz/crashers/$target" ] && seeds+=("$fuzz/crashers/$target")
    if cargo fuzz run "$target" "$scratch" "${seeds[@]}" -- \
        -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=25 \
        >"$work/$target.log" 2>&1; then
        grep -E '^#[0-9]+[[:space:]]+DONE' "$work/$target.log" | tail -n 1
    else
        status=1
        tail -n 40 "$work/$target.log"
        for a in $(ls "$fuzz/artifacts/$target"); do
            if ! grep -qxF "$a" <<<"$before"; then
                echo "FUZZ CRASH in $target: $fuzz/artifacts/$target/$a"
            fi
        done
        echo "reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $target <artifact>"
    fi
done
[ "$status" -eq 0 ] && echo "fuzzing done: no crashes"
exit "$status"
