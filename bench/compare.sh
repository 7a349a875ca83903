#!/usr/bin/env bash
# Runs benchmark scripts against two builds of annex-swarm, one after the other, in the same
# session: for the before/after figures a change is judged by.
#
#   bench/compare.sh BEFORE_TREE AFTER_TREE put-get.sh scheduler.sh ...
#
# Each tree is a checkout (a git worktree) whose target/release holds the binaries (built
# beforehand: `cargo build --release -p annex-swarm -p annex-remote` in it). The scripts run
# from the tree whose binaries they measure (SKIP_BUILD=1), so each measures what that tree's
# script measured. Environment is passed through (SIZE_MIB, RUNS, ...). Output: one log per
# tree and script under $OUT (default /tmp/annex-swarm-compare), and each script's report.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 BEFORE_TREE AFTER_TREE SCRIPT..." >&2; exit 2; }
BEFORE=$(cd "$1" && pwd)
AFTER=$(cd "$2" && pwd)
shift 2
OUT=${OUT:-/tmp/annex-swarm-compare}
mkdir -p "$OUT"
for script in "$@"; do
    for tree in "$BEFORE" "$AFTER"; do
        name=$(basename "$tree")
        echo "== $script on $name ($(git -C "$tree" rev-parse --short HEAD)), load $(cut -d' ' -f1 /proc/loadavg)"
        SKIP_BUILD=1 "$tree/bench/$script" > "$OUT/$name.$script.out" 2> "$OUT/$name.$script.log" ||
            echo "   FAILED: see $OUT/$name.$script.log"
        cat "$OUT/$name.$script.out"
    done
done
