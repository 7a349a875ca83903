#!/usr/bin/env bash
# Fuzzes the parsers that read bytes others wrote (fuzz/fuzz_targets/): each target runs for
# FUZZ_SECONDS (default 60) from its committed seeds (fuzz/seeds/TARGET) and what earlier runs
# kept (fuzz/corpus/TARGET, not committed). Fails if a target crashes, panics, hangs (a run over
# 10 s) or uses more than 1 GiB; the input that did it is in fuzz/artifacts/TARGET/.
#
#   scripts/fuzz.sh                              every target, 60 s each
#   FUZZ_SECONDS=300 scripts/fuzz.sh key_bytes   one target, 5 minutes
#   scripts/fuzz.sh --build                      build only (e.g. to time it)
#
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 enables them on the stable toolchain.
# FUZZ_SANITIZER=address (default) or none (when the sanitizer runtime is missing; none is
# also tried when an address-sanitized build fails).
# Reproduce a crash: RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

build_only=false
if [ "${1:-}" = "--build" ]; then
  build_only=true
  shift
fi
seconds="${FUZZ_SECONDS:-60}"
sanitizer="${FUZZ_SANITIZER:-address}"

# The workspace's dependency versions, so the code fuzzed is the code shipped.
cp ../Cargo.lock Cargo.lock

if ! cargo fuzz build -s "$sanitizer"; then
  if [ "$sanitizer" = none ]; then exit 1; fi
  echo "*** the $sanitizer-sanitized build failed; building without a sanitizer (-s none)" >&2
  sanitizer=none
  cargo fuzz build -s none
fi
$build_only && exit 0

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)

failed=()
for t in "${targets[@]}"; do
  echo "=== $t: ${seconds}s"
  mkdir -p "corpus/$t"
  log="corpus/$t.log"
  if cargo fuzz run -s "$sanitizer" "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
      >"$log" 2>&1; then
    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
    echo "corpus: $(find "corpus/$t" -type f | wc -l) inputs"
  else
    tail -n 40 "$log"
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "*** FUZZ FAILURES: ${failed[*]} (inputs in fuzz/artifacts/, logs in fuzz/corpus/TARGET.log)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
