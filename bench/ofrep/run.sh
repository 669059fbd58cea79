#!/usr/bin/env bash
# OFREP / frontend-API throughput: Daylight against Unleash Edge (offline).
#
#   bench/ofrep/run.sh EDGE_BIN DAYLIGHT_BIN [OUT_DIR]
#
# EDGE_BIN=none leaves Edge out: then the builds are compared with the first
# (DAYLIGHT_BIN), e.g. a change against the commit before it (ALSO=).
#
# ALSO="label=/path/to/daylight [label2=/path2]" also measures other Daylight
# builds (an older commit, a proposed change) in the same run, one table each.
#
# Builds nothing. For each flag-set size it starts Unleash Edge offline with
# the peers' file and each Daylight build on a fresh SQLite file of its own,
# loads the equivalent flags into Daylight with setup.py and checks both bulk
# answers agree (compare.py). Then it loads one server at a time with wrk
# (bulk, then single flag), taking the servers in turn within each round:
# Edge run 1, Daylight run 1, Edge run 2, ... The others sit idle meanwhile.
# Interleaving matters on a shared machine: the same build moves 15-20% over
# a few minutes, and measuring all of one server's runs before the other's
# turns that drift into a difference between servers. Loopback only,
# bounded durations.
#
# Requests (context u1, game omaha): Edge GET /api/frontend?userId=u1&
# properties[game]=omaha and GET /api/frontend/features/rollout-50 with the
# same query (until the sixteenth session the single flag was asked with no
# context, which Edge answers without bucketing: less work than Daylight's
# single answer, docs/benchmarks.md "Sixteenth session"); Daylight
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
#   PEERS (required)  the folder with Unleash's unleash-features-N.json files
#   EDGE_PORT [3063]  DAYLIGHT_PORT [8088] (further builds: the next ports)
#   ENCODING []       e.g. gzip: every request (both servers) says
#                     `Accept-Encoding: ENCODING`, as browsers do
#   CONTEXTS [1]      N > 1: bulk requests name users u1..uN in turn
#                     (get.lua, post.lua), so answers kept per context miss
#   FLOOR []          path to daylight-bench: also measure `bare-http`, an
#                     HTTP server on Daylight's serving model that answers
#                     Daylight's bytes without any work (the floor: what the
#                     HTTP stack alone allows; table "floor")
#   QUIET_MAX [10] QUIET_WAIT [600]: before each run wait up to QUIET_WAIT s
#                     until other processes use under QUIET_MAX % of a core
#                     (the machine is shared); every run logs the foreign CPU
#
# Output: OUT_DIR/raw/*.txt (every wrk run), OUT_DIR/results.tsv (one line
# per run, with the server's user and system CPU and wrk's) and a markdown
# summary on stdout (medians, the ratios, and the CPU per request of the
# server in user space, the server in the kernel, and wrk).
set -euo pipefail

EDGE_BIN=${1:?usage: run.sh EDGE_BIN DAYLIGHT_BIN [OUT_DIR]}
DAYLIGHT_BIN=${2:?usage: run.sh EDGE_BIN DAYLIGHT_BIN [OUT_DIR]}
OUT=${3:-/tmp/ofrep-bench-results}
HERE=$(cd "$(dirname "$0")" && pwd)
SIZES=${SIZES:-"5 350"}
ENCODING=${ENCODING:-}
export CONTEXTS=${CONTEXTS:-1}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
PIN=${PIN:-0}
PEERS=${PEERS:?set PEERS to the folder holding unleash-features-5.json and unleash-features-350.json}
QUIET_MAX=${QUIET_MAX:-10}
QUIET_WAIT=${QUIET_WAIT:-600}
EDGE_PORT=${EDGE_PORT:-3063}
DAYLIGHT_PORT=${DAYLIGHT_PORT:-8088}
ADMIN_TOKEN=dl_admin_ofrep_bench_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
QUERY='userId=u1&properties%5Bgame%5D=omaha'
BODY='{"context":{"targetingKey":"u1","game":"omaha"}}'

