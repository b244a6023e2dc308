#!/usr/bin/env bash
# Runs `npm ci` in test/helm once (when node_modules is missing or older than the lock file; under a lock so
# that parallel tests do not race), then execs the given command (node <test file>).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec 9>"$here/.npm-ci.lock"
flock -w 600 9
if [ ! -d "$here/node_modules" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
        npm ci --prefix "$here" --no-audit --no-fund >&2
fi
flock -u 9
exec "$@"
