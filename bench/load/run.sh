#!/usr/bin/env bash
# Stream propagation benchmarks (docs/benchmarks.md, "Stream propagation").
#
#   bash bench/load/run.sh [SCENARIO...]    # default: single repeat redis client scale unpinned
#
# Scenarios:
#   single  1,000 and 10,000 server-key connections, one node (SQLite), and
#           the bare broadcast server in the same run
#   scale   19,000 on one node; 25,000 (2 nodes) and 50,000 (3 nodes) on
#           PostgreSQL + Redis; bare servers at the same counts
#   redis   10,000 over two nodes (5,000 each), changes written through node A
#   client  10,000 client-key connections with distinct contexts (one
#           client_side flag, then 100 more)
#   repeat  three more alternating Daylight/bare rounds at 10,000
#   builds  $DAYLIGHT_BIN against $BASE_BIN at 10,000, two rounds in turn
#   clientbuilds  client keys (10,000 contexts, 101 client_side flags):
#           $DAYLIGHT_BIN, $BASE_BIN and bare in turn, $ROUNDS rounds
#   scalexp 25,000 on two nodes, release build against snapshot cache +
#           backlog 4,096 ($EXP_BIN)
#   unpinned  10,000 on one node without taskset (both cores shared)
#   storm   10,000 connecting 2,000 at a time (a reconnect storm): listen
#           backlog 128 (tokio's default) against 4,096 ($EXP_BIN)
#   exp     server-side experiments on a patched private build ($EXP_BIN,
#           switched by DAYLIGHT_EXP_* variables): snapshot cache on
#           PostgreSQL, re-evaluating only the changed flag for client keys
#
# Servers (Daylight and bare) run pinned to core 0, the load generator to
# core 1 (taskset). Everything is on loopback; every process is bounded in
# time and killed on exit. Results: one JSON per run in $OUT.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-load}
OUT=${OUT:-/tmp/load-results}
BIN=${BIN:-/tmp/load-bin}
# The server binary to measure (a copy, so other builds cannot swap it mid-run).
DAYLIGHT_BIN=${DAYLIGHT_BIN:-$BIN/daylight}
# A patched server for `storm` and `exp` (see docs/benchmarks.md).
EXP_BIN=${EXP_BIN:-$BIN/daylight-exp}
SERVER=$DAYLIGHT_BIN
CHANGES=${CHANGES:-20}
SERVER_CORE=${SERVER_CORE:-0}
CLIENT_CORE=${CLIENT_CORE:-1}
TASKSET_SERVER=(taskset -c "$SERVER_CORE")
TASKSET_CLIENT=(taskset -c "$CLIENT_CORE")
PG=${PG:-postgres://postgres@127.0.0.1:5432}
PGDB=${PGDB:-bench_load}
REDIS=${REDIS:-redis://127.0.0.1:6379}
TOKEN=dl_admin_bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
BASE_PORT=${BASE_PORT:-18080}
BARE_PORT=${BARE_PORT:-19000}
# How long to wait for a quiet machine before a run, and how many times a
# run that other builds overlapped is tried (a busy shared machine may
# never be quiet: then measure the builds in turn within one run and
# compare ratios).
QUIET_MAX_WAIT=${QUIET_MAX_WAIT:-1200}
TRIES=${TRIES:-3}
mkdir -p "$OUT" "$BIN"

PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap cleanup EXIT

build() {
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    (cd "$ROOT" && cargo build --release -p daylight-server -p daylight-bench)
    cp "$CARGO_TARGET_DIR/release/daylight" "$CARGO_TARGET_DIR/release/daylight-bench" "$BIN/"
  fi
}

# Waits (up to $QUIET_MAX_WAIT s, 20 minutes by default, polling every 30 s) until no other build or
# benchmark runs on the machine: no cargo, rustc, wrk or criterion process,
# and no unleash-edge using more than 5% of a core (an idle Edge left
# running is noted, not waited for). Notes what it saw.
busy_now() {
  ps -eo pid=,comm=,args= | awk '$2 ~ /^(cargo|rustc|wrk)$/ || ($0 ~ /criterion/ && $0 !~ /awk/) {print $2}' | sort | uniq -c | tr '\n' ' '
  local p t0 t1
  for p in $(pgrep -x unleash-edge || true); do
    t0=$(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0)
    sleep 2
    t1=$(awk '{print $14+$15}' /proc/$p/stat 2>/dev/null || echo 0)
    if [ $((t1 - t0)) -gt 10 ]; then echo -n "unleash-edge(busy) "; fi
  done
}
quiet() {
  local waited=0 busy
  while true; do
    busy=$(busy_now)
    if [ -z "$busy" ]; then
      echo "machine quiet after ${waited}s wait; load average $(cut -d' ' -f1-3 /proc/loadavg); idle edge: $(pgrep -xc unleash-edge || true)" | tee -a "$OUT/conditions.log"
      return
    fi
    if [ $waited -ge "$QUIET_MAX_WAIT" ]; then
      echo "still busy after ${waited}s ($busy); measuring anyway; load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/conditions.log"
      return
    fi
    echo "busy: $busy; waiting" >&2
    sleep 30
    waited=$((waited + 30))
  done
}

# daylight NODE_INDEX DATABASE_URL [REDIS_CHANNEL]: starts one node on core 0.
daylight() {
  local i=$1 db=$2 chan=${3:-}
  local port=$((BASE_PORT + i))
  env DAYLIGHT_LISTEN=127.0.0.1:$port DAYLIGHT_DATABASE_URL="$db" DAYLIGHT_ADMIN_TOKEN=$TOKEN RUST_LOG=warn \
    ${chan:+DAYLIGHT_REDIS_URL=$REDIS DAYLIGHT_REDIS_CHANNEL=$chan} ${SERVER_ENV:-} \
    timeout 3600 "${TASKSET_SERVER[@]}" "$SERVER" serve >"$OUT/daylight-$i.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/api/v1/me" -H "Authorization: Bearer $TOKEN" >/dev/null 2>&1 && break
    sleep 0.2
  done
  # `timeout` is the parent; the server is its child.
  LAST=$(pgrep -P "${PIDS[-1]}" | head -1)
}

bare() {
  local i=$1
  timeout 3600 "${TASKSET_SERVER[@]}" "$BIN/daylight-bench" bare-server --listen 127.0.0.1:$((BARE_PORT + i)) \
    --max-seconds 3500 >"$OUT/bare-$i.log" 2>&1 &
  PIDS+=($!)
  sleep 0.5
  LAST=$(pgrep -P "${PIDS[-1]}" | head -1)
}

# Other engineers' builds and benchmarks seen while a run was going on
# (sampled every 2 s in the background).
watch_others() {
  while true; do
    ps -eo comm=,args= | awk '$1 ~ /^(cargo|rustc|wrk)$/ || ($0 ~ /criterion/ && $0 !~ /awk/) {print $1}' | sort -u | tr '\n' ' '
    echo
    sleep 2
  done
}

# bench NAME ARGS...: one measurement, load generator on core 1. A run that
# another build or benchmark overlapped is repeated (twice at most) after
# the machine is quiet again; the conditions go to $OUT/conditions.log.
bench() {
  local name=$1 try seen watcher
  shift
  for try in $(seq "$TRIES"); do
    quiet
    echo "== $name (try $try): daylight-bench stream $* (server $(basename "$SERVER") ${SERVER_ENV:-}; start $(date -u +%T))" | tee -a "$OUT/conditions.log"
    watch_others >"$OUT/$name.others" 2>/dev/null &
    watcher=$!
    "${TASKSET_CLIENT[@]}" "$BIN/daylight-bench" stream --changes "$CHANGES" --json --max-seconds 900 --label "$name" "$@" \
      >"$OUT/$name.json" 2>"$OUT/$name.err" || echo "$name failed: $(tail -3 "$OUT/$name.err")"
    kill $watcher 2>/dev/null || true
    wait $watcher 2>/dev/null || true
    seen=$(tr ' ' '\n' <"$OUT/$name.others" | { grep -v '^$' || true; } | sort | uniq -c | tr -s ' \n' ' ')
    echo "   end $(date -u +%T); other builds/benchmarks seen during the run: ${seen:-none}" | tee -a "$OUT/conditions.log"
    echo "$try" >"$OUT/$name.try"
    [ -z "$seen" ] && break
  done
  python3 - "$OUT/$name.json" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1])); o = d["overall"]
