#!/usr/bin/env bash
# npm-ci.sh DIR COMMAND...: runs `npm ci` in the npm package folder DIR (test/helm, test/ui) once — when its
# node_modules is missing or older than its package-lock.json — under a lock so that parallel tests do not race,
# then execs COMMAND (node <test file>).
set -euo pipefail
dir=$(cd "$1" && pwd)
shift
exec 9>"$dir/.npm-ci.lock"
flock -w 600 9
if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        npm ci --prefix "$dir" --no-audit --no-fund >&2
fi
flock -u 9
exec "$@"
