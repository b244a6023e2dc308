#!/usr/bin/env bash
# The test command: installs the Debian packages, builds with sanitizers and -Werror in build-test, runs every
# test (unit and end-to-end), then the fuzz targets for a bounded time (build-fuzz, clang), and ends with the
# plain line "N passed, N failed" from meson's test log plus one result per fuzz target.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=build-test

if ! bash deploy/local/install.sh; then
        echo "run-all: installing the packages failed, no test ran"
        echo "0 passed, 1 failed"
        exit 1
fi
if ! bash deploy/local/build.sh "$dir" -Dwerror=true -Db_sanitize=address,undefined; then
        echo "run-all: the build failed, no test ran"
        echo "0 passed, 1 failed"
        exit 1
fi

# meson's JSON test log under a name of its own (meson-logs/run-all.json, same format as testlog.json), so
# that another `meson test` in the same build dir cannot write into it.
log=$dir/meson-logs/run-all.json
rm -f "$log"
rc=0
meson test -C "$dir" --print-errorlogs --logbase run-all "$@" || rc=$?

# One JSON object per test run; OK and EXPECTEDFAIL pass, anything else (or an unreadable line) fails.
summary=$(node -e '
const fs = require("fs");
let passed = 0, failed = 0;
const text = fs.existsSync(process.argv[1]) ? fs.readFileSync(process.argv[1], "utf8") : "";
for (const line of text.split("\n")) {
        if (!line.trim()) continue;
        let r;
        try { r = JSON.parse(line).result; } catch { console.error(`run-all: unreadable test log line: ${line.slice(0, 80)}`); }
        if (r === "OK" || r === "EXPECTEDFAIL") passed++; else failed++;
}
console.log(`${passed} passed, ${failed} failed`);
' "$log")
# Fuzz stage: the libFuzzer harnesses of fuzz/ (clang, ASan+UBSan, their own build dir, only the fuzz
# targets built), each run FUZZ_SECONDS (20) from its kept corpus fuzz/corpus/<target>, FUZZ_JOBS (2)
# at a time; new inputs go to build-fuzz/fuzz-corpus (not committed), a crash to build-fuzz/fuzz-artifacts.
# Each target is one result in the final line. FUZZ_SECONDS=0 skips the stage.
fuzz_passed=0
fuzz_failed=0
if [ "${FUZZ_SECONDS:=20}" != 0 ]; then
        fdir=build-fuzz
        targets=$(cd fuzz && ls fuzz-*.c | sed -e 's/\.c$//' -e '/^fuzz-seeds$/d')
        if { [ -f "$fdir/meson-private/coredata.dat" ] ||
                CC=clang meson setup "$fdir" -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
                        -Dfuzz=true -Dc_args=-fsanitize=fuzzer-no-link >"$dir/meson-logs/fuzz-setup.log" 2>&1; } &&
                ninja -C "$fdir" $(printf 'fuzz/%s ' $targets) >"$dir/meson-logs/fuzz-build.log" 2>&1; then
                mkdir -p "$fdir/fuzz-corpus" "$fdir/fuzz-artifacts" "$fdir/fuzz-results"
                rm -f "$fdir"/fuzz-results/*
                # Undefined behaviour stops a fuzzer (a failure), as a crash would: by default UBSan only prints.
                export fdir FUZZ_SECONDS UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
                printf '%s\n' $targets | xargs -P "${FUZZ_JOBS:-2}" -I{} bash -c '
                        t={}; mkdir -p "$fdir/fuzz-corpus/$t"
                        if "$fdir/fuzz/$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
                                -max_len=4096 -print_final_stats=1 -artifact_prefix="$fdir/fuzz-artifacts/$t-" \
                                "$fdir/fuzz-corpus/$t" "fuzz/corpus/$t" >"$fdir/fuzz-results/$t.log" 2>&1
                        then echo ok >"$fdir/fuzz-results/$t.rc"; else echo failed >"$fdir/fuzz-results/$t.rc"; fi'
                for t in $targets; do
                        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$fdir/fuzz-results/$t.log")
                        if [ "$(cat "$fdir/fuzz-results/$t.rc" 2>/dev/null)" = ok ]; then
                                fuzz_passed=$((fuzz_passed + 1))
                                echo "fuzz: $t OK (${runs:-?} runs in ${FUZZ_SECONDS} s)"
                        else
                                fuzz_failed=$((fuzz_failed + 1))
                                echo "fuzz: $t FAILED; log $fdir/fuzz-results/$t.log:"
                                grep -E 'ERROR|invariant|SUMMARY|runtime error|^    #[0-9] ' "$fdir/fuzz-results/$t.log" | head -20 || true
                                ls "$fdir"/fuzz-artifacts/"$t"-* 2>/dev/null | sed 's/^/fuzz: reproducer /' || true
                        fi
                done
        else
                command -v clang >/dev/null || echo "run-all: no clang command: install Debian's clang package"
                echo "run-all: the fuzz build failed ($dir/meson-logs/fuzz-setup.log, fuzz-build.log)"
                tail -20 "$dir/meson-logs/fuzz-build.log" 2>/dev/null || true
                fuzz_failed=1
        fi
fi
passed=${summary%% passed*}
failed=${summary#*passed, }
failed=${failed%% failed*}
summary="$((passed + fuzz_passed)) passed, $((failed + fuzz_failed)) failed"

case "$summary" in
"0 passed, 0 failed") echo "run-all: no test ran"; rc=1 ;;
*", 0 failed") ;;
*) rc=1 ;;
esac
echo "$summary"
exit "$rc"