print(f'   {d["label"]}: {d["connected"]}/{d["connections"]} conns, p50 {o["p50_ms"]} p99 {o["p99_ms"]} max {o["max_ms"]} ms, '
      f'last-has-it median {o["last_has_it_median_ms"]} ms, mem/conn {d["memory"]["per_idle_connection_kib"]} KiB, '
      f'connect p99 {d["connect"]["p99_ms"]} ms, missing {o["missing"]}')
PY
  sleep 3
}

single() {
  # Fresh servers for each size, so the idle RSS is not flattered by memory
  # a previous run left in the allocator.
  local d b n
  for n in 1000 10000; do
    rm -f /tmp/load.db /tmp/load.db-*
    daylight 0 sqlite:///tmp/load.db; d=$LAST
    bare 0; b=$LAST
    bench "single-$n-daylight" --url http://127.0.0.1:$BASE_PORT --token "$TOKEN" --connections $n --server-pid "$d"
    bench "single-$n-bare" --bare --url http://127.0.0.1:$BARE_PORT --connections $n --server-pid "$b"
    cleanup
  done
}

client() {
  local d b extra
  for extra in 0 100; do
    rm -f /tmp/load.db /tmp/load.db-*
    daylight 0 sqlite:///tmp/load.db; d=$LAST
    bench "client-10000-flags$extra-daylight" --kind client --extra-flags $extra --url http://127.0.0.1:$BASE_PORT \
      --token "$TOKEN" --connections 10000 --server-pid "$d"
    cleanup
  done
  bare 0; b=$LAST
  bench "client-10000-bare" --kind client --bare --url http://127.0.0.1:$BARE_PORT --connections 10000 --server-pid "$b"
  cleanup
}

