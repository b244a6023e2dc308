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

log=$dir/meson-logs/testlog.json
rm -f "$log"
rc=0
meson test -C "$dir" --print-errorlogs "$@" || rc=$?

# testlog.json holds one JSON object per test run; OK and EXPECTEDFAIL pass, anything else fails.
summary=$(node -e '
const fs = require("fs");
let passed = 0, failed = 0;
const text = fs.existsSync(process.argv[1]) ? fs.readFileSync(process.argv[1], "utf8") : "";
for (const line of text.split("\n")) {
        if (!line.trim()) continue;
        const r = JSON.parse(line).result;
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
