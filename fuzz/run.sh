#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60) from the corpus kept in
# fuzz/corpus/<target>/ (seeded from tests/vectors and the protocol's
# examples). New inputs go to a scratch directory, so the kept corpus stays
# small; a crash, a hang (one input over 10 s, or a run 120 s past its time)
# or running out of memory (2 GB) leaves its input in
# fuzz/artifacts/<target>/ and fails.
#
#   cargo install cargo-fuzz
#   bash fuzz/run.sh 120            # every target, 2 minutes each
#   bash fuzz/run.sh 60 rules       # one target
#
# cargo-fuzz needs nightly flags (sanitizers); RUSTC_BOOTSTRAP=1 lets the
# stable toolchain take them. The targets are built first, all at once: the
# first build instruments every dependency and takes a few minutes; later
# runs reuse fuzz/target. `scripts/test.sh` runs this through
# `scripts/fuzz.sh` (FUZZ_SECONDS per target).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-60}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(rules server_frames sdk_frames)
export RUSTC_BOOTSTRAP=1
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

# `cargo fuzz build` has no --locked: check first that fuzz/Cargo.lock needs
# no change, so the fuzzers build the dependency versions that were reviewed.
if ! cargo metadata --locked --format-version 1 >/dev/null; then
  echo "fuzz: fuzz/Cargo.lock is out of date (run cargo fetch in fuzz/ and commit the lock file)"
  exit 1
fi

start=$(date +%s)
if ! cargo fuzz build -O >"$SCRATCH/build.log" 2>&1; then
  tail -n 60 "$SCRATCH/build.log"
  echo "fuzz: building the fuzz targets FAILED"
  exit 1
fi
echo "fuzz: targets built in $(($(date +%s) - start))s"

for target in "${TARGETS[@]}"; do
  mkdir -p "$SCRATCH/$target" "artifacts/$target"
  touch "$SCRATCH/$target.start"
  echo "fuzz: $target for ${SECONDS_EACH}s"
  start=$(date +%s)
  set +e
  # The scratch directory comes first: libFuzzer writes new inputs there.
  timeout -k 30 $((SECONDS_EACH + 120)) \
    cargo fuzz run -O "$target" "$SCRATCH/$target" "corpus/$target" -- \
    -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$SCRATCH/$target.log" 2>&1
  status=$?
  set -e
  grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss)" "$SCRATCH/$target.log" || true
  echo "fuzz: $target took $(($(date +%s) - start))s"
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$SCRATCH/$target.log"
    echo "fuzz: the cause:"
    grep -m 6 -A 1 -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)" "$SCRATCH/$target.log" || true
    [ "$status" -ne 124 ] || echo "fuzz: $target did not stop ${SECONDS_EACH}s + 120s after it started: a hang"
    echo "fuzz: $target FAILED (status $status); failing input(s) in fuzz/artifacts/$target/:"
    find "artifacts/$target" -type f -newer "$SCRATCH/$target.start" | sed 's|^|  fuzz/|'
    echo "fuzz: reproduce with: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O $target artifacts/$target/<file>"
    exit "$status"
  fi
done
echo "fuzz: all targets ran ${SECONDS_EACH}s without a crash"
