#!/usr/bin/env bash
# The run command: installs and builds, then starts nats-server (JetStream), a local PostgreSQL cluster, the
# sandbox PSP, every service and the gateway on 127.0.0.1, prints the URLs and demo tokens, restarts a service
# that dies, and stops everything it started on Ctrl-C/SIGTERM. State (JetStream, PostgreSQL, logs, the JWT
# secret) lives in $STATE_DIR (default .state/) and is reused by the next run.
# Env: GATEWAY_PORT (8080), SANDBOX_PSP_PORT (8091), SANDBOX_SINK_PORT (8092), STATE_DIR, BUILD_DIR (build), READY_TIMEOUT_S (120),
# SKIP_BUILD=1 (use the binaries already in BUILD_DIR, no install/build); other variables reach the services.
# A second platform beside the first also needs NATS_PORT (4222), NATS_MONITOR_PORT (8222), PG_PORT (5433) and
# HEALTH_PORT_BASE (9100: orchestrator +1, payment +2, store +3, delivery +4, notification +5, coupon +7, reader +8).
# NATS_GOMAXPROCS (1): the Go threads nats-server runs on.
# SCHED_POLICY (batch): read by every service (lib/config.h); nats-server and PostgreSQL are started under it too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD

BUILD_DIR=${BUILD_DIR:-build}
STATE_DIR=${STATE_DIR:-$repo/.state}
GATEWAY_PORT=${GATEWAY_PORT:-8080}
SANDBOX_PSP_PORT=${SANDBOX_PSP_PORT:-8091}
SANDBOX_SINK_PORT=${SANDBOX_SINK_PORT:-8092}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-120}
NATS_PORT=${NATS_PORT:-4222}
NATS_MONITOR_PORT=${NATS_MONITOR_PORT:-8222}
PG_PORT=${PG_PORT:-5433}
HEALTH_PORT_BASE=${HEALTH_PORT_BASE:-9100}
export NATS_URL=nats://127.0.0.1:$NATS_PORT
export DATABASE_URL=postgresql://food@127.0.0.1:$PG_PORT/food

# name, binary (under $BUILD_DIR) and health URL of each process, in start order; the gateway comes last.
names=(sandbox-psp sandbox-sink orchestrator payment store delivery notification coupon reader gateway)
declare -A bin=(
        [sandbox-psp]=services/sandbox-psp/sandbox-psp
        [sandbox-sink]=services/sandbox-sink/sandbox-sink
        [orchestrator]=orchestrator/orchestrator
        [payment]=services/payment/payment-worker
        [store]=services/store/store-worker
        [delivery]=services/delivery/delivery-worker
        [notification]=services/notification/notification-worker
        [coupon]=services/coupon/coupon-worker
        [reader]=services/reader/reader
        [gateway]=gateway/gateway
)
declare -A health_port=([orchestrator]=$((HEALTH_PORT_BASE + 1)) [payment]=$((HEALTH_PORT_BASE + 2))
        [store]=$((HEALTH_PORT_BASE + 3)) [delivery]=$((HEALTH_PORT_BASE + 4)) [notification]=$((HEALTH_PORT_BASE + 5))
        [coupon]=$((HEALTH_PORT_BASE + 7)) [reader]=$((HEALTH_PORT_BASE + 8)))
declare -A ready_url=([sandbox-psp]=http://127.0.0.1:$SANDBOX_PSP_PORT/healthz [sandbox-sink]=http://127.0.0.1:$SANDBOX_SINK_PORT/healthz [gateway]=http://127.0.0.1:$GATEWAY_PORT/readyz)
for n in "${!health_port[@]}"; do ready_url[$n]=http://127.0.0.1:${health_port[$n]}/readyz; done

say() { printf '[run] %s\n' "$*"; }
die() { printf '[run] error: %s\n' "$*" >&2; exit 1; }

# SCHED_BATCH: a thread woken by a message does not preempt the one running: a third fewer context switches per
# order, bigger batches, CPU per order a few percent lower at most (README Benchmarks, "Threads that do not preempt").
case "${SCHED_POLICY:=batch}" in
batch) sched=(chrt --batch 0)
       # A machine that refuses it (a sandbox's seccomp filter, no chrt) runs them under the kernel's default.
       "${sched[@]}" true 2>/dev/null || { say "chrt --batch refused: nats-server and PostgreSQL keep the default scheduling"; sched=(); } ;;
