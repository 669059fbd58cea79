#!/usr/bin/env bash
# Runs every test: the Rust workspace (the evaluator's shared vectors, the
# server on SQLite and, when DAYLIGHT_TEST_POSTGRES_URL is set, PostgreSQL;
# the multi-node suites also need DAYLIGHT_TEST_REDIS_URL), then the OFREP
# suite with the stock OpenFeature npm packages.
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
command -v node >/dev/null || echo "test: node is missing: the cross-engine regex tests will fail"

cargo test --workspace --locked
npm --prefix tests/ofrep-node ci && npm --prefix tests/ofrep-node test
npm --prefix sdk-js ci && npm --prefix sdk-js test
npm --prefix tests/browser ci && npm --prefix tests/browser test
