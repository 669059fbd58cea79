#!/usr/bin/env bash
# Issue 26's H1 and H3 by hand: a release server on a fresh SQLite file, OFREP
# requests with a public client key carrying 120,000-attribute contexts (two
# at a time) and 8 MiB bodies, and an editor saving regex rules (at the
# flag's compiled-size budget, and 150 rules of `.{1000}` far over it) for
# SECONDS, while /healthz is probed every 100 ms. Prints /healthz p50/p99/max without and with the attack, and what
# the attack requests got. Not part of CI; results in docs/benchmarks.md.
#
#   bench/abuse/run.sh DAYLIGHT_BIN [SECONDS]
#
# Builds nothing: cargo build --release -p daylight-server first.
# PORT [8089]. Loopback only.
set -euo pipefail

BIN=${1:?usage: run.sh DAYLIGHT_BIN [SECONDS]}
SECONDS_UNDER_ATTACK=${2:-30}
PORT=${PORT:-8089}
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=$(mktemp -d)
TOKEN=dl_admin_abuse_bench_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
URL=http://127.0.0.1:$PORT

DAYLIGHT_DATABASE_URL=sqlite://$DIR/daylight.db DAYLIGHT_ADMIN_TOKEN=$TOKEN \
  DAYLIGHT_LISTEN=127.0.0.1:$PORT RUST_LOG=warn "$BIN" >"$DIR/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DIR"' EXIT

for _ in $(seq 100); do
  curl -sf "$URL/healthz" >/dev/null && break
  kill -0 $SERVER 2>/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
  sleep 0.1
done

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $BIN"
python3 "$HERE/abuse.py" --url "$URL" --token "$TOKEN" --seconds "$SECONDS_UNDER_ATTACK"
echo "server RSS after: $(awk '/VmRSS/{print $2}' /proc/$SERVER/status) KiB"