builds() {
  # Two builds in turn at 10,000 server-key connections, fresh servers each
  # round: $DAYLIGHT_BIN against $BASE_BIN (say, the commit before a
  # change), two rounds, so drift on the shared machine shows as spread
  # within a build rather than as a difference between builds.
  local d r label bin
  for r in 1 2; do
    for label in new base; do
      if [ $label = new ]; then bin=$DAYLIGHT_BIN; else bin=${BASE_BIN:?set BASE_BIN for builds}; fi
      SERVER=$bin
      rm -f /tmp/load.db /tmp/load.db-*
      daylight 0 sqlite:///tmp/load.db; d=$LAST
      bench "builds$r-10000-$label" --url http://127.0.0.1:$BASE_PORT --token "$TOKEN" --connections 10000 --server-pid "$d"
      cleanup
    done
  done
  SERVER=$DAYLIGHT_BIN
}

clientbuilds() {
  # Client keys, 10,000 distinct contexts, 101 client_side flags:
  # $DAYLIGHT_BIN, $BASE_BIN and the bare floor in turn, fresh servers each
  # time, $ROUNDS rounds (2), so the ratios compare runs minutes apart.
  local d b r label
  for r in $(seq "${ROUNDS:-2}"); do
    for label in new base; do
      if [ $label = new ]; then SERVER=$DAYLIGHT_BIN; else SERVER=${BASE_BIN:?set BASE_BIN for clientbuilds}; fi
      rm -f /tmp/load.db /tmp/load.db-*
      daylight 0 sqlite:///tmp/load.db; d=$LAST
      bench "clientbuilds$r-10000-flags100-$label" --kind client --extra-flags 100 --url http://127.0.0.1:$BASE_PORT \
        --token "$TOKEN" --connections 10000 --server-pid "$d"
      cleanup
    done
    bare 0; b=$LAST
    bench "clientbuilds$r-10000-bare" --kind client --bare --url http://127.0.0.1:$BARE_PORT --connections 10000 --server-pid "$b"
    cleanup
  done
  SERVER=$DAYLIGHT_BIN
}

