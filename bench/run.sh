#!/usr/bin/env bash
# Runs food-bench against the local platform started by `bash deploy/local/run.sh` and prints its report.
# Usage: bench/run.sh [food-bench options...]   (defaults: -c 32 -d 20 --warmup 2; see build/bench/food-bench --help)
# Env: STATE_DIR (.state, as for deploy/local/run.sh), BUILD_DIR (build), GATEWAY (from $STATE_DIR/tokens.env, else
# http://127.0.0.1:${GATEWAY_PORT:-8080}), NATS_MONITOR_PORT (8222, for the JetStream figures), PG_PORT (5433, for
# the PostgreSQL work per order: food-bench --database postgresql://food@127.0.0.1:$PG_PORT/food; a --database
# given to this script wins), SWEEP="16 32 64" (one run per concurrency, instead of a single run).
# CPU per process comes from the pid files run.sh keeps in $STATE_DIR/run (plus PostgreSQL's postmaster.pid), so
# other nats-server or postgres instances on the machine are not counted; without them, processes are found by name.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

BUILD_DIR=${BUILD_DIR:-build}
STATE_DIR=${STATE_DIR:-$repo/.state}
bench=$BUILD_DIR/bench/food-bench

say() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

if [ ! -x "$bench" ] || [ -n "$(find bench -newer "$bench" -name '*.[ch]' -print -quit)" ]; then
        say "building $bench"
        ninja -C "$BUILD_DIR" bench/food-bench >&2 || die "could not build $bench"
fi

if [ -z "${GATEWAY:-}" ] && [ -f "$STATE_DIR/tokens.env" ]; then
        GATEWAY=$(sed -n 's/^GATEWAY=//p' "$STATE_DIR/tokens.env")
fi
GATEWAY=${GATEWAY:-http://127.0.0.1:${GATEWAY_PORT:-8080}}
curl -fsS -o /dev/null -m 5 "$GATEWAY/readyz" ||
        die "the gateway at $GATEWAY is not ready; start the platform with: bash deploy/local/run.sh"

# Where the JetStream and PostgreSQL figures come from.
sources=(--nats-monitor "http://127.0.0.1:${NATS_MONITOR_PORT:-8222}"
        --database "postgresql://food@127.0.0.1:${PG_PORT:-5433}/food")

# The processes to measure: a folder of <name>.pid files (run.sh's, and the PostgreSQL postmaster's).
procs=()
pids=
if compgen -G "$STATE_DIR/run/*.pid" >/dev/null; then
        pids=$(mktemp -d)
        trap 'rm -rf "$pids"' EXIT
        cp "$STATE_DIR"/run/*.pid "$pids"/
        if [ -r "$STATE_DIR/pg/data/postmaster.pid" ]; then
                head -n 1 "$STATE_DIR/pg/data/postmaster.pid" >"$pids/postgres.pid"
        fi
        procs=(--pids-from "$pids")
else
        say "no pid files in $STATE_DIR/run: measuring processes by name (other instances on this machine count too)"
fi

if [ -n "${SWEEP:-}" ]; then
        for c in $SWEEP; do
                say "concurrency $c"
                "$bench" --url "$GATEWAY" "${sources[@]}" "${procs[@]}" -c "$c" "$@"
                echo
        done
else
        "$bench" --url "$GATEWAY" "${sources[@]}" "${procs[@]}" "$@"
fi
