#!/usr/bin/env bash
# Start-to-ready time of every service of the local platform started by `bash deploy/local/run.sh`: each one in
# turn is stopped (SIGTERM, as an operator's restart does), its supervisor in run.sh starts it again, and the time
# from the new process's start (its start time in /proc) to its first `/readyz` 200 is printed. nats-server and
# PostgreSQL stay up, as in a rolling restart. Resolution: the kernel's clock tick (10 ms) and a poll every 5 ms.
# Usage: bench/ready.sh [ROUNDS (3)]   Env: STATE_DIR (.state, as for deploy/local/run.sh),
# SERVICES ("orchestrator payment store delivery notification coupon reader gateway").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
STATE_DIR=${STATE_DIR:-$PWD/.state}
ROUNDS=${1:-3}
SERVICES=${SERVICES:-orchestrator payment store delivery notification coupon reader gateway}
hz=$(getconf CLK_TCK)

die() { printf '[ready] error: %s\n' "$*" >&2; exit 1; }
pid_of() { cat "$STATE_DIR/run/$1.pid" 2>/dev/null || true; }
# Seconds since boot, in milliseconds.
now_ms() { awk '{printf "%d\n", $1 * 1000}' /proc/uptime; }
# The readiness URL of a running service, from its own environment (the port run.sh gave it).
ready_url() {
        local port
        port=$(tr '\0' '\n' <"/proc/$1/environ" | sed -n 's/^HEALTH_PORT=//p; s/^GATEWAY_PORT=//p' | head -n 1)
        [ -n "$port" ] || return 1
        echo "http://127.0.0.1:$port/readyz"
}

printf '%-14s %s\n' service "start to ready (ms), $ROUNDS restarts"
worst=0
for name in $SERVICES; do
        old=$(pid_of "$name")
        [ -n "$old" ] && kill -0 "$old" 2>/dev/null || die "$name is not running (no live pid in $STATE_DIR/run/$name.pid)"
        url=$(ready_url "$old") || die "no HEALTH_PORT or GATEWAY_PORT in the environment of $name ($old)"
        times=()
        for _ in $(seq "$ROUNDS"); do
                old=$(pid_of "$name")
                kill -TERM "$old"
                deadline=$((SECONDS + 60))
                while new=$(pid_of "$name"); [ "$new" = "$old" ] || [ -z "$new" ] || ! [ -r "/proc/$new/stat" ]; do
                        [ $SECONDS -lt $deadline ] || die "$name was not started again within 60 s"
                        sleep 0.005
                done
                # Field 22 of /proc/PID/stat: start time in clock ticks since boot (after the parenthesised name).
                start_ms=$(sed 's/.*) //' "/proc/$new/stat" | awk -v hz="$hz" '{printf "%d\n", $20 * 1000 / hz}')
                until curl -fsS -o /dev/null -m 1 "$url" 2>/dev/null; do
                        [ $SECONDS -lt $deadline ] || die "$name ($new) not ready within 60 s ($url)"
                        sleep 0.005
                done
                t=$(($(now_ms) - start_ms))
                times+=("$t")
                [ "$t" -le "$worst" ] || worst=$t
                sleep 1 # let it settle (an orchestrator takes its shards back) before the next restart
        done
        printf '%-14s %s\n' "$name" "${times[*]}"
done
echo "slowest: $worst ms"