command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
[ "$EDGE_BIN" = none ] || [ -x "$EDGE_BIN" ] || { echo "not executable: $EDGE_BIN" >&2; exit 1; }
[ -x "$DAYLIGHT_BIN" ] || { echo "not executable: $DAYLIGHT_BIN" >&2; exit 1; }

if [ "$PIN" = 1 ]; then
  SERVER_CPU=(taskset -c 0); WRK_CPU=(taskset -c 1)
else
  SERVER_CPU=(); WRK_CPU=()
fi

mkdir -p "$OUT/raw"
RESULTS=$OUT/results.tsv
printf 'server\tsize\tendpoint\trun\treq_per_s\tp99_ms\tnon2xx\terrors\tserver_cpu_pct\tforeign_cpu_pct\tserver_user_pct\tserver_sys_pct\twrk_cpu_pct\n' >"$RESULTS"

# Running servers: label -> pid; Daylight builds: label -> URL, client key.
declare -A PID=() URL=() KEY=()
SERVER_PID=""  # the server being started or measured
stop_servers() {
  local pid
  for pid in "${PID[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PID[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PID=()
}
trap stop_servers EXIT

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
# The server's user and system time (jiffies), apart: most of a small
# request's cost is the kernel's (docs/benchmarks.md, "Seventeenth session").
proc_user() { awk '{print $14}' "/proc/$1/stat" 2>/dev/null || echo 0; }

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

measure() { # server size endpoint run wrk-args...
  local server=$1 size=$2 endpoint=$3 i=$4; shift 4
  local raw b0 b1 s0 s1 u0 u1 w foreign rps p99 non2xx errs user
  SERVER_PID=${PID[$server]}
  wait_quiet
  raw=$OUT/raw/$server-$size-$endpoint-$i.txt
  echo "+ ${WRK_CPU[*]} wrk -t2 -c$CONNS -d$DURATION --latency $*" >"$raw"
  b0=$(busy_jiffies); s0=$(proc_jiffies "$SERVER_PID"); u0=$(proc_user "$SERVER_PID")
  # post.lua reads the client key from the environment.
  DAYLIGHT_KEY=${KEY[$server]:-} /usr/bin/time -f 'wrk cpu %U %S' -a -o "$raw" \
    "${WRK_CPU[@]}" wrk -t2 -c"$CONNS" -d"$DURATION" --timeout 5s --latency "$@" >>"$raw" 2>&1
  b1=$(busy_jiffies); s1=$(proc_jiffies "$SERVER_PID"); u1=$(proc_user "$SERVER_PID")
  w=$(awk '/^wrk cpu/ {printf "%d", ($3+$4)*100}' "$raw")
  # CPU used by anything but this server and wrk during the run, in % of
  # one core (other people's builds and benchmarks make a run unreliable).
  foreign=$(( (b1 - b0 - (s1 - s0) - w) * 100 / ${DURATION%s} / 100 ))
  read -r rps p99 non2xx errs < <(parse_wrk "$raw")
  user=$(( (u1 - u0) / ${DURATION%s} ))
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$size" "$endpoint" "$i" "$rps" "$p99" "$non2xx" "$errs" \
    "$(( (s1 - s0) / ${DURATION%s} ))" "$foreign" "$user" "$(( (s1 - s0) / ${DURATION%s} - user ))" "$((w / ${DURATION%s}))" >>"$RESULTS"
  echo "  $server $size $endpoint run $i: $rps req/s, p99 $p99 ms (non-2xx $non2xx, socket errors $errs)," \
    "server CPU $(( (s1 - s0) / ${DURATION%s} ))% of a core, foreign CPU ${foreign}%, server RSS $(rss) KiB"
}

rss() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo "?"; }

