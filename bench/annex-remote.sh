#!/usr/bin/env bash
# git-annex-remote-swarm against git-annex's built-in directory special remote, same run:
# `git annex copy --to` and `git annex get --from` of one big file and of many small files.
#
#   bench/annex-remote.sh                         # 1 GiB file, 1000 small files, 3 runs, -J4
#   SIZE_MIB=256 SMALL_N=300 RUNS=5 bench/annex-remote.sh
#
# Environment:
#   SIZE_MIB      the big file, MiB (default 1024)
#   SMALL_N       number of small files (default 1000), each 1-16 KiB
#   JOBS          -J for the small-file copies and gets (default 4; the big file uses -J1)
#   RUNS          runs per operation; medians are reported (default 3)
#   BENCH_DIR     parent of the scratch directory (default /tmp); removed at the end
#   SKIP_BUILD=1  use the existing target/release/git-annex-remote-swarm
#
# myswarm is 4+2 over six local directories; dir is `type=directory`; both encryption=none, on
# the same disk with a warm page cache. Runs alternate between the two remotes so that noise
# from a shared machine hits both. Ratio = myswarm time / directory time (lower is better).

set -euo pipefail

SIZE_MIB=${SIZE_MIB:-1024}
SMALL_N=${SMALL_N:-1000}
JOBS=${JOBS:-4}
RUNS=${RUNS:-3}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=$ROOT/target/release

log() { printf '[annex-remote] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v git-annex >/dev/null || die "git-annex is not installed (apt-get install git-annex)"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building git-annex-remote-swarm (release)"
    (cd "$ROOT" && cargo build --release -p annex-remote >&2)
fi
[ -x "$BIN_DIR/git-annex-remote-swarm" ] || die "$BIN_DIR/git-annex-remote-swarm not found"
export PATH="$BIN_DIR:$PATH"

PARENT=${BENCH_DIR:-/tmp}
mkdir -p "$PARENT"
W=$(mktemp -d "$PARENT/annex-remote-bench.XXXXXX")
cleanup() {
    chmod -R u+w "$W" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
LOG=$W/log
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "scratch directory $W"

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
quiet() { "$@" >>"$LOG" 2>&1 || { log "failed: $*"; tail -20 "$LOG" >&2; exit 1; }; }
declare -A T CPU
# timed NAME CMD...: appends wall and CPU seconds (git-annex and the remote) to T[NAME], CPU[NAME].
timed() {
    local name=$1 t0 t c
    shift
    sync
    t0=$(now)
    /usr/bin/time -f '%U %S' -o "$W/cpu" "$@" >>"$LOG" 2>&1 ||
        { log "failed: $*"; tail -20 "$LOG" >&2; exit 1; }
    t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
    c=$(awk '{ printf "%.2f", $1 + $2 }' "$W/cpu")
    T[$name]="${T[$name]:-} $t"
    CPU[$name]="${CPU[$name]:-} $c"
    log "  $name: ${t}s wall, ${c}s CPU"
}

# --- setup -----------------------------------------------------------------------------------
REPO=$W/repo
mkdir -p "$REPO/small"
cd "$REPO"
quiet git init -q
quiet git config user.name bench
quiet git config user.email bench@example.invalid
quiet git annex init bench
log "writing a $SIZE_MIB MiB file and $SMALL_N small files"
head -c $((SIZE_MIB << 20)) /dev/urandom >big.bin
python3 - "$SMALL_N" <<'EOF'
import os, random, sys
rng = random.Random(1)
for i in range(int(sys.argv[1])):
    with open(f"small/f{i:04}.bin", "wb") as f:
        f.write(os.urandom(rng.randint(1024, 16384)))
EOF
SMALL_BYTES=$(du -sb small | cut -f1)
quiet git annex add big.bin small
quiet git commit -q -m data
mkdir -p "$W/dirremote"
quiet git annex initremote dir type=directory directory="$W/dirremote" encryption=none
stores=$(for i in 1 2 3 4 5 6; do printf '%s/s%s,' "$W" "$i"; done)
quiet git annex initremote myswarm type=external externaltype=swarm encryption=none \
    k=4 m=2 stores="${stores%,}"

# --- runs ------------------------------------------------------------------------------------
for r in $(seq 1 "$RUNS"); do
    log "run $r of $RUNS"
    for remote in dir myswarm; do
        if [ "$r" -gt 1 ]; then
            quiet git annex drop --force --from "$remote" big.bin
            quiet git annex drop --force --from "$remote" -J4 small
        fi
        timed "big copy $remote" git annex copy --to "$remote" big.bin
        quiet git annex drop --force big.bin
        timed "big get $remote" git annex get --from "$remote" big.bin
        timed "small copy $remote" git annex copy --to "$remote" -J"$JOBS" small
        quiet git annex drop --force -J4 small
        timed "small get $remote" git annex get --from "$remote" -J"$JOBS" small
    done
done
quiet git annex fsck --from myswarm --fast --quiet

# --- report ----------------------------------------------------------------------------------
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
printf '\n%s, %s cores, git-annex %s, load %s -> %s\n' "$(uname -srm)" "$(nproc)" \
    "$(git annex version --raw)" "$LOAD_START" "$LOAD_END"
printf '%d run(s); big file %d MiB (-J1), %d small files, %d bytes (-J%d)\n\n' \
    "$RUNS" "$SIZE_MIB" "$SMALL_N" "$SMALL_BYTES" "$JOBS"
printf '%-12s %12s %12s %8s %10s %12s %12s   %s\n' operation "dir s" "myswarm s" ratio target \
    "dir MB/s" "myswarm MB/s" "CPU s dir / myswarm"
for op in "big copy" "big get" "small copy" "small get"; do
    # shellcheck disable=SC2086
    d=$(median ${T["$op dir"]})
    # shellcheck disable=SC2086
    s=$(median ${T["$op myswarm"]})
    # shellcheck disable=SC2086
    cd_=$(median ${CPU["$op dir"]})
    # shellcheck disable=SC2086
    cs=$(median ${CPU["$op myswarm"]})
    case $op in big*) bytes=$((SIZE_MIB << 20)); target=1.2 ;; *) bytes=$SMALL_BYTES; target=1.5 ;; esac
    awk -v op="$op" -v d="$d" -v s="$s" -v b="$bytes" -v t="$target" -v cd="$cd_" -v cs="$cs" 'BEGIN {
        printf "%-12s %12.2f %12.2f %8.2f %10s %12.0f %12.0f   %s / %s\n",
            op, d, s, s / d, "<= " t, b / d / 1e6, b / s / 1e6, cd, cs }'
done
printf '\nall runs (s):\n'
for k in "${!T[@]}"; do printf '  %-20s %s\n' "$k" "${T[$k]}"; done | sort
