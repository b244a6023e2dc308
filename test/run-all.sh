#!/usr/bin/env bash
# The test command: installs the Debian packages, builds with sanitizers and -Werror in build-test, runs every
# test (unit and end-to-end) and ends with the plain line "N passed, N failed" from meson's test log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=build-test

bash deploy/local/install.sh
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
case "$summary" in
"0 passed, 0 failed") echo "run-all: no test ran"; rc=1 ;;
*", 0 failed") ;;
*) rc=1 ;;
esac
echo "$summary"
exit "$rc"
