#!/usr/bin/env bash
# OFREP / frontend-API throughput: Daylight against Unleash Edge (offline).
#
#   bench/ofrep/run.sh EDGE_BIN DAYLIGHT_BIN [OUT_DIR]
#
# ALSO="label=/path/to/daylight [label2=/path2]" also measures other Daylight
# builds (an older commit, a proposed change) in the same run, one table each.
#
# Builds nothing. For each flag-set size it starts Unleash Edge offline with
# the peers' file, loads it with wrk (bulk and single flag), stops it; then
# starts Daylight on a fresh SQLite file, loads the equivalent flags with
# setup.py, checks both bulk answers agree (compare.py), loads it the same
# way, stops it. One server at a time, loopback only, bounded durations.
#
# Requests (context u1, game omaha): Edge GET /api/frontend?userId=u1&
# properties[game]=omaha and GET /api/frontend/features/rollout-50 (no
# context, as Edge's frontend API is usually called for one flag); Daylight
# POST /ofrep/v1/evaluate/flags and .../flags/rollout-50 with the context as
# the JSON body (post.lua; client key from setup.py). Results and their
# reading: docs/benchmarks.md, "OFREP throughput against Unleash Edge".
#
# Environment knobs (defaults in brackets):
#   SIZES ["5 350"]   flag-set sizes (needs $PEERS/unleash-features-N.json)
#   RUNS [3]          wrk runs per measurement (the median is reported)
#   DURATION [10s]    wrk -d
#   CONNS [64]        wrk -c
#   PIN [0]           1: server on CPU 0 (taskset -c 0), wrk on CPU 1
#   PEERS [/work/shared/peers]
#   EDGE_PORT [3063]  DAYLIGHT_PORT [8088]
#   QUIET_MAX [10] QUIET_WAIT [600]: before each run wait up to QUIET_WAIT s
#                     until other processes use under QUIET_MAX % of a core
#                     (the machine is shared); every run logs the foreign CPU
#
# Output: OUT_DIR/raw/*.txt (every wrk run), OUT_DIR/results.tsv (one line
# per run) and a markdown summary on stdout (medians and the ratios).
set -euo pipefail

EDGE_BIN=${1:?usage: run.sh EDGE_BIN DAYLIGHT_BIN [OUT_DIR]}
DAYLIGHT_BIN=${2:?usage: run.sh EDGE_BIN DAYLIGHT_BIN [OUT_DIR]}
OUT=${3:-/tmp/ofrep-bench-results}
HERE=$(cd "$(dirname "$0")" && pwd)
SIZES=${SIZES:-"5 350"}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
PIN=${PIN:-0}
PEERS=${PEERS:-/work/shared/peers}
QUIET_MAX=${QUIET_MAX:-10}
QUIET_WAIT=${QUIET_WAIT:-600}
EDGE_PORT=${EDGE_PORT:-3063}
DAYLIGHT_PORT=${DAYLIGHT_PORT:-8088}
DB=/tmp/ofrep-bench.db
ADMIN_TOKEN=dl_admin_ofrep_bench_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
QUERY='userId=u1&properties%5Bgame%5D=omaha'
BODY='{"context":{"targetingKey":"u1","game":"omaha"}}'

command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
[ -x "$EDGE_BIN" ] || { echo "not executable: $EDGE_BIN" >&2; exit 1; }
[ -x "$DAYLIGHT_BIN" ] || { echo "not executable: $DAYLIGHT_BIN" >&2; exit 1; }

if [ "$PIN" = 1 ]; then
  SERVER_CPU=(taskset -c 0); WRK_CPU=(taskset -c 1)
else
  SERVER_CPU=(); WRK_CPU=()
fi

mkdir -p "$OUT/raw"
RESULTS=$OUT/results.tsv
printf 'server\tsize\tendpoint\trun\treq_per_s\tp99_ms\tnon2xx\terrors\tserver_cpu_pct\tforeign_cpu_pct\n' >"$RESULTS"

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
trap stop_server EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # URL [curl args...]: up to 30 s for a 2xx
  local url=$1; shift
  for _ in $(seq 300); do
    if curl -sf -o /dev/null --max-time 1 "$@" "$url"; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited early" >&2; return 1; }
    sleep 0.1
  done
  echo "timed out waiting for $url" >&2; return 1
}

# wrk output -> "req_per_s p99_ms non2xx errors"
parse_wrk() {
  python3 - "$1" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
errs = re.search(r"Socket errors:.*", t)
print(f"{rps:.0f} {p99:.3f} {non2xx.group(1) if non2xx else 0} {'yes' if errs else 'no'}")
PY
}

