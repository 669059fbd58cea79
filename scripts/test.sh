#!/usr/bin/env bash
# The README's test command. It first installs what the suites need and is
# missing, then runs every suite, and ends with a summary: each suite passed,
# skipped (and why) or failed, and every Rust test that skipped all or part of
# itself. It exits non-zero when a suite failed; a skip never counts as a pass.
#
# Set-up, each piece only when missing, as root or through sudo without a
# password (otherwise one line says what it could not install):
#   apt-get: chromium, nginx and php-fpm (their services not started), curl and
#     openssl (TLS in the routing suite), nodejs
#     npm, php-cli php-apcu phpunit php-laravel-framework composer, python3-venv
#   cargo install: cargo-deny, cargo-fuzz 0.13.2
#   (tests/conformance/run.sh makes its own Python venv with schemathesis.)
# Services: PostgreSQL at DAYLIGHT_TEST_POSTGRES_URL, else at
# postgres://postgres@127.0.0.1:5432/test when it answers (its `test`
# database is created when missing); Redis at DAYLIGHT_TEST_REDIS_URL, else
# redis://127.0.0.1:6379 when it answers. This command does not install or
# start them (.ci/run starts them); without them their tests skip.
#
# Suites: the Rust workspace (the evaluator's shared vectors; the server on
# SQLite, PostgreSQL, several nodes with Redis, behind nginx), the OFREP suite
# with the stock OpenFeature npm packages, the JS SDK, the browser suites in
# Chromium (the browser SDK; the web console), the chaos test, the dependency
# policy, the fuzz targets and API conformance. A suite that fails does not
# stop the others.
#
# A Rust test that skips writes one line to DAYLIGHT_SKIP_LOG
# (target/test-skips.log), which the summary counts and lists. Under CI=true
# or DAYLIGHT_REQUIRE_SERVICES=1 (.ci/run) nothing may be skipped: what would
# be skipped fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."

strict=0
if [ "${CI:-}" = true ] || [ "${DAYLIGHT_REQUIRE_SERVICES:-}" = 1 ]; then
  strict=1
  export DAYLIGHT_REQUIRE_SERVICES=1
fi
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$PWD/$target_dir ;; esac
mkdir -p "$target_dir"
export DAYLIGHT_SKIP_LOG="$target_dir/test-skips.log"
: >"$DAYLIGHT_SKIP_LOG"
why_file="$target_dir/test-why-skipped"
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if [ -d "$cargo_bin" ] && [[ ":$PATH:" != *":$cargo_bin:"* ]]; then PATH="$PATH:$cargo_bin"; fi
chromium="${CHROMIUM_BIN:-/usr/bin/chromium}"

setup_notes=() # what the set-up could not do, one line each
note() {
  echo "test: $1"
  setup_notes+=("$1")
}

# ---- Set-up -----------------------------------------------------------------

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    return 1
  fi
}

# Installs Debian packages without starting their services (nginx and
# php-fpm would take ports; the tests start their own): invoke-rc.d asks
# /usr/sbin/policy-rc.d, and exit status 101 means "do not start".
apt_install() {
  local policy=/usr/sbin/policy-rc.d created="" status=0
  if [ ! -e "$policy" ] && as_root sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy"; then
    created=1
    trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT # also when interrupted
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 update &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 install -y "$@" ||
    status=$?
  if [ -n "$created" ]; then
    as_root rm -f "$policy"
    trap - EXIT
  fi
  return "$status"
}