other) sched=() ;;
*) die "SCHED_POLICY=\"$SCHED_POLICY\" is not one of batch, other" ;;
esac

if [ "${SKIP_BUILD:-0}" != 1 ]; then
        bash deploy/local/install.sh
        bash deploy/local/build.sh "$BUILD_DIR"
fi
for n in "${names[@]}"; do
        [ -x "$BUILD_DIR/${bin[$n]}" ] || die "$BUILD_DIR/${bin[$n]} was not built"
done
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)

mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
logs=$STATE_DIR/logs
mkdir -p "$STATE_DIR/nats" "$logs" "$STATE_DIR/run"
exec 9>"$STATE_DIR/run/lock"
flock -n 9 || die "another run.sh is using $STATE_DIR"
for port in $NATS_PORT $NATS_MONITOR_PORT $PG_PORT $SANDBOX_PSP_PORT $SANDBOX_SINK_PORT $GATEWAY_PORT "${health_port[@]}"; do
        if (: </dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
                die "port $port on 127.0.0.1 is already in use (a run killed without cleanup leaves processes behind: see $STATE_DIR/run/*.pid; or set GATEWAY_PORT / SANDBOX_PSP_PORT)"
        fi
done

# True when `url` answers 200.
http_ok() { curl -fsS -o /dev/null -m 2 "$1" 2>/dev/null; }

# --- nats-server ------------------------------------------------------------------------------------------
nats_bin=$(command -v nats-server || echo /usr/sbin/nats-server)
nats_pid=
# One NATS user per service with the permissions of the chart (charts/nats/files/auth.conf); each password is
# made once and kept in $STATE_DIR/nats-passwords (a user a newer version added gets one then). Connections without
# credentials (the `nats` CLI's default context, sagactl, food-export) are the operators' `admin` user.
nats_users=(admin orchestrator payment store delivery coupon notification reader gateway)
(umask 077 && touch "$STATE_DIR/nats-passwords" && for u in "${nats_users[@]}"; do
        grep -q "^FOOD_NATS_PW_${u^^}=" "$STATE_DIR/nats-passwords" && continue
        # A letter first: nats-server reads the variable as a config value (digits first: a number).
        printf 'FOOD_NATS_PW_%s=p%s\n' "${u^^}" "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" >>"$STATE_DIR/nats-passwords"
done)
declare -A nats_password=()
while IFS== read -r key value; do nats_password[${key#FOOD_NATS_PW_}]=$value; done <"$STATE_DIR/nats-passwords"
cp deploy/helm/food-saga/charts/nats/files/auth.conf "$STATE_DIR/nats-auth.conf"
printf 'include ./nats-auth.conf\nno_auth_user: admin\n' >"$STATE_DIR/nats.conf"
start_nats() {
        # setsid: a Ctrl-C in the terminal reaches only this script, which then stops things in order.
        # 9>&-: the run lock stays with this script, not with what it starts.
        # GOMAXPROCS: Go runs on one thread at a time here, beside a dozen processes on the machine's cores (its
        # threads' handoffs cost more than they bring: -20 % CPU per order, see the README's Benchmarks).
        # shellcheck disable=SC2046 # one NAME=value word per line of the passwords file
        env $(cat "$STATE_DIR/nats-passwords") GOMAXPROCS="${NATS_GOMAXPROCS:-1}" setsid "${sched[@]}" "$nats_bin" -c "$STATE_DIR/nats.conf" -js -a 127.0.0.1 \
                -p $NATS_PORT -m $NATS_MONITOR_PORT -sd "$STATE_DIR/nats" >>"$logs/nats.log" 2>&1 9>&- &
        nats_pid=$!
        echo "$nats_pid" >"$STATE_DIR/run/nats.pid"
}
stop_nats() {
        [ -n "$nats_pid" ] || return 0
        kill -INT "$nats_pid" 2>/dev/null || return 0
        for _ in $(seq 100); do kill -0 "$nats_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$nats_pid" 2>/dev/null || true
        wait "$nats_pid" 2>/dev/null || true
        nats_pid=
}

# --- PostgreSQL ---------------------------------------------------------------------------------------------
pg_bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$pg_bindir/initdb" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
as_pg=()
pg_home=$STATE_DIR/pg
if [ "$(id -u)" -eq 0 ]; then
        # initdb and postgres refuse to run as root: they run as the postgres user, who owns the cluster folder.
        as_pg=(runuser -u postgres --)
        if [ ! -e "$pg_home" ] && ! runuser -u postgres -- test -x "$STATE_DIR"; then
                # The postgres user cannot reach $STATE_DIR (e.g. under /root): keep the cluster where it can.
                alt=/var/lib/food-saga/pg-$(printf '%s' "$STATE_DIR" | cksum | cut -d' ' -f1)
                mkdir -p "$alt"
                ln -s "$alt" "$pg_home"
                say "PostgreSQL cluster in $alt (the postgres user cannot reach $STATE_DIR)"
        fi
fi
mkdir -p "$pg_home"
pg_home=$(readlink -f "$pg_home")
pg_data=$pg_home/data
[ ${#as_pg[@]} -eq 0 ] || chown postgres:postgres "$pg_home"
ln -sfn "$pg_home/postgres.log" "$logs/postgres.log"

pg() { (cd "$pg_home" && "${as_pg[@]}" "$pg_bindir/$1" "${@:2}"); }
# psql_admin SQL [DATABASE]: runs SQL as the postgres superuser, in the postgres database unless told another.
psql_admin() { "$pg_bindir/psql" -X -q -tA -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $PG_PORT -U postgres -d "${2:-postgres}" -c "$1"; }
pg_alive() {
        local pid
        pid=$(head -n 1 "$pg_data/postmaster.pid" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}
pg_malloc=glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=33554432
start_pg() {
        if [ ! -f "$pg_data/PG_VERSION" ]; then
                say "creating the PostgreSQL cluster in $pg_data"
                pg initdb -D "$pg_data" -U postgres --auth=trust -E UTF8 --no-locale >>"$logs/initdb.log" 2>&1 ||
                        die "initdb failed; see $logs/initdb.log"
        fi
        # Local mode: loopback only (trust authentication from initdb), the socket beside the cluster.
        # pg_stat_statements: statements executed per order in bench/ (its library must be loaded at start).
        # shared_buffers 512 MB instead of 128 MB: the working set of a busy day stays in PostgreSQL's
        # cache instead of being copied in from the kernel's at every access; checkpoints every 15 min
        # or 4 GB of WAL instead of 5 min / 1 GB: fewer full-page images in the WAL.
        # wal_init_zero off: until checkpoints recycle them, a new 16 MB WAL segment is needed every second under
        # load, and zero-filling it held up every commit waiting behind it (50-60 ms stalls, POST /orders p99 x2).
        # GLIBC_TUNABLES: a backend frees the large chunks of each statement (a batch's parameter arrays and
        # rows, hundreds of KB) when it ends, and glibc's default gave the heap back past 128 KB free at its top,
        # so the next statement grew it again (brk, page faults, TLB flushes: 8% of the writing backend's CPU
        # in perf). Fixed thresholds keep each backend's heap at its own peak (README, Benchmarks).
        (cd "$pg_home" && setsid "${sched[@]}" "${as_pg[@]}" env "GLIBC_TUNABLES=$pg_malloc" "$pg_bindir/pg_ctl" -D "$pg_data" -l "$pg_home/postgres.log" -w -t 60 \
                -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k '$pg_home' -c shared_preload_libraries=pg_stat_statements \
                    -c shared_buffers=512MB -c max_wal_size=4GB -c checkpoint_timeout=15min -c wal_init_zero=off" \
                start >/dev/null 9>&-) ||
                die "PostgreSQL did not start; see $logs/postgres.log"
        pg_started=1
}
pg_started=0
stop_pg() {
        [ $pg_started = 1 ] && pg_alive || return 0
        pg pg_ctl -D "$pg_data" -m fast -w -t 30 stop >/dev/null || say "pg_ctl stop failed; see $logs/postgres.log"
}

# --- services -------------------------------------------------------------------------------------------
declare -A sup=() # supervisor pid per service

# Runs `name` in a supervisor loop: restarts it when it dies, with a backoff of 1, 2, 4 ... 30 s (back to 1 s
# after a run of 30 s or more); on SIGTERM it forwards SIGTERM to the service and ends once the service exited.
supervise() {
        local name=$1
        shift
        (
                child= stopping=0 backoff=1
                trap 'stopping=1; [ -z "$child" ] || kill -TERM "$child" 2>/dev/null' TERM
                while :; do
                        started=$SECONDS
                        setsid env "$@" "$BUILD_DIR/${bin[$name]}" >>"$logs/$name.log" 2>&1 9>&- &
                        child=$!
                        echo "$child" >"$STATE_DIR/run/$name.pid"
                        if [ "$stopping" = 1 ]; then kill -TERM "$child" 2>/dev/null; fi
                        rc=0
                        wait "$child" || rc=$?
                        while kill -0 "$child" 2>/dev/null; do rc=0; wait "$child" || rc=$?; done
                        if [ "$stopping" = 1 ]; then exit 0; fi
                        [ $((SECONDS - started)) -lt 30 ] || backoff=1
                        msg="$name exited with status $rc after $((SECONDS - started)) s; restarting in $backoff s"
                        say "$msg"
                        printf '{"level":"warn","msg":"run.sh: %s"}\n' "$msg" >>"$logs/$name.log"
                        sleep "$backoff" &
                        wait $! || true
                        if [ "$stopping" = 1 ]; then exit 0; fi
                        backoff=$((backoff * 2 > 30 ? 30 : backoff * 2))
                done
        ) 2>>"$logs/$name.log" &
        sup[$name]=$!
}

# Every service runs without glibc's per-thread malloc cache: each thread that frees keeps up to 7 chunks of every
# small size for itself, which made 7 of the gateway's 22 MB of peak RSS (its 128 civetweb threads). Without the
# cache, freed small chunks went to the fast bins, which every allocation of 1 KB or more (an HTTP answer) merged
# back first: malloc_consolidate and malloc were a fifth of the gateway's CPU in perf. No fast bins either
# (mxfast=0): the gateway's CPU per order -8 %, the whole platform's -10 % in three interleaved pairs (README,
# Benchmarks). The images set the same (deploy/docker/Dockerfile).
service_env() {
        echo -n "GLIBC_TUNABLES=${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0 "
        case $1 in
        sandbox-psp | sandbox-sink) ;;
        *) echo -n "NATS_USER=$1 NATS_PASSWORD=${nats_password[${1^^}]} " ;;
        esac
        case $1 in
        sandbox-psp) echo "SANDBOX_PSP_PORT=$SANDBOX_PSP_PORT SANDBOX_PSP_BIND=127.0.0.1" ;;
        sandbox-sink) echo "SANDBOX_SINK_PORT=$SANDBOX_SINK_PORT SANDBOX_SINK_BIND=127.0.0.1" ;;
        notification) echo "HEALTH_PORT=${health_port[notification]} NOTIFY_WEBHOOK_URL=http://127.0.0.1:$SANDBOX_SINK_PORT/messages NOTIFY_WEBHOOK_BATCH=true" ;;
        payment) echo "HEALTH_PORT=${health_port[payment]} PSP_URL=http://127.0.0.1:$SANDBOX_PSP_PORT" ;;
        gateway) echo "GATEWAY_PORT=$GATEWAY_PORT GATEWAY_BIND=127.0.0.1 JWT_SECRET=$jwt_secret DEV_TOKENS=true" ;;
        *) echo "HEALTH_PORT=${health_port[$1]}" ;;
        esac
}

