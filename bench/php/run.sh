#!/usr/bin/env bash
# The PHP benchmark (docs/benchmarks.md, "PHP"), in one run: a release
# `daylight serve` (OFREP and the typical flag), `daylight sync`, php-fpm
# behind nginx running bench.php, and Redis. Needs php-fpm, nginx, a Redis
# (REDIS_URL, default redis://127.0.0.1:6379) and `cargo build --release -p
# daylight-server`. Usage: bench/php/run.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
daylight=${DAYLIGHT:-$root/target/release/daylight}
fpm=${PHP_FPM:-$(ls /usr/sbin/php-fpm* | sort | tail -n 1)}
nginx=${NGINX:-/usr/sbin/nginx}
redis_url=${REDIS_URL:-redis://127.0.0.1:6379}
token=bench_admin_token_0123456789abcdef
tmp=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { php -r '$s = stream_socket_server("tcp://127.0.0.1:0"); echo explode(":", stream_socket_get_name($s, false))[1];'; }

# Daylight, with the typical flag.
port=$(free_port)
url=http://127.0.0.1:$port
DAYLIGHT_DATABASE_URL="sqlite://$tmp/daylight.db" DAYLIGHT_LISTEN=127.0.0.1:$port \
    DAYLIGHT_ADMIN_TOKEN=$token RUST_LOG=warn "$daylight" serve &
pids+=($!)
until curl -sf "$url/healthz" >/dev/null; do sleep 0.05; done
key=$(php "$root/bench/php/setup.php" "$url" "$token")

# The snapshots: files, and the Redis hashes `daylight sync` would write.
php "$root/bench/php/fixtures.php" "$tmp"
for n in 50 1000; do
    redis-cli -u "$redis_url" HSET "daylight:bench:$n" etag "$n-bench" >/dev/null
    redis-cli -u "$redis_url" -x HSET "daylight:bench:$n" json <"$tmp/flags-$n.json" >/dev/null
done

# php-fpm (OPcache on, timestamps not checked, as in production) behind nginx.
user=""; root_flag=""
if [ "$(id -u)" = 0 ]; then user=$'user = root\ngroup = root'; root_flag=-R; fi
cat >"$tmp/fpm.conf" <<CONF
[global]
pid = $tmp/fpm.pid
error_log = $tmp/fpm.log
daemonize = no
[bench]
$user
listen = $tmp/fpm.sock
pm = static
pm.max_children = 1
request_terminate_timeout = 600
php_admin_value[opcache.validate_timestamps] = 0
php_admin_value[opcache.file_update_protection] = 0
php_admin_value[opcache.memory_consumption] = 256
php_admin_value[apc.shm_size] = 256M
php_admin_value[memory_limit] = 1G
php_admin_value[max_execution_time] = 0
CONF
"$fpm" -F $root_flag -y "$tmp/fpm.conf" &
pids+=($!)
nport=$(free_port)
cat >"$tmp/nginx.conf" <<CONF
daemon off; master_process off; pid $tmp/nginx.pid; error_log $tmp/nginx.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $tmp/body; proxy_temp_path $tmp/proxy; fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi; scgi_temp_path $tmp/scgi;
  server {
    listen 127.0.0.1:$nport;
    location / {
      fastcgi_pass unix:$tmp/fpm.sock;
      fastcgi_read_timeout 600;
      fastcgi_param SCRIPT_FILENAME $root/bench/php/bench.php;
      fastcgi_param REQUEST_METHOD GET;
      fastcgi_param DAYLIGHT_ROOT $root;
      fastcgi_param DAYLIGHT_BENCH_DIR $tmp;
      fastcgi_param DAYLIGHT_URL $url;
      fastcgi_param DAYLIGHT_KEY $key;
      fastcgi_param DAYLIGHT_REDIS_URL $redis_url;
    }
  }
}
CONF
"$nginx" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/nginx.log" &
pids+=($!)
until [ -S "$tmp/fpm.sock" ] && (: >"/dev/tcp/127.0.0.1/$nport") 2>/dev/null; do sleep 0.1; done

echo "== PHP evaluation, snapshot pick-up and OFREP (inside php-fpm)"
curl -sf --max-time 600 "http://127.0.0.1:$nport/" || { cat "$tmp/fpm.log" "$tmp/nginx.log"; exit 1; }

# A change: CLI commit -> daylight sync renames the new .php file into place.
echo "== change visible after the commit (CLI toggle -> new snapshot file)"
"$daylight" sync --url "$url" --key "$key" --php-file "$tmp/production.php" >"$tmp/sync.log" 2>&1 &
pids+=($!)
until [ -s "$tmp/production.php" ]; do sleep 0.02; done
for i in 1 2 3 4 5; do
    state=$([ $((i % 2)) = 1 ] && echo off || echo on)
    before=$(head -n 1 "$tmp/production.php")
    start=$(date +%s%N)
    DAYLIGHT_URL=$url DAYLIGHT_TOKEN=$token "$daylight" flags toggle typical "$state" --env production >/dev/null
    while [ "$(head -n 1 "$tmp/production.php")" = "$before" ]; do sleep 0.002; done
    echo "toggle $i: $(( ($(date +%s%N) - start) / 1000000 )) ms"
done