packages=()
[ -x "$chromium" ] || packages+=(chromium)
[ -n "${NGINX:-}" ] || [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || packages+=(nginx)
command -v curl >/dev/null || packages+=(curl)       # the routing suite's TLS checks
command -v openssl >/dev/null || packages+=(openssl) # and their certificate
{ command -v node && command -v npm; } >/dev/null || packages+=(nodejs npm)
command -v php >/dev/null || packages+=(php-cli)
compgen -G '/usr/sbin/php-fpm*' >/dev/null || packages+=(php-fpm)
php -m 2>/dev/null | grep -ix apcu >/dev/null || packages+=(php-apcu)
command -v phpunit >/dev/null || packages+=(phpunit)
command -v composer >/dev/null || packages+=(composer)
[ -d /usr/share/php/Illuminate ] || packages+=(php-laravel-framework)
python3 -c 'import ensurepip' 2>/dev/null || packages+=(python3 python3-venv)
if [ ${#packages[@]} -gt 0 ]; then
  echo "test: installing ${packages[*]} (apt-get)"
  if ! command -v apt-get >/dev/null; then
    note "could not install ${packages[*]}: no apt-get here"
  elif ! as_root true; then
    note "could not install ${packages[*]}: not root (and no sudo without a password)"
  elif ! apt_install "${packages[@]}"; then
    note "could not install ${packages[*]}: apt-get failed (output above)"
  fi
fi

cargo_install() { # COMMAND CRATE [ARGS...]
  command -v "$1" >/dev/null && return
  echo "test: installing $1 (cargo install, a few minutes, once)"
  if ! cargo install --locked "${@:2}"; then
    note "could not install $1: cargo install --locked ${*:2} failed (output above)"
  elif ! command -v "$1" >/dev/null; then
    note "installed $1, but it is not on PATH (add $cargo_bin)"
  fi
}
cargo_install cargo-deny cargo-deny
cargo_install cargo-fuzz cargo-fuzz --version 0.13.2

# ---- Services ---------------------------------------------------------------

tcp_answers() { timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

no_postgres="" no_redis=""
if [ -z "${DAYLIGHT_TEST_POSTGRES_URL:-}" ]; then
  url=postgres://postgres@127.0.0.1:5432/test
  if ! tcp_answers 127.0.0.1 5432; then
    no_postgres="nothing answers at 127.0.0.1:5432 and DAYLIGHT_TEST_POSTGRES_URL is not set"
  elif ! command -v psql >/dev/null || psql -w "$url" -Atqc 'select 1' >/dev/null 2>&1; then
    export DAYLIGHT_TEST_POSTGRES_URL=$url
  elif psql -w "${url%/test}/postgres" -qc 'CREATE DATABASE test' >/dev/null 2>&1; then
    echo "test: created the database test in the PostgreSQL at 127.0.0.1:5432"
    export DAYLIGHT_TEST_POSTGRES_URL=$url
  else
    no_postgres="PostgreSQL answers at 127.0.0.1:5432 but psql cannot use $url: $(psql -w "$url" -c '' 2>&1 | head -n 1)"
  fi
fi
if [ -z "${DAYLIGHT_TEST_REDIS_URL:-}" ]; then
  # shellcheck disable=SC2016 # $reply is for the inner shell
  if timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379 && printf "PING\r\n" >&3 && read -r reply <&3 && [[ $reply == +PONG* ]]' 2>/dev/null; then
    export DAYLIGHT_TEST_REDIS_URL=redis://127.0.0.1:6379
  else
    no_redis="no Redis answers PING at 127.0.0.1:6379 and DAYLIGHT_TEST_REDIS_URL is not set"
  fi
fi
if [ "$strict" = 1 ]; then without="its tests fail"; else without="its tests skip"; fi
echo "test: PostgreSQL: ${DAYLIGHT_TEST_POSTGRES_URL:-none, $no_postgres ($without)}"
echo "test: Redis: ${DAYLIGHT_TEST_REDIS_URL:-none, $no_redis ($without)}"

# ---- Suites -----------------------------------------------------------------

results=() # one summary line per suite
failed=0 passed=0 partial=0 skipped=0
skip_lines() { wc -l <"$DAYLIGHT_SKIP_LOG"; }
elapsed() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
outcome() { # RESULT NAME DETAIL
  results+=("$(printf '%-8s %s: %s' "$1" "$2" "$3")")
  case $1 in
    passed) passed=$((passed + 1)) ;;
    PARTIAL) partial=$((partial + 1)) ;;
    SKIPPED) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)) ;;
  esac
  echo "test: $2: $1, $3"
}

# suite NAME WHY-NOT COMMAND...: runs COMMAND in a subshell with `set -e`,
# unless WHY-NOT says why it cannot run here; then the suite is skipped (a
# failure in strict mode). COMMAND may skip itself too: it writes why to
# $why_file and exits 3.
suite() {
  local name=$1 why_not=$2 status=0 start=$SECONDS before took skips
  shift 2
  if [ -n "$why_not" ]; then
    if [ "$strict" = 1 ]; then outcome FAILED "$name" "$why_not"; else outcome SKIPPED "$name" "$why_not"; fi
    return 0
  fi
  echo "test: ==== $name"
  before=$(skip_lines)
  rm -f "$why_file"
  set +e
  (
    set -e
    "$@"
  )
  status=$?
  set -e
  took=$(elapsed $((SECONDS - start)))
  skips=$(($(skip_lines) - before))
  if [ "$status" = 3 ] && [ -s "$why_file" ]; then
    if [ "$strict" = 1 ]; then outcome FAILED "$name" "$(cat "$why_file")"; else outcome SKIPPED "$name" "$(cat "$why_file")"; fi
  elif [ "$status" != 0 ]; then
    outcome FAILED "$name" "exit status $status ($took)"
  elif [ "$skips" -gt 0 ]; then
    outcome PARTIAL "$name" "$skips Rust tests skipped in whole or in part (listed below), the rest passed ($took)"
  else
    outcome passed "$name" "in $took"
  fi
}

# The OpenID sign-in test (server/tests/api/oidc.rs) starts the npm
# `oidc-provider` from tests/oidc; without node it skips.
rust_workspace() {
  if command -v npm >/dev/null; then npm --prefix tests/oidc ci --no-audit --no-fund; fi
  cargo test --workspace --locked
}