start_daylight() { # name binary size file port
  local name=$1 bin=$2 size=$3 FILE=$4 port=$5 KEYS DL key db=/tmp/ofrep-bench-$1.db
  echo "== Daylight ($name: $bin), $size flags, port $port"
  rm -f "$db" "$db-wal" "$db-shm"
  DAYLIGHT_DATABASE_URL=sqlite://$db DAYLIGHT_ADMIN_TOKEN=$ADMIN_TOKEN \
    DAYLIGHT_LISTEN=127.0.0.1:$port RUST_LOG=warn \
    "${SERVER_CPU[@]}" "$bin" >"$OUT/$name-$size.log" 2>&1 &
  SERVER_PID=$!
  PID[$name]=$SERVER_PID
  DL=http://127.0.0.1:$port
  wait_for "$DL/healthz"
  KEYS=$(python3 "$HERE/setup.py" --url "$DL" --token "$ADMIN_TOKEN" --unleash-file "$FILE")
  key=$(sed -n 's/^CLIENT_KEY=//p' <<<"$KEYS")
  curl -sf -X POST "$DL/ofrep/v1/evaluate/flags" -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' -d "$BODY" >"$OUT/$name-$size-bulk.json"
  curl -s -o "$OUT/$name-$size-single.json" -w '  single flag POST /ofrep/v1/evaluate/flags/rollout-50: HTTP %{http_code}\n' \
    -X POST "$DL/ofrep/v1/evaluate/flags/rollout-50" -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' -d "$BODY"
  if [ "$EDGE_BIN" != none ]; then
    echo "  correctness (u1, game=omaha):"
    python3 "$HERE/compare.py" "$FILE" "$OUT/edge-$size-bulk.json" "$OUT/$name-$size-bulk.json" u1
    printf '  response bytes: Edge bulk %s, Daylight bulk %s\n' \
      "$(wc -c <"$OUT/edge-$size-bulk.json")" "$(wc -c <"$OUT/$name-$size-bulk.json")"
  else
    echo "  response bytes: bulk $(wc -c <"$OUT/$name-$size-bulk.json")"
  fi
  echo "  server RSS before load: $(rss) KiB"
  URL[$name]=$DL
  KEY[$name]=$key
}

start_floor() { # size port: answers the first Daylight build's bytes
  local size=$1 port=$2
  echo "== floor (bare-http), $size flags, port $port"
  "${SERVER_CPU[@]}" "$FLOOR" bare-http --listen "127.0.0.1:$port" \
    --bulk "$OUT/daylight-$size-bulk.json" --single "$OUT/daylight-$size-single.json" \
    >"$OUT/floor-$size.log" 2>&1 &
  SERVER_PID=$!
  PID[floor]=$SERVER_PID
  wait_for "http://127.0.0.1:$port/healthz"
  URL[floor]=http://127.0.0.1:$port
}