busy_jiffies() { awk '/^cpu / {print $2+$3+$4+$7+$8}' /proc/stat; }
proc_jiffies() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# Waits (at most QUIET_WAIT seconds) until the machine is quiet: CPU used by
# others over 2 s below QUIET_MAX % of one core. Others' builds and benchmarks
# share this machine; each run records the foreign CPU it saw anyway.
wait_quiet() {
  local waited=0 b0 b1 f
  while :; do
    b0=$(busy_jiffies); sleep 2; b1=$(busy_jiffies)
    f=$(( (b1 - b0) / 2 ))
    if [ "$f" -le "$QUIET_MAX" ]; then return 0; fi
    if [ "$waited" -ge "$QUIET_WAIT" ]; then
      echo "  (machine still busy: ${f}% of a core used by others; measuring anyway)"; return 0
    fi
    [ "$waited" = 0 ] && echo "  (waiting for the machine to be quiet: ${f}% of a core in use)"
    waited=$((waited + 2))
  done
}

measure() { # server size endpoint wrk-args...
  local server=$1 size=$2 endpoint=$3; shift 3
  local i raw b0 b1 s0 s1 w foreign
  for i in $(seq "$RUNS"); do
    wait_quiet
    raw=$OUT/raw/$server-$size-$endpoint-$i.txt
    echo "+ ${WRK_CPU[*]} wrk -t2 -c$CONNS -d$DURATION --latency $*" >"$raw"
    b0=$(busy_jiffies); s0=$(proc_jiffies "$SERVER_PID")
    /usr/bin/time -f 'wrk cpu %U %S' -a -o "$raw" \
      "${WRK_CPU[@]}" wrk -t2 -c"$CONNS" -d"$DURATION" --timeout 5s --latency "$@" >>"$raw" 2>&1
    b1=$(busy_jiffies); s1=$(proc_jiffies "$SERVER_PID")
    w=$(awk '/^wrk cpu/ {printf "%d", ($3+$4)*100}' "$raw")
    # CPU used by anything but this server and wrk during the run, in % of
    # one core (other people's builds and benchmarks make a run unreliable).
    foreign=$(( (b1 - b0 - (s1 - s0) - w) * 100 / ${DURATION%s} / 100 ))
    read -r rps p99 non2xx errs < <(parse_wrk "$raw")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$size" "$endpoint" "$i" "$rps" "$p99" "$non2xx" "$errs" \
      "$(( (s1 - s0) / ${DURATION%s} ))" "$foreign" >>"$RESULTS"
    echo "  $server $size $endpoint run $i: $rps req/s, p99 $p99 ms (non-2xx $non2xx, socket errors $errs)," \
      "server CPU $(( (s1 - s0) / ${DURATION%s} ))% of a core, foreign CPU ${foreign}%, server RSS $(rss) KiB"
  done
}

rss() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo "?"; }

