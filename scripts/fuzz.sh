#!/usr/bin/env bash
# The test command's fuzz step (docs/reliability.md, "Fuzzing"): every fuzz
# target in fuzz/ for FUZZ_SECONDS (default 60) each, after building them
# (about 4 minutes from a clean fuzz/target on 2 cores). A crash, a hang or
# running out of memory fails, its input left in fuzz/artifacts/<target>/.
# scripts/test.sh installs cargo-fuzz first. Run alone without it, this says
# it skipped, except in CI (CI=true or DAYLIGHT_REQUIRE_SERVICES=1), where it
# fails.
#
#   bash scripts/fuzz.sh                  # as scripts/test.sh runs it
#   FUZZ_SECONDS=300 bash scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-fuzz >/dev/null; then
  if [ "${CI:-}" = true ] || [ "${DAYLIGHT_REQUIRE_SERVICES:-}" = 1 ]; then
    echo "test: cargo-fuzz is missing (cargo install cargo-fuzz --version 0.13.2 --locked)"; exit 1
  fi
  echo "test: SKIPPING the fuzz targets: cargo-fuzz is not installed (cargo install cargo-fuzz --version 0.13.2 --locked)"
  exit 0
fi
bash fuzz/run.sh "${FUZZ_SECONDS:-60}"