repeat() {
  # Three more alternating rounds at 10,000, fresh servers each round: the
  # figures move 10-20% between runs on this shared machine; the ratio less.
  local d b r
  for r in 1 2 3; do
    rm -f /tmp/load.db /tmp/load.db-*
    daylight 0 sqlite:///tmp/load.db; d=$LAST
    bare 0; b=$LAST
    bench "repeat$r-10000-daylight" --url http://127.0.0.1:$BASE_PORT --token "$TOKEN" --connections 10000 --server-pid "$d"
    bench "repeat$r-10000-bare" --bare --url http://127.0.0.1:$BARE_PORT --connections 10000 --server-pid "$b"
    cleanup
  done
}

scalexp() {
  # 25,000 on two PostgreSQL + Redis nodes: the release build against the
  # patched one with a cached snapshot message and a 4,096 listen backlog.
  local bin chan pids i
  for bin in "$DAYLIGHT_BIN" "$EXP_BIN"; do
    SERVER=$bin SERVER_ENV=
    [ "$bin" = "$EXP_BIN" ] && SERVER_ENV="DAYLIGHT_EXP_SNAPSHOT_CACHE=1 DAYLIGHT_EXP_BACKLOG=4096"
    fresh_pg
    chan=bench:$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
    pids=()
    for i in 0 1; do daylight $i "$PG/$PGDB" "$chan"; pids+=(--server-pid "$LAST"); done
    CHANGES=5 bench "scalexp-25000-$(basename "$bin")" --url http://127.0.0.1:$BASE_PORT --nodes http://127.0.0.1:$((BASE_PORT + 1)) \
      --token "$TOKEN" --connections 25000 --processes 2 "${pids[@]}"
    cleanup
  done
  SERVER=$DAYLIGHT_BIN SERVER_ENV=
}

unpinned() {
  local d b
  TASKSET_SERVER=() TASKSET_CLIENT=()
  rm -f /tmp/load.db /tmp/load.db-*
  daylight 0 sqlite:///tmp/load.db; d=$LAST
  bare 0; b=$LAST
  bench "unpinned-10000-daylight" --url http://127.0.0.1:$BASE_PORT --token "$TOKEN" --connections 10000 --server-pid "$d"
  bench "unpinned-10000-bare" --bare --url http://127.0.0.1:$BARE_PORT --connections 10000 --server-pid "$b"
  cleanup
  TASKSET_SERVER=(taskset -c "$SERVER_CORE") TASKSET_CLIENT=(taskset -c "$CLIENT_CORE")
}

storm() {
  local d bin
  for bin in "$DAYLIGHT_BIN" "$EXP_BIN"; do
    SERVER=$bin
    [ "$bin" = "$EXP_BIN" ] && SERVER_ENV=DAYLIGHT_EXP_BACKLOG=4096
    rm -f /tmp/load.db /tmp/load.db-*
    daylight 0 sqlite:///tmp/load.db; d=$LAST
    CHANGES=3 bench "storm-10000-$(basename "$bin")" --url http://127.0.0.1:$BASE_PORT --token "$TOKEN" --connections 10000 \
      --connect-concurrency 2000 --server-pid "$d"
    cleanup
    SERVER=$DAYLIGHT_BIN SERVER_ENV=
  done
}

