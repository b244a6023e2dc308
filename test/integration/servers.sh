#!/usr/bin/env bash
# Runs a command with a private nats-server (JetStream) and PostgreSQL cluster
# on free loopback ports; exports NATS_URL and DATABASE_URL; stops both after.
# usage: servers.sh COMMAND [ARGS...]
set -euo pipefail
dir=$(mktemp -d /tmp/food-it.XXXXXX)
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null ||
              node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
nats_port=$(free_port); pg_port=$(free_port)
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
cleanup() {
  rc=$?
  as_pg "$pgbin/pg_ctl -D $dir/pg -m immediate stop" >/dev/null 2>&1 || true
  if [ -n "${nats_pid:-}" ]; then kill "$nats_pid" 2>/dev/null; wait "$nats_pid" 2>/dev/null || true; fi
  rm -rf "$dir"
  exit "$rc"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres "$dir"
as_pg "$pgbin/initdb -D $dir/pg -U food --auth=trust -E UTF8" >/dev/null
as_pg "$pgbin/pg_ctl -D $dir/pg -w -t 30 -l $dir/pg.log -o '-p $pg_port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off'" start >/dev/null
"$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U food food
nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$dir/nats" >"$dir/nats.log" 2>&1 &
nats_pid=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$nats_port) 2>/dev/null && break; sleep 0.1; done
export NATS_URL=nats://127.0.0.1:$nats_port DATABASE_URL=postgresql://food@127.0.0.1:$pg_port/food
"$@"
