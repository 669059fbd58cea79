#!/usr/bin/env bash
# Runs every test: the Rust workspace (the evaluator's shared vectors, the
# server on SQLite and, when DAYLIGHT_TEST_POSTGRES_URL is set, PostgreSQL;
# the multi-node suites also need DAYLIGHT_TEST_REDIS_URL), then the OFREP
# suite with the stock OpenFeature npm packages, the JS SDK, and the browser
# suites in Chromium (the browser SDK; the web console), the chaos test, the
# dependency policy, the fuzz targets and API conformance.
# Suites whose service is missing are skipped with a message, except in CI
# (DAYLIGHT_REQUIRE_SERVICES=1), where they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${DAYLIGHT_TEST_POSTGRES_URL:-}" ]; then
  echo "test: SKIPPING the PostgreSQL suites: DAYLIGHT_TEST_POSTGRES_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)"
fi
if [ -z "${DAYLIGHT_TEST_REDIS_URL:-}" ]; then
  echo "test: SKIPPING the multi-node Redis suites: DAYLIGHT_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379)"
fi
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || echo "test: SKIPPING the nginx routing suites: nginx is not installed (apt-get install -y nginx)"
command -v node >/dev/null || echo "test: node is missing: the cross-engine regex tests will fail"

cargo test --workspace --locked
npm --prefix tests/ofrep-node ci && npm --prefix tests/ofrep-node test
npm --prefix sdk-js ci && npm --prefix sdk-js test
phpunit -c sdk-php/phpunit.xml
npm --prefix tests/browser ci && npm --prefix tests/browser test
npm --prefix tests/console ci && npm --prefix tests/console test

# The chaos test (docs/reliability.md, "Chaos"): three nodes on PostgreSQL, a
# throwaway Redis, Rust and Node SDKs (the Node SDK built above), about three
# minutes. It reuses the server binary the workspace tests built.
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$PWD/$target_dir ;; esac
DAYLIGHT_BIN="${DAYLIGHT_BIN:-$target_dir/debug/daylight}" \
  cargo test --workspace --locked --test chaos -- --ignored --nocapture

# Dependency policy (deny.toml): licenses, bans and sources. Advisories need
# the RustSec database from the network: `cargo deny check advisories` where
# it is reachable.
if command -v cargo-deny >/dev/null; then
  cargo deny --locked check bans licenses sources
elif [ "${DAYLIGHT_REQUIRE_SERVICES:-}" = 1 ]; then
  echo "test: cargo-deny is missing (cargo install cargo-deny --locked)"; exit 1
else
  echo "test: SKIPPING cargo deny: cargo-deny is not installed (cargo install cargo-deny --locked)"
fi

# Fuzzing (docs/reliability.md, "Fuzzing"): every fuzz target for
# FUZZ_SECONDS (default 60) each, after a build of a few minutes; a crash
# leaves its input in fuzz/artifacts/<target>/ and fails. Without cargo-fuzz
# it is skipped with a message, except in CI, where it fails.
bash scripts/fuzz.sh

# API conformance: schemathesis against the admin API's OpenAPI document (a
# few minutes). Exit 3 means python3/pip could not install it: a skip here,
# a failure in CI.
conformance=0
bash tests/conformance/run.sh || conformance=$?
if [ "$conformance" -eq 3 ] && [ "${DAYLIGHT_REQUIRE_SERVICES:-}" != 1 ]; then
  echo "test: SKIPPING API conformance: schemathesis could not be installed"
elif [ "$conformance" -ne 0 ]; then
  exit "$conformance"
fi