start_service() {
        local env
        read -ra env <<<"$(service_env "$1")"
        supervise "$1" "${env[@]}"
}

# SIGTERM to the supervisors of the named services; SIGKILL to what still runs after 15 s.
stop_services() {
        local n pids=() deadline=$((SECONDS + 15))
        for n; do
                [ -n "${sup[$n]:-}" ] || continue
                kill -TERM "${sup[$n]}" 2>/dev/null && pids+=("${sup[$n]}")
        done
        for pid in "${pids[@]}"; do
                while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        done
        for n; do
                [ -n "${sup[$n]:-}" ] || continue
                if kill -0 "${sup[$n]}" 2>/dev/null; then
                        say "$n did not stop within 15 s; killing it"
                        kill -KILL "$(cat "$STATE_DIR/run/$n.pid" 2>/dev/null)" "${sup[$n]}" 2>/dev/null || true
                fi
                wait "${sup[$n]}" 2>/dev/null || true
                unset "sup[$n]"
        done
}

stopped=0
cleanup() {
        set +e
        trap '' INT TERM
        [ $stopped = 0 ] || return 0
        stopped=1
        say "stopping: services, then PostgreSQL, then nats-server"
        stop_services gateway
        stop_services "${names[@]}"
        stop_pg
        stop_nats
        rm -f "$STATE_DIR"/run/*.pid
        say "stopped"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# --- start ---------------------------------------------------------------------------------------------------
start_nats
for _ in $(seq 300); do
        http_ok "http://127.0.0.1:$NATS_MONITOR_PORT/healthz" && break
        kill -0 "$nats_pid" 2>/dev/null || die "nats-server exited; see $logs/nats.log"
        sleep 0.1
done
http_ok "http://127.0.0.1:$NATS_MONITOR_PORT/healthz" || die "nats-server not ready after 30 s; see $logs/nats.log"
say "nats-server (JetStream in $STATE_DIR/nats) on $NATS_URL"
# The operators' set-up step: streams and durable consumers, created as admin (no service may create them).
NATS_URL=$NATS_URL NATS_USER=admin NATS_PASSWORD=${nats_password[ADMIN]} "$BUILD_DIR/lib/food-setup" >>"$logs/food-setup.log" 2>&1 ||
        die "food-setup could not create the NATS streams and consumers; see $logs/food-setup.log"

start_pg
[ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'food'")" = 1 ] || psql_admin 'CREATE ROLE food LOGIN'
[ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = 'food'")" = 1 ] || psql_admin 'CREATE DATABASE food OWNER food'
# Statements per order for bench/: not a trusted extension, so the superuser creates it; `food` then reads the
# counters of every statement (the text only of its own), which is all food-bench needs.
[ "$(psql_admin "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'" food)" = 1 ] ||
        psql_admin 'CREATE EXTENSION pg_stat_statements' food
say "PostgreSQL ($pg_data) on $DATABASE_URL"

if [ ! -s "$STATE_DIR/jwt_secret" ]; then
        (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE_DIR/jwt_secret")
fi
jwt_secret=$(cat "$STATE_DIR/jwt_secret")

# Waits until every named process answers its health URL; on timeout names the late ones with their logs.
wait_ready() {
        local deadline=$((SECONDS + READY_TIMEOUT_S)) n late
        while :; do
                late=()
                for n; do http_ok "${ready_url[$n]}" || late+=("$n"); done
                [ ${#late[@]} -gt 0 ] || return 0
                if [ $SECONDS -ge $deadline ]; then
                        for n in "${late[@]}"; do
                                printf '[run] %s not ready (%s); last lines of %s:\n' "$n" "${ready_url[$n]}" "$logs/$n.log" >&2
                                tail -n 15 "$logs/$n.log" >&2 2>/dev/null
                        done
                        die "not ready after $READY_TIMEOUT_S s: ${late[*]}"
                fi
                sleep 0.2
        done
}

for n in "${names[@]}"; do [ "$n" = gateway ] || start_service "$n"; done
wait_ready "${names[@]:0:${#names[@]}-1}"
start_service gateway
wait_ready gateway

# --- demo tokens ----------------------------------------------------------------------------------------------
gw=http://127.0.0.1:$GATEWAY_PORT
# json FIELD...: prints the fields of a JSON object on stdin, or of each element of an array, tab-separated.
json() {
        node -e '
let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
        const v = JSON.parse(s), f = process.argv.slice(1);
        for (const o of Array.isArray(v) ? v : [v]) console.log(f.map((k) => o[k]).join("\t"));
});' "$@"
}
token() {
        local body
        body=$(printf '{"sub":"%s","role":"%s"%s}' "$1" "$2" "${3:+,\"store_id\":\"$3\"}")
        curl -fsS -m 5 -H 'content-type: application/json' -d "$body" "$gw/auth/dev-token" | json token
}
customer_token=$(token cust_demo customer) || die "POST $gw/auth/dev-token failed"
rider_token=$(token rider_demo rider) || die "POST $gw/auth/dev-token failed"
stores=$(curl -fsS -m 5 "$gw/stores" | json id name region) || die "GET $gw/stores failed"
{
        echo "# Demo tokens of the local platform (deploy/local/run.sh); source this file."
        echo "GATEWAY=$gw"
        echo "PSP=http://127.0.0.1:$SANDBOX_PSP_PORT"
        echo "SINK=http://127.0.0.1:$SANDBOX_SINK_PORT"
        echo "CUSTOMER_TOKEN=$customer_token"
        echo "RIDER_TOKEN=$rider_token"
} >"$STATE_DIR/tokens.env"

cat <<EOF

food-saga is running; Ctrl-C stops everything.
  gateway       $gw
  web UI        $gw/   (customer, store owner and rider; sign in with the role picker)
  sandbox PSP   http://127.0.0.1:$SANDBOX_PSP_PORT   (GET /ledger, PUT /config)
  sandbox sink  http://127.0.0.1:$SANDBOX_SINK_PORT   (GET /messages, PUT /config: the notification webhooks)
  NATS          $NATS_URL   (monitor http://127.0.0.1:$NATS_MONITOR_PORT)
  PostgreSQL    $DATABASE_URL
  logs          $logs/<name>.log

Demo tokens (send as "Authorization: Bearer <token>"; also in $STATE_DIR/tokens.env):
  customer cust_demo
    $customer_token
  rider rider_demo
    $rider_token
EOF
first=1
while IFS=$'\t' read -r id name region; do
        [ -n "$id" ] || continue
        t=$(token "owner_$id" store "$id") || die "POST $gw/auth/dev-token for the owner of $id failed"
        printf '  store owner of %s (%s, %s)\n    %s\n' "$id" "$name" "$region" "$t"
        if [ $first = 1 ]; then
                printf 'STORE_ID=%s\nSTORE_REGION=%s\nSTORE_TOKEN=%s\n' "$id" "$region" "$t" >>"$STATE_DIR/tokens.env"
                first=0
        fi
done <<<"$stores"
echo

# --- stay in the foreground; keep nats-server and PostgreSQL up (services have their supervisors) -----------
while :; do
        sleep 2 &
        wait $! || true
        if ! kill -0 "$nats_pid" 2>/dev/null; then
                say "nats-server died (see $logs/nats.log); restarting it"
                wait "$nats_pid" 2>/dev/null || true
                start_nats
        fi
        if ! pg_alive; then
                say "PostgreSQL died (see $logs/postgres.log); restarting it"
                start_pg
        fi
done
