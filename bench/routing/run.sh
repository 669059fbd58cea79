#!/usr/bin/env bash
# Latency added by the nginx `auth_request` hop to Daylight's routing endpoint
# (docs/benchmarks.md, "Routing through nginx").
#
#   bash bench/routing/run.sh [SECONDS] [ROUNDS]     # default 10 s, 2 rounds
#   OUT=DIR keeps every wrk output; CONNECTIONS and DELAY_MS set the rate.
#
# One nginx runs the recipe (docs/recipes/blue-green.conf: auth_request to
# Daylight, then proxy_pass to the pool it names) and, on another port, the
# same proxy_pass to the blue pool without auth_request ("direct"). The pools
# are tiny servers in the same nginx. wrk drives both at the same bounded
# rate (CONNECTIONS connections, each pausing DELAY_MS between requests:
# 10 x 2 ms is about 5,000 requests/s), alternating direct and routed rounds
# in one run; the difference of the percentiles is what the hop adds.
# Everything is on loopback and killed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_PER_ROUND=${1:-10}
ROUNDS=${2:-2}
CONNECTIONS=${CONNECTIONS:-10}
export DELAY_MS=${DELAY_MS:-2}
BIN=${DAYLIGHT_BIN:-$ROOT/target/release/daylight}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk"; exit 1; }
[ -x "$NGINX" ] || { echo "nginx is missing: apt-get install -y nginx"; exit 1; }
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release -p daylight-server --bin daylight)

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DL_PORT=$(free_port); ROUTED=$(free_port); DIRECT=$(free_port); BLUE=$(free_port); GREEN=$(free_port)
REDIRECT=$(free_port)
ADMIN=dl_admin_bench_token_0123456789abcdef

DAYLIGHT_DATABASE_URL="sqlite://$WORK/daylight.db" DAYLIGHT_LISTEN="127.0.0.1:$DL_PORT" \
  DAYLIGHT_ADMIN_TOKEN=$ADMIN RUST_LOG=warn "$BIN" serve >"$WORK/daylight.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$DL_PORT/healthz" >/dev/null && break; sleep 0.1; done

cli() { DAYLIGHT_URL="http://127.0.0.1:$DL_PORT" DAYLIGHT_TOKEN=$ADMIN "$BIN" "$@"; }
cli flags create web-pool --variations '["blue","green"]' >/dev/null
cli flags set-rollout web-pool 50 --env production >/dev/null
cli flags toggle web-pool on --env production >/dev/null
KEY=$(cli keys create --env production --kind server --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')

# Both pools point at the blue server so routed and direct reach the same
# upstream; routing still evaluates the 50 % rollout per user. The recipe's
# TLS server is served as plain HTTP (wrk speaks it); its access logs stay on.
# This Daylight has no DAYLIGHT_ROUTE_SECRET, so `paced.lua`'s unsigned
# `dl_uid` cookies are taken as ids.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=127.0.0.1 -keyout "$WORK/site.key" -out "$WORK/site.crt" 2>/dev/null
sed -e "s/server 127.0.0.1:8080 /server 127.0.0.1:$DL_PORT /" \
    -e "s/10\.0\.[12]\.1[01]:\(8000\|6001\)/127.0.0.1:$BLUE/" \
    -e "s/listen 443 ssl;/listen 127.0.0.1:$ROUTED;/" \
    -e "s/listen 80;/listen 127.0.0.1:$REDIRECT;/" \
    -e "s#/etc/nginx/tls/#$WORK/#; s#/var/log/nginx/#$WORK/#" \
    -e "s#/run/nginx-daylight-fallback.sock#$WORK/fallback.sock#" \
    -e "s/dl_server_REPLACE_ME/$KEY/" \
    "$ROOT/docs/recipes/blue-green.conf" >"$WORK/site.conf"
cat >"$WORK/nginx.conf" <<CONF
daemon off;
master_process off;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/body; proxy_temp_path $WORK/proxy; fastcgi_temp_path $WORK/fastcgi;
  uwsgi_temp_path $WORK/uwsgi; scgi_temp_path $WORK/scgi;
  server { listen 127.0.0.1:$BLUE; location / { return 200 "blue"; } }
  include $WORK/site.conf;
  server {
    listen 127.0.0.1:$DIRECT;
    location / {
      proxy_pass http://blue;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Real-IP \$remote_addr;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
CONF
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/error.log" &
PIDS+=($!)
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$ROUTED/" >/dev/null && break; sleep 0.1; done
curl -sf -H 'Cookie: dl_uid=u1' "http://127.0.0.1:$ROUTED/" | grep -q blue || { echo "routing does not answer"; cat "$WORK/error.log"; exit 1; }

# A pass of warm-up for both, then the measured rounds.
run() { # NAME PORT SECONDS [PATH [HEADER]]
  local extra=()
  [ -n "${5:-}" ] && extra=(-H "$5")
  wrk -t 2 -c "$CONNECTIONS" -d "${3}s" --latency -s "$ROOT/bench/routing/paced.lua" "${extra[@]}" \
    "http://127.0.0.1:$2${4:-/}" >"$WORK/$1.txt"
  cp "$WORK/$1.txt" "${OUT:-$WORK}/$1-$round.txt" 2>/dev/null || true
  awk -v name="$1" '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1000000; return v }
    $1 == "50%" { p50 = us($2) } $1 == "99%" { p99 = us($2) }
    $1 == "Requests/sec:" { rate = $2 }
    /Non-2xx|Socket errors/ { errors = errors " " $0 }
    END { printf "%-9s %8.0f req/s  p50 %7.0f us  p99 %7.0f us%s\n", name, rate, p50, p99, errors }
  ' "$WORK/$1.txt"
}
round=warm
run warm-direct "$DIRECT" 2 >/dev/null
run warm-routed "$ROUTED" 2 >/dev/null
echo "nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), wrk -t 2 -c $CONNECTIONS, ${DELAY_MS} ms pause per connection, ${SECONDS_PER_ROUND} s rounds"
for round in $(seq 1 "$ROUNDS"); do
  run direct "$DIRECT" "$SECONDS_PER_ROUND"
  run routed "$ROUTED" "$SECONDS_PER_ROUND"
done
# The endpoint alone, straight to Daylight (no nginx), at the same rate.
run endpoint "$DL_PORT" "$SECONDS_PER_ROUND" /route/v1/web-pool "Authorization: Bearer $KEY"
