#!/usr/bin/env bash
# OFREP / frontend-API throughput: Daylight against Unleash Edge (offline).
#
#   bench/ofrep/run.sh EDGE_BIN DAYLIGHT_BIN [OUT_DIR]
#
# Builds nothing. For each flag-set size it starts Unleash Edge offline with
# the peers' file, loads it with wrk (bulk and single flag), stops it; then
# starts Daylight on a fresh SQLite file, loads the equivalent flags with
# setup.py, checks both bulk answers agree (compare.py), loads it the same
# way, stops it. One server at a time, loopback only, bounded durations.
#
# Environment knobs (defaults in brackets):
#   SIZES ["5 350"]   flag-set sizes (needs $PEERS/unleash-features-N.json)
#   RUNS [3]          wrk runs per measurement (the median is reported)
#   DURATION [10s]    wrk -d
#   CONNS [64]        wrk -c
#   PIN [0]           1: server on CPU 0 (taskset -c 0), wrk on CPU 1
#   PEERS [/work/shared/peers]
#   EDGE_PORT [3063]  DAYLIGHT_PORT [8088]
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
printf 'server\tsize\tendpoint\trun\treq_per_s\tp99_ms\tnon2xx\terrors\n' >"$RESULTS"

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

measure() { # server size endpoint wrk-args...
  local server=$1 size=$2 endpoint=$3; shift 3
  local i raw
  for i in $(seq "$RUNS"); do
    raw=$OUT/raw/$server-$size-$endpoint-$i.txt
    echo "+ ${WRK_CPU[*]} wrk -t2 -c$CONNS -d$DURATION --latency $*" >"$raw"
    "${WRK_CPU[@]}" wrk -t2 -c"$CONNS" -d"$DURATION" --timeout 5s --latency "$@" >>"$raw" 2>&1
    read -r rps p99 non2xx errs < <(parse_wrk "$raw")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$size" "$endpoint" "$i" "$rps" "$p99" "$non2xx" "$errs" >>"$RESULTS"
    echo "  $server $size $endpoint run $i: $rps req/s, p99 $p99 ms (non-2xx $non2xx, socket errors $errs)"
  done
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
  measure edge "$size" bulk -H 'Authorization: *:development.frontend' "$EDGE/api/frontend?$QUERY"
  measure edge "$size" single -H 'Authorization: *:development.frontend' "$EDGE/api/frontend/features/rollout-50"
  stop_server

  # ---- Daylight ----
  echo "== Daylight, $size flags"
  rm -f "$DB" "$DB-wal" "$DB-shm"
  DAYLIGHT_DATABASE_URL=sqlite://$DB DAYLIGHT_ADMIN_TOKEN=$ADMIN_TOKEN \
    DAYLIGHT_LISTEN=127.0.0.1:$DAYLIGHT_PORT RUST_LOG=warn \
    "${SERVER_CPU[@]}" "$DAYLIGHT_BIN" >"$OUT/daylight-$size.log" 2>&1 &
  SERVER_PID=$!
  DL=http://127.0.0.1:$DAYLIGHT_PORT
  wait_for "$DL/healthz"
  KEYS=$(python3 "$HERE/setup.py" --url "$DL" --token "$ADMIN_TOKEN" --unleash-file "$FILE")
  DAYLIGHT_KEY=$(sed -n 's/^CLIENT_KEY=//p' <<<"$KEYS")
  export DAYLIGHT_KEY
  curl -sf -X POST "$DL/ofrep/v1/evaluate/flags" -H "Authorization: Bearer $DAYLIGHT_KEY" \
    -H 'Content-Type: application/json' -d "$BODY" >"$OUT/daylight-$size-bulk.json"
  curl -s -o "$OUT/daylight-$size-single.json" -w '  single flag POST /ofrep/v1/evaluate/flags/rollout-50: HTTP %{http_code}\n' \
    -X POST "$DL/ofrep/v1/evaluate/flags/rollout-50" -H "Authorization: Bearer $DAYLIGHT_KEY" \
    -H 'Content-Type: application/json' -d "$BODY"
  echo "  correctness (u1, game=omaha):"
  python3 "$HERE/compare.py" "$FILE" "$OUT/edge-$size-bulk.json" "$OUT/daylight-$size-bulk.json" u1
  printf '  response bytes: Edge bulk %s, Daylight bulk %s\n' \
    "$(wc -c <"$OUT/edge-$size-bulk.json")" "$(wc -c <"$OUT/daylight-$size-bulk.json")"
  measure daylight "$size" bulk -s "$HERE/post.lua" "$DL/ofrep/v1/evaluate/flags"
  measure daylight "$size" single -s "$HERE/post.lua" "$DL/ofrep/v1/evaluate/flags/rollout-50"
  stop_server
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
print()
print("| endpoint | flags | Edge req/s | Edge p99 (ms) | Daylight req/s | Daylight p99 (ms) | Daylight / Edge req/s | p99 equal or lower? |")
print("|---|---|---|---|---|---|---|---|")
for size in sorted({k[1] for k in med}, key=int):
    for ep in ("bulk", "single"):
        e, d = ("edge", size, ep), ("daylight", size, ep)
        if e not in med or d not in med:
            continue
        er, ep99, dr, dp99 = m(e, "req_per_s"), m(e, "p99_ms"), m(d, "req_per_s"), m(d, "p99_ms")
        bad = [k for k in (e, d) if any(int(r["non2xx"]) for r in med[k])]
        note = " (non-2xx: " + ", ".join(k[0] for k in bad) + ")" if bad else ""
        print(f"| {ep} | {size} | {er:,.0f} | {ep99:.2f} | {dr:,.0f} | {dp99:.2f} | {dr / er:.2f}x | {'yes' if dp99 <= ep99 else 'no'}{note} |")
PY