# The wrk arguments for one server and endpoint, into the array `target`.
set_target() { # server endpoint
  if [ "$1" = edge ]; then
    local auth='Authorization: *:development.frontend'
    if [ "$2" = bulk ]; then target=(-H "$auth" -s "$HERE/get.lua" "$EDGE/api/frontend?$QUERY")
    else target=(-H "$auth" "$EDGE/api/frontend/features/rollout-50?$QUERY"); fi
  else
    if [ "$2" = bulk ]; then target=(-s "$HERE/post.lua" "${URL[$1]}/ofrep/v1/evaluate/flags")
    else target=(-s "$HERE/post.lua" "${URL[$1]}/ofrep/v1/evaluate/flags/rollout-50"); fi
  fi
  if [ -n "$ENCODING" ]; then target=(-H "Accept-Encoding: $ENCODING" "${target[@]}"); fi
}

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg), PIN=$PIN, ENCODING=${ENCODING:-none}, CONTEXTS=$CONTEXTS, $RUNS x wrk -t2 -c$CONNS -d$DURATION, servers in turn"
for size in $SIZES; do
  FILE=$PEERS/unleash-features-$size.json
  servers=()
  if [ "$EDGE_BIN" != none ]; then
  port_free "$EDGE_PORT" || { echo "port $EDGE_PORT is busy" >&2; exit 1; }

  # ---- Unleash Edge, offline ----
  echo "== Unleash Edge, $size flags"
  "${SERVER_CPU[@]}" "$EDGE_BIN" --interface 127.0.0.1 --port "$EDGE_PORT" offline \
    --bootstrap-file "$FILE" \
    --client-tokens '*:development.secret' --frontend-tokens '*:development.frontend' \
    >"$OUT/edge-$size.log" 2>&1 &
  SERVER_PID=$!
  PID[edge]=$SERVER_PID
  EDGE=http://127.0.0.1:$EDGE_PORT
  wait_for "$EDGE/api/frontend?$QUERY" -H 'Authorization: *:development.frontend'
  curl -sf "$EDGE/api/frontend?$QUERY" -H 'Authorization: *:development.frontend' >"$OUT/edge-$size-bulk.json"
  curl -s -o "$OUT/edge-$size-single.json" -w '  single flag GET /api/frontend/features/rollout-50: HTTP %{http_code}\n' \
    "$EDGE/api/frontend/features/rollout-50?$QUERY" -H 'Authorization: *:development.frontend'
  # The single answer must be the bulk one's for the same context (the
  # query reached the evaluation).
  python3 - "$OUT/edge-$size-bulk.json" "$OUT/edge-$size-single.json" <<'PY'
import json, sys
bulk = {t["name"]: t["enabled"] for t in json.load(open(sys.argv[1]))["toggles"]}
single = json.load(open(sys.argv[2]))
on = bulk.get("rollout-50", False)
print(f"  Edge rollout-50 for u1: single {single['enabled']}, bulk {on}")
sys.exit(0 if single["enabled"] == on else 1)
PY
  echo "  server RSS before load: $(rss) KiB"
  servers+=(edge)
  fi

  # ---- Daylight builds, each on a port and database of its own ----
  builds=("daylight=$DAYLIGHT_BIN" ${ALSO:-})
  port=$DAYLIGHT_PORT
  for build in "${builds[@]}"; do
    port_free "$port" || { echo "port $port is busy" >&2; exit 1; }
    start_daylight "${build%%=*}" "${build#*=}" "$size" "$FILE" "$port"
    port=$((port + 1))
  done

  if [ -n "${FLOOR:-}" ]; then
    port_free "$port" || { echo "port $port is busy" >&2; exit 1; }
    start_floor "$size" "$port"
  fi

  # ---- the load, servers in turn ----
  for build in "${builds[@]}"; do servers+=("${build%%=*}"); done
  [ -z "${FLOOR:-}" ] || servers+=(floor)
  for endpoint in bulk single; do
    echo "== $endpoint, $size flags"
    for i in $(seq "$RUNS"); do
      for server in "${servers[@]}"; do
        set_target "$server" "$endpoint"
        measure "$server" "$size" "$endpoint" "$i" "${target[@]}"
      done
    done
  done
  stop_servers
done

# ---- summary: medians of the runs, Daylight / Edge, and the rounds paired ----
python3 - "$RESULTS" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = {}
for r in rows:
    med.setdefault((r["server"], r["size"], r["endpoint"]), []).append(r)
def m(k, field):
    return statistics.median(float(r[field]) for r in med[k])