run_daylight() { # name binary size file
  local name=$1 bin=$2 size=$3 FILE=$4 KEYS DL
  echo "== Daylight ($name: $bin), $size flags"
  rm -f "$DB" "$DB-wal" "$DB-shm"
  DAYLIGHT_DATABASE_URL=sqlite://$DB DAYLIGHT_ADMIN_TOKEN=$ADMIN_TOKEN \
    DAYLIGHT_LISTEN=127.0.0.1:$DAYLIGHT_PORT RUST_LOG=warn \
    "${SERVER_CPU[@]}" "$bin" >"$OUT/$name-$size.log" 2>&1 &
  SERVER_PID=$!
  DL=http://127.0.0.1:$DAYLIGHT_PORT
  wait_for "$DL/healthz"
  KEYS=$(python3 "$HERE/setup.py" --url "$DL" --token "$ADMIN_TOKEN" --unleash-file "$FILE")
  DAYLIGHT_KEY=$(sed -n 's/^CLIENT_KEY=//p' <<<"$KEYS")
  export DAYLIGHT_KEY
  curl -sf -X POST "$DL/ofrep/v1/evaluate/flags" -H "Authorization: Bearer $DAYLIGHT_KEY" \
    -H 'Content-Type: application/json' -d "$BODY" >"$OUT/$name-$size-bulk.json"
  curl -s -o "$OUT/$name-$size-single.json" -w '  single flag POST /ofrep/v1/evaluate/flags/rollout-50: HTTP %{http_code}\n' \
    -X POST "$DL/ofrep/v1/evaluate/flags/rollout-50" -H "Authorization: Bearer $DAYLIGHT_KEY" \
    -H 'Content-Type: application/json' -d "$BODY"
  echo "  correctness (u1, game=omaha):"
  python3 "$HERE/compare.py" "$FILE" "$OUT/edge-$size-bulk.json" "$OUT/$name-$size-bulk.json" u1
  printf '  response bytes: Edge bulk %s, Daylight bulk %s\n' \
    "$(wc -c <"$OUT/edge-$size-bulk.json")" "$(wc -c <"$OUT/$name-$size-bulk.json")"
  echo "  server RSS before load: $(rss) KiB"
  measure "$name" "$size" bulk -s "$HERE/post.lua" "$DL/ofrep/v1/evaluate/flags"
  measure "$name" "$size" single -s "$HERE/post.lua" "$DL/ofrep/v1/evaluate/flags/rollout-50"
  stop_server
}

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg), PIN=$PIN, $RUNS x wrk -t2 -c$CONNS -d$DURATION"
for size in $SIZES; do
  FILE=$PEERS/unleash-features-$size.json
  port_free "$EDGE_PORT" || { echo "port $EDGE_PORT is busy" >&2; exit 1; }
  port_free "$DAYLIGHT_PORT" || { echo "port $DAYLIGHT_PORT is busy" >&2; exit 1; }

  # ---- Unleash Edge, offline ----
  echo "== Unleash Edge, $size flags"
  "${SERVER_CPU[@]}" "$EDGE_BIN" --interface 127.0.0.1 --port "$EDGE_PORT" offline \
    --bootstrap-file "$FILE" \
    --client-tokens '*:development.secret' --frontend-tokens '*:development.frontend' \
    >"$OUT/edge-$size.log" 2>&1 &
  SERVER_PID=$!
  EDGE=http://127.0.0.1:$EDGE_PORT
  wait_for "$EDGE/api/frontend?$QUERY" -H 'Authorization: *:development.frontend'
  curl -sf "$EDGE/api/frontend?$QUERY" -H 'Authorization: *:development.frontend' >"$OUT/edge-$size-bulk.json"
  curl -s -o "$OUT/edge-$size-single.json" -w '  single flag GET /api/frontend/features/rollout-50: HTTP %{http_code}\n' \
    "$EDGE/api/frontend/features/rollout-50" -H 'Authorization: *:development.frontend'
  echo "  server RSS before load: $(rss) KiB"
  measure edge "$size" bulk -H 'Authorization: *:development.frontend' "$EDGE/api/frontend?$QUERY"
  measure edge "$size" single -H 'Authorization: *:development.frontend' "$EDGE/api/frontend/features/rollout-50"
  stop_server

  run_daylight daylight "$DAYLIGHT_BIN" "$size" "$FILE"
  for extra in ${ALSO:-}; do
    run_daylight "${extra%%=*}" "${extra#*=}" "$size" "$FILE"
  done
done

# ---- summary: medians of the runs, Daylight / Edge ----
python3 - "$RESULTS" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = {}
for r in rows:
    med.setdefault((r["server"], r["size"], r["endpoint"]), []).append(r)
def m(k, field):
    return statistics.median(float(r[field]) for r in med[k])
servers = [s for s in dict.fromkeys(r["server"] for r in rows) if s != "edge"]
for server in servers:
    print()
    print(f"{server}:")
    print()
    print(f"| endpoint | flags | Edge req/s | Edge p99 (ms) | {server} req/s | {server} p99 (ms) | {server} / Edge req/s | p99 equal or lower? | foreign CPU, max % of a core (Edge / {server}) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in sorted({k[1] for k in med}, key=int):
        for ep in ("bulk", "single"):
            e, d = ("edge", size, ep), (server, size, ep)
            if e not in med or d not in med:
                continue
            er, ep99, dr, dp99 = m(e, "req_per_s"), m(e, "p99_ms"), m(d, "req_per_s"), m(d, "p99_ms")
            bad = [k for k in (e, d) if any(int(r["non2xx"]) for r in med[k])]
            note = " (non-2xx: " + ", ".join(k[0] for k in bad) + ")" if bad else ""
            fe = max(int(r["foreign_cpu_pct"]) for r in med[e])
            fd = max(int(r["foreign_cpu_pct"]) for r in med[d])
            print(f"| {ep} | {size} | {er:,.0f} | {ep99:.2f} | {dr:,.0f} | {dp99:.2f} | {dr / er:.2f}x | {'yes' if dp99 <= ep99 else 'no'}{note} | {fe} / {fd} |")
PY
