#!/usr/bin/env bash
# Fuzzes every target in fuzz/ from its seeds for a bounded time: what .ci/run does after
# the tests, and what a developer runs before sending a change to a decoder.
#
#   scripts/fuzz.sh                  every target, SLUICE_FUZZ_SECONDS each (default 20)
#   scripts/fuzz.sh psbt_inspect     one target
#   scripts/fuzz.sh --build-only     build every target, run none
#
# Targets run SLUICE_FUZZ_JOBS at a time (default: one per core).
#
# Built with Cargo and the stable compiler: libfuzzer-sys links libFuzzer, and the flags
# below add the coverage instrumentation it steers by (the same SanitizerCoverage flags
# cargo-fuzz passes, without a sanitizer: every crate of ours forbids unsafe code, so
# AddressSanitizer would only watch dependencies' unsafe Rust, for minutes of build time).
# So no cargo-fuzz and no nightly compiler are needed; `cargo fuzz run` still works too.
#
# The instrumented build of every dependency is slow; like the node it is kept outside the
# checkout (SLUICE_FUZZ_TARGET_DIR, default ~/.cache/sluice/fuzz-target), so a machine
# builds it once and later runs rebuild only our crates. A crash, a 10 s timeout or more
# than 2 GiB of memory fails, with the input left in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${SLUICE_FUZZ_SECONDS:-20}"
target_dir="${SLUICE_FUZZ_TARGET_DIR:-${SLUICE_CACHE:-$HOME/.cache/sluice}/fuzz-target}"
host="$(rustc -vV | sed -n 's/^host: //p')"
profile=fuzz-ci

# --build-only: compile the targets and stop (.ci/run builds them while the tests run).
build_only=false
if [ "${1:-}" = --build-only ]; then
  build_only=true
  shift
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for source in fuzz_targets/*.rs; do
    targets+=("$(basename "$source" .rs)")
  done
fi

echo "building ${#targets[@]} fuzz targets (coverage-instrumented, profile $profile) into $target_dir"
# --target keeps the instrumentation off build scripts and proc macros.
RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares" \
  cargo build --profile "$profile" --target "$host" --target-dir "$target_dir" \
  $(printf -- '--bin %s ' "${targets[@]}")
if "$build_only"; then
  exit 0
fi

# One target from its seeds; its report is printed in one piece when it ends, so targets
# run side by side (SLUICE_FUZZ_JOBS at a time, default one per core) never mix lines.
fuzz_one() {
  local target="$1" corpus log report
  corpus="$(mktemp -d)"
  log="$corpus.log"
  cp seeds/"$target"/* "$corpus"/
  mkdir -p artifacts/"$target"
  if ! "$target_dir/$host/$profile/$target" "$corpus" -artifact_prefix="artifacts/$target/" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    report="$(tail -n 60 "$log")"
    printf -- '-- %s: %s s\n%s\nfuzz target %s failed (a crash, timeout or out of memory): the input is in fuzz/artifacts/%s/\n' \
      "$target" "$seconds" "$report" "$target" "$target"
    rm -rf "$corpus" "$log"
    return 1
  fi
  report="$(grep -E '^Done [0-9]+ runs|stat::peak_rss_mb|cov: [0-9]+' "$log" | tail -n 3)"
  printf -- '-- %s: %s s\n%s\n' "$target" "$seconds" "$report"
  rm -rf "$corpus" "$log"
}

parallel="${SLUICE_FUZZ_JOBS:-$(nproc)}"
failed=0
running=0
for target in "${targets[@]}"; do
  if [ "$running" -ge "$parallel" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  fuzz_one "$target" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
if [ "$failed" -ne 0 ]; then
  echo "fuzzing failed (report above)"
  exit 1
fi