npm_suite() {
  npm --prefix "$1" ci
  npm --prefix "$1" test
}

# The console's single sign-on test (tests/console/test/oidc.test.js)
# starts the same provider.
console_suite() {
  npm --prefix tests/oidc ci --no-audit --no-fund
  npm_suite tests/console
}

# The chaos test (docs/reliability.md, "Chaos"): three nodes on PostgreSQL, a
# throwaway Redis, Rust and Node SDKs (the Node SDK built by the JS SDK
# suite), about three minutes, on the server binary the workspace tests
# built. It is one test: when it skips, the suite is skipped.
chaos() {
  local before
  before=$(skip_lines)
  DAYLIGHT_BIN="${DAYLIGHT_BIN:-$target_dir/debug/daylight}" \
    cargo test --workspace --locked --test chaos -- --ignored --nocapture
  if [ "$(skip_lines)" -gt "$before" ]; then
    tail -n 1 "$DAYLIGHT_SKIP_LOG" | cut -d' ' -f2- >"$why_file"
    return 3
  fi
}

# Dependency policy (deny.toml): licenses, bans and sources. Advisories need
# the RustSec database from the network: `cargo deny check advisories` where
# it is reachable.
deny() { cargo deny --locked check bans licenses sources; }

# API conformance: schemathesis against the admin API's OpenAPI document (a
# few minutes). Exit 3 means python3/pip could not install it.
conformance() {
  local status=0
  bash tests/conformance/run.sh || status=$?
  if [ "$status" = 3 ]; then echo "schemathesis could not be installed with python3/pip (output above)" >"$why_file"; fi
  return "$status"
}

no_node="" no_chromium=""
{ command -v node && command -v npm; } >/dev/null || no_node="no node and npm (apt-get install -y nodejs npm)"
no_php=""
command -v phpunit >/dev/null || no_php="no phpunit (apt-get install -y php-cli php-apcu phpunit php-laravel-framework)"
[ -x "$chromium" ] || no_chromium="no Chromium at $chromium (apt-get install -y chromium, or set CHROMIUM_BIN)"
no_deny="" no_fuzz=""
command -v cargo-deny >/dev/null || no_deny="cargo-deny is not installed (cargo install cargo-deny --locked)"
command -v cargo-fuzz >/dev/null || no_fuzz="cargo-fuzz is not installed (cargo install cargo-fuzz --version 0.13.2 --locked)"

suite "Rust workspace" "" rust_workspace
suite "OFREP with the OpenFeature npm packages" "$no_node" npm_suite tests/ofrep-node
suite "JS SDK" "$no_node" npm_suite sdk-js
suite "PHP SDK" "$no_php" phpunit -c sdk-php/phpunit.xml
suite "browser SDK in Chromium" "${no_node:-$no_chromium}" npm_suite tests/browser
suite "web console in Chromium" "${no_node:-$no_chromium}" console_suite
suite "chaos" "" chaos
suite "cargo deny" "$no_deny" deny
# Fuzzing (docs/reliability.md, "Fuzzing"): every fuzz target for
# FUZZ_SECONDS (default 60) each, after a build of a few minutes; a crash
# leaves its input in fuzz/artifacts/<target>/ and fails.
suite "fuzz targets" "$no_fuzz" bash scripts/fuzz.sh
suite "API conformance" "" conformance
rm -f "$why_file"
if [ "$strict" = 1 ] && [ ${#setup_notes[@]} -gt 0 ]; then
  outcome FAILED "set-up" "${#setup_notes[@]} thing(s) could not be installed (below)"
fi

# ---- Summary ----------------------------------------------------------------

echo
echo "test: summary"
for line in "${results[@]}"; do echo "  $line"; done
echo "  PostgreSQL: ${DAYLIGHT_TEST_POSTGRES_URL:-none, $no_postgres}"
echo "  Redis: ${DAYLIGHT_TEST_REDIS_URL:-none, $no_redis}"
for line in ${setup_notes[@]+"${setup_notes[@]}"}; do echo "  set-up: $line"; done
if [ -s "$DAYLIGHT_SKIP_LOG" ]; then
  # Each line is "crate::test: reason"; grouped by reason, most first.
  echo "test: $(skip_lines) Rust tests skipped in whole or in part, not counted as passed ($DAYLIGHT_SKIP_LOG):"
  awk '{ i = index($0, ": "); reason = substr($0, i + 2); n[reason]++; names[reason] = names[reason] " " substr($0, 1, i - 1) }
       END { for (r in n) printf "%d\t%s\t%s\n", n[r], r, names[r] }' "$DAYLIGHT_SKIP_LOG" |
    sort -rn | while IFS=$'\t' read -r count reason names; do
      echo "  $count: $reason"
      echo "$names" | fold -s -w 96 | sed 's/^ */      /'
    done
fi
echo "test: $passed passed, $partial partly skipped, $skipped skipped, $failed failed"
[ "$failed" = 0 ]
