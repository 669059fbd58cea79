#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60) from the corpus kept in
# fuzz/corpus/<target>/ (seeded from tests/vectors and the protocol's
# examples). New inputs go to a scratch directory, so the kept corpus stays
# small; a crash leaves its input in fuzz/artifacts/<target>/ and fails.
#
#   cargo install cargo-fuzz
#   bash fuzz/run.sh 120            # every target, 2 minutes each
#   bash fuzz/run.sh 60 rules       # one target
#
# cargo-fuzz needs nightly flags (sanitizers); RUSTC_BOOTSTRAP=1 lets the
# stable toolchain take them. The first build instruments every dependency
# and takes a while; later runs reuse fuzz/target.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-60}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(rules server_frames sdk_frames)
export RUSTC_BOOTSTRAP=1
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
for target in "${TARGETS[@]}"; do
  mkdir -p "$SCRATCH/$target"
  echo "fuzz: $target for ${SECONDS_EACH}s"
  set +e
  cargo fuzz run -O "$target" "$SCRATCH/$target" "corpus/$target" -- \
    -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$SCRATCH/$target.log" 2>&1
  status=$?
  set -e
  grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss)" "$SCRATCH/$target.log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$SCRATCH/$target.log"
    echo "fuzz: $target FAILED (status $status); see fuzz/artifacts/$target/"
    exit "$status"
  fi
done
echo "fuzz: all targets ran ${SECONDS_EACH}s without a crash"