exp() {
  local d e
  # Snapshot per connection from PostgreSQL, against a cached snapshot message.
  for e in "" DAYLIGHT_EXP_SNAPSHOT_CACHE=1; do
    SERVER=$EXP_BIN SERVER_ENV=$e
    fresh_pg
    daylight 0 "$PG/$PGDB"; d=$LAST
    CHANGES=3 bench "exp-pg-10000-${e:-base}" --url http://127.0.0.1:$BASE_PORT --token "$TOKEN" --connections 10000 \
      --server-pid "$d"
    cleanup
  done
  # Client keys with 101 client_side flags: re-evaluate all, or only the changed one.
  for e in "" DAYLIGHT_EXP_ONLY_CHANGED=1; do
    SERVER=$EXP_BIN SERVER_ENV=$e
    rm -f /tmp/load.db /tmp/load.db-*
    daylight 0 sqlite:///tmp/load.db; d=$LAST
    bench "exp-client-10000-flags100-${e:-base}" --kind client --extra-flags 100 --url http://127.0.0.1:$BASE_PORT \
      --token "$TOKEN" --connections 10000 --server-pid "$d"
    cleanup
  done
  SERVER=$DAYLIGHT_BIN SERVER_ENV=
}

fresh_pg() {
  dropdb -h 127.0.0.1 -U postgres --if-exists "$PGDB" >/dev/null 2>&1 || true
  createdb -h 127.0.0.1 -U postgres "$PGDB"
}

redis() {
  local chan a b
  chan=bench:$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
  fresh_pg
  daylight 0 "$PG/$PGDB" "$chan"; a=$LAST
  daylight 1 "$PG/$PGDB" "$chan"; b=$LAST
  bench "redis-10000-2nodes" --url http://127.0.0.1:$BASE_PORT --nodes http://127.0.0.1:$((BASE_PORT + 1)) \
    --token "$TOKEN" --connections 10000 --server-pid "$a" --server-pid "$b"
  cleanup
  # The same database and Redis, one fresh node, for comparison.
  fresh_pg
  daylight 0 "$PG/$PGDB" "$chan"; a=$LAST
  bench "redis-10000-1node" --url http://127.0.0.1:$BASE_PORT --token "$TOKEN" --connections 10000 --server-pid "$a"
  cleanup
}

scale() {
  local d b n i chan pids bpids nodes bnodes
  rm -f /tmp/load.db /tmp/load.db-*
  daylight 0 sqlite:///tmp/load.db; d=$LAST
  bare 0; b=$LAST
  bench "scale-19000-daylight" --url http://127.0.0.1:$BASE_PORT --token "$TOKEN" --connections 19000 --processes 1 --server-pid "$d"
  bench "scale-19000-bare" --bare --url http://127.0.0.1:$BARE_PORT --connections 19000 --processes 1 --server-pid "$b"
  cleanup
  # Several nodes on PostgreSQL + Redis, fresh for each size.
  for n in 2 3; do
    fresh_pg
    chan=bench:$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
    pids=() bpids=() nodes=() bnodes=()
    for ((i = 0; i < n; i++)); do
      daylight $i "$PG/$PGDB" "$chan"; pids+=(--server-pid "$LAST")
      bare $i; bpids+=(--server-pid "$LAST")
      [ $i -gt 0 ] && nodes+=(http://127.0.0.1:$((BASE_PORT + i))) && bnodes+=(http://127.0.0.1:$((BARE_PORT + i)))
    done
    local total=$((n == 2 ? 25000 : 50000))
    bench "scale-$total-daylight-${n}nodes" --url http://127.0.0.1:$BASE_PORT --nodes "$(IFS=,; echo "${nodes[*]}")" \
      --token "$TOKEN" --connections $total --processes $n "${pids[@]}"
    bench "scale-$total-bare-${n}nodes" --bare --url http://127.0.0.1:$BARE_PORT --nodes "$(IFS=,; echo "${bnodes[*]}")" \
      --connections $total --processes $n "${bpids[@]}"
    cleanup
  done
}

build
echo "run $(date -u +%FT%TZ) on $(nproc) cores; ulimit -n $(ulimit -n); git $(cd "$ROOT" && git rev-parse --short HEAD)" | tee -a "$OUT/conditions.log"
for s in "${@:-single repeat redis client scale unpinned}"; do
  for t in $s; do "$t"; done
done
