#!/usr/bin/env bash
# Instructions per small OFREP request, counted by valgrind's callgrind:
# the same figure for the same binary and inputs whatever else the machine
# is doing, so a change to the request path can be judged on a busy machine
# where req/s cannot (docs/benchmarks.md, "Fifteenth session").
#
# Usage:
#   bash bench/ofrep/callgrind.sh DAYLIGHT_BIN [FLOOR_BIN]
#
# Starts DAYLIGHT_BIN under callgrind (SQLite in a temp folder), loads the
# 5-flag equivalent of the peers' Unleash file (setup.py --size 5), sends
# WARMUP requests, zeroes the counters, sends REQUESTS keep-alive POSTs of
# the context run.sh uses on one connection, and dumps the counters: the
# instructions (user space) of the threads that served the requests,
# divided by REQUESTS. Then the
# same for the bulk endpoint, and for FLOOR_BIN's `bare-http` (the floor:
# an HTTP server that does nothing) when given.
#
# Build without LTO and with line tables, so the dumps can be read with
# callgrind_annotate (OUT/*.cg.*):
#   CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
#     cargo build --release -p daylight-server -p daylight-bench --bins
#
# Environment: REQUESTS [3000], WARMUP [500], PORT [8098], OUT [a temp dir].
set -euo pipefail

DAYLIGHT_BIN=${1:?usage: callgrind.sh DAYLIGHT_BIN [FLOOR_BIN]}
FLOOR_BIN=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
REQUESTS=${REQUESTS:-3000}
WARMUP=${WARMUP:-500}
PORT=${PORT:-8098}
OUT=${OUT:-$(mktemp -d)}
BODY='{"context":{"targetingKey":"u1","game":"omaha"}}'
ADMIN_TOKEN=dl_admin_callgrind_bench_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
command -v valgrind >/dev/null || { echo "valgrind is missing (apt-get install -y valgrind)" >&2; exit 1; }
mkdir -p "$OUT"

PID=""
stop() { [ -z "$PID" ] || { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; }; }
trap stop EXIT

wait_up() { # URL: up to 120 s (valgrind starts slowly)
  for _ in $(seq 1200); do
    curl -sf -o /dev/null --max-time 2 "$1" && return 0
    kill -0 "$PID" 2>/dev/null || { echo "server exited early" >&2; return 1; }
    sleep 0.1
  done
  echo "timed out waiting for $1" >&2; return 1
}

# POSTs COUNT times on one kept-alive connection; fails on any non-200.
post() { # path count key
  python3 - "$PORT" "$1" "$2" "$3" "$BODY" <<'PY'
import http.client, sys
port, path, count, key, body = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
conn = http.client.HTTPConnection("127.0.0.1", port)
headers = {"Content-Type": "application/json"}
if key:
    headers["Authorization"] = "Bearer " + key
for _ in range(count):
    conn.request("POST", path, body, headers)
    answer = conn.getresponse()
    answer.read()
    if answer.status != 200:
        sys.exit(f"{path}: HTTP {answer.status}")
PY
}

# Instructions per request for `path` on the server running as $PID.
count() { # name path key
  local name=$1 path=$2 key=$3 dump
  post "$path" "$WARMUP" "$key"
  callgrind_control -z "$PID" >/dev/null 2>&1
  post "$path" "$REQUESTS" "$key"
  callgrind_control -d "$PID" >/dev/null 2>&1
  DUMPS=$((DUMPS + 1))
  # One file per thread. Only the threads that served requests (ran hyper's
  # dispatcher) are counted: the server's periodic tasks (metrics upkeep,
  # receipts, the change-log poll) would add instructions that depend on
  # how long the slow run under valgrind takes.
  grep -l 'hyper::proto::h1::dispatch::Dispatcher' "$OUT/$name.cg.$PID.$DUMPS"-* | xargs awk -v n="$REQUESTS" -v label="$name $path" \
    '/^(summary|totals):/ { total += $2; nextfile } END { printf "%-50s %8.0f instructions per request\n", label, total / n }'
}

DUMPS=0
run_server() { # name command...
  local name=$1; shift
  DUMPS=0
  valgrind --tool=callgrind --callgrind-out-file="$OUT/$name.cg.%p" --separate-threads=yes \
    "$@" >"$OUT/$name.log" 2>&1 &
  PID=$!
}

DB=$OUT/daylight.db
DAYLIGHT_DATABASE_URL=sqlite://$DB DAYLIGHT_ADMIN_TOKEN=$ADMIN_TOKEN DAYLIGHT_LISTEN=127.0.0.1:$PORT RUST_LOG=warn \
  run_server daylight "$DAYLIGHT_BIN"
wait_up "http://127.0.0.1:$PORT/healthz"
KEY=$(python3 "$HERE/setup.py" --url "http://127.0.0.1:$PORT" --token "$ADMIN_TOKEN" --size 5 | sed -n 's/^CLIENT_KEY=//p')
curl -sf -X POST "http://127.0.0.1:$PORT/ofrep/v1/evaluate/flags/rollout-50" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -d "$BODY" >"$OUT/single.json"
curl -sf -X POST "http://127.0.0.1:$PORT/ofrep/v1/evaluate/flags" -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' -d "$BODY" >"$OUT/bulk.json"
count daylight /ofrep/v1/evaluate/flags/rollout-50 "$KEY"
count daylight /ofrep/v1/evaluate/flags "$KEY"
stop

if [ -n "$FLOOR_BIN" ]; then
  run_server floor "$FLOOR_BIN" bare-http --listen "127.0.0.1:$PORT" --bulk "$OUT/bulk.json" --single "$OUT/single.json"
  wait_up "http://127.0.0.1:$PORT/healthz"
  count floor /ofrep/v1/evaluate/flags/rollout-50 ""
  count floor /ofrep/v1/evaluate/flags ""
  stop
fi
echo "dumps: $OUT"
