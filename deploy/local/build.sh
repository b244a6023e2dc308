#!/usr/bin/env bash
# Configures (once) and builds the project: build.sh [BUILD_DIR [MESON_OPTION...]], default BUILD_DIR=build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
dir=${1:-build}
shift || true
if [ -f "$dir/meson-private/coredata.dat" ]; then
        # Already configured: apply the options only when given (a no-op when unchanged).
        if [ $# -gt 0 ]; then meson configure "$dir" "$@"; fi
else
        meson setup "$dir" "$@"
fi
ninja -C "$dir"