servers = [s for s in dict.fromkeys(r["server"] for r in rows) if s != "edge"]
# Where the CPU of a request goes: the server's user and system time and
# wrk's, in microseconds per request (medians of the runs).
print()
print("CPU per request, µs (medians): server user + server system, and wrk:")
print()
print("| server | endpoint | flags | server user | server system | wrk |")
print("|---|---|---|---|---|---|")
for k in sorted(med, key=lambda k: (int(k[1]), k[2], k[0])):
    if "server_user_pct" not in med[k][0]:
        continue
    per = lambda field: statistics.median(float(r[field]) * 1e4 / float(r["req_per_s"]) for r in med[k])
    print(f"| {k[0]} | {k[2]} | {k[1]} | {per('server_user_pct'):.1f} | {per('server_sys_pct'):.1f} | {per('wrk_cpu_pct'):.1f} |")
if not any(r["server"] == "edge" for r in rows):
    # No Edge: each further build against the first.
    first = servers[0]
    for server in servers[1:]:
        print()
        print(f"{server} against {first}:")
        print()
        print(f"| endpoint | flags | {first} req/s | {first} p99 (ms) | {server} req/s | {server} p99 (ms) | {server} / {first} req/s | paired: median ratio of a round | foreign CPU, max % of a core |")
        print("|---|---|---|---|---|---|---|---|---|")
        for size in sorted({k[1] for k in med}, key=int):
            for ep in ("bulk", "single"):
                a, b = (first, size, ep), (server, size, ep)
                if a not in med or b not in med:
                    continue
                ar, ap, br, bp = m(a, "req_per_s"), m(a, "p99_ms"), m(b, "req_per_s"), m(b, "p99_ms")
                runs_a = {r["run"]: r for r in med[a]}
                pairs = [(runs_a[r["run"]], r) for r in med[b] if r["run"] in runs_a]
                ratio = statistics.median(float(y["req_per_s"]) / float(x["req_per_s"]) for x, y in pairs)
                foreign = max(int(r["foreign_cpu_pct"]) for r in med[a] + med[b])
                print(f"| {ep} | {size} | {ar:,.0f} | {ap:.2f} | {br:,.0f} | {bp:.2f} | {br / ar:.2f}x | {ratio:.2f}x | {foreign} |")
    sys.exit(0)
for server in servers:
    print()
    print(f"{server}:")
    print()
    print(f"| endpoint | flags | Edge req/s | Edge p99 (ms) | {server} req/s | {server} p99 (ms) | {server} / Edge req/s | p99 equal or lower? | paired: median ratio of a round, rounds with p99 equal or lower | foreign CPU, max % of a core (Edge / {server}) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
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
            # Round i measured Edge and this build back to back: compare them
            # pairwise too (the machine drifts less within a round).
            runs_e = {r["run"]: r for r in med[e]}
            pairs = [(runs_e[r["run"]], r) for r in med[d] if r["run"] in runs_e]
            ratio = statistics.median(float(b["req_per_s"]) / float(a["req_per_s"]) for a, b in pairs)
            lower = sum(float(b["p99_ms"]) <= float(a["p99_ms"]) for a, b in pairs)
            print(f"| {ep} | {size} | {er:,.0f} | {ep99:.2f} | {dr:,.0f} | {dp99:.2f} | {dr / er:.2f}x | {'yes' if dp99 <= ep99 else 'no'}{note} | {ratio:.2f}x, {lower} of {len(pairs)} | {fe} / {fd} |")
if "floor" in servers:
    # How much of what the HTTP stack allows each build reaches.
    for server in (s for s in servers if s != "floor"):
        print()
        print(f"{server} against the floor (bare-http):")
        print()
        print(f"| endpoint | flags | floor req/s | floor / Edge | {server} / floor |")
        print("|---|---|---|---|---|")
        for size in sorted({k[1] for k in med}, key=int):
            for ep in ("bulk", "single"):
                e, f, d = ("edge", size, ep), ("floor", size, ep), (server, size, ep)
                if e not in med or f not in med or d not in med:
                    continue
                fr = m(f, "req_per_s")
                print(f"| {ep} | {size} | {fr:,.0f} | {fr / m(e, 'req_per_s'):.2f}x | {m(d, 'req_per_s') / fr:.2f} |")
PY
