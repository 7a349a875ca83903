#!/usr/bin/env bash
# End-to-end put/get benchmark of annex-swarm against cp and git-annex's directory special remote.
#
#   bench/put-get.sh                      # 1 GiB file, 3 runs, RSS measured on a 4 GiB file
#   SIZE_MIB=256 RUNS=5 RSS_SIZE_MIB=0 bench/put-get.sh
#
# Environment:
#   SIZE_MIB      size of the timed file in MiB (default 1024)
#   RUNS          timed runs per operation; the median is reported (default 3)
#   RSS_SIZE_MIB  size of the file whose put/get peak RSS is measured; 0 skips it (default 4096)
#   BENCH_DIR     parent of the scratch directory (default /tmp); the scratch directory is removed
#   SKIP_BUILD=1  use the existing target/release/annex-swarm
#
# Everything runs against local directories on one disk with a warm page cache (nothing is
# dropped; `sync` runs before each timed command but is not timed), so the figures compare CPU
# and copy overheads, not devices.
# See BENCHMARKS.md for how to read the output.

set -euo pipefail

SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
RSS_SIZE_MIB=${RSS_SIZE_MIB:-4096}
K=4
M=2

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/target/release/annex-swarm

log() { printf '[put-get] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- tools -----------------------------------------------------------------------------------
need=()
command -v git-annex >/dev/null || need+=(git-annex)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    if [ "$(id -u)" -eq 0 ]; then
        apt-get install -y "${need[@]}" >&2
    else
        sudo apt-get install -y "${need[@]}" >&2
    fi
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building annex-swarm (release)"
    (cd "$ROOT" && cargo build --release -p annex-swarm >&2)
fi
[ -x "$BIN" ] || die "$BIN not found"

# --- scratch directory -----------------------------------------------------------------------
PARENT=${BENCH_DIR:-/tmp}
mkdir -p "$PARENT"
W=$(mktemp -d "$PARENT/annex-swarm-bench.XXXXXX")
cleanup() {
    # git-annex makes its object files and directories read-only.
    chmod -R u+w "$W" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
LOG=$W/log
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "scratch directory $W (command output in $LOG until the end)"

# now: wall-clock seconds with nanoseconds
now() { date +%s.%N; }
# elapsed START: seconds since START
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# timed VAR CMD...: run CMD, append its wall time to the array VAR and its CPU time (user + sys,
# children included) to VAR_CPU. Stdout goes to $TIMED_OUT if set, else to the log. Dirty pages
# of earlier runs are written back first (untimed), so no run pays for another's writeback.
timed() {
    local var=$1 t0 t c
    shift
    sync
    t0=$(now)
    /usr/bin/time -f '%U %S' -o "$W/cpu" "$@" >>"${TIMED_OUT:-$LOG}" 2>>"$LOG" ||
        { log "failed: $*"; tail -20 "$LOG" >&2; exit 1; }
    t=$(elapsed "$t0")
    c=$(awk '{ printf "%.2f", $1 + $2 }' "$W/cpu")
    eval "$var+=($t); ${var}_CPU+=($c)"
    log "  $* : ${t}s wall, ${c}s CPU"
}
quiet() { "$@" >>"$LOG" 2>&1 || { log "failed: $*"; tail -20 "$LOG" >&2; exit 1; }; }

swarm() { "$BIN" --swarm "$W/swarm.toml" "$@"; }
SWARM=("$BIN" --swarm "$W/swarm.toml")

# --- setup -----------------------------------------------------------------------------------
SIZE=$((SIZE_MIB * 1024 * 1024))
FILE=$W/data.bin
log "writing $SIZE_MIB MiB of random data"
head -c "$SIZE" /dev/urandom >"$FILE"

stores=()
for i in $(seq 1 $((K + M))); do
    stores+=(--store "$W/store$i")
done
quiet swarm init --k $K --m $M "${stores[@]}"

# --- cp baseline -----------------------------------------------------------------------------
log "cp ($RUNS runs)"
T_CP=() T_CP_CPU=()
for r in $(seq 1 "$RUNS"); do
    rm -f "$W/copy.bin"
    timed T_CP cp "$FILE" "$W/copy.bin"
done
rm -f "$W/copy.bin"

# --- annex-swarm put -------------------------------------------------------------------------
log "annex-swarm put ($RUNS runs)"
T_PUT=() T_PUT_CPU=()
KEY=
STORED=
for r in $(seq 1 "$RUNS"); do
    if [ -n "$KEY" ]; then
        quiet swarm rm "$KEY"
        quiet swarm gc --grace 0
    fi
    rm -f "$W/key"
    TIMED_OUT=$W/key timed T_PUT "${SWARM[@]}" put "$FILE"
    KEY=$(cat "$W/key")
    log "  key $KEY"
    if [ -z "$STORED" ]; then
        STORED=$(du -sbc "$W"/store* | tail -1 | cut -f1)
    fi
done

# --- annex-swarm get -------------------------------------------------------------------------
log "annex-swarm get ($RUNS runs)"
T_GET=() T_GET_CPU=()
for r in $(seq 1 "$RUNS"); do
    rm -f "$W/restored.bin"
    timed T_GET "${SWARM[@]}" get "$KEY" "$W/restored.bin"
    if [ "$r" -eq 1 ]; then
        cmp "$FILE" "$W/restored.bin" || die "restored file differs from the original"
        log "  restored file matches"
    fi
done
rm -f "$W/restored.bin"

# --- git-annex directory special remote ------------------------------------------------------
log "git-annex directory special remote ($RUNS runs each)"
REPO=$W/repo
mkdir -p "$REPO" "$W/annexdir"
(
    cd "$REPO"
    quiet git init -q
    quiet git config user.name bench
    quiet git config user.email bench@example.invalid
    quiet git annex init bench
    quiet git annex initremote dir type=directory directory="$W/annexdir" encryption=none
    cp "$FILE" "$REPO/data.bin"
    quiet git annex add data.bin
    quiet git commit -q -m data
)
T_GA_COPY=() T_GA_COPY_CPU=()
T_GA_GET=() T_GA_GET_CPU=()
(
    cd "$REPO"
    for r in $(seq 1 "$RUNS"); do
        [ "$r" -gt 1 ] && quiet git annex drop --from dir --force data.bin
        timed T_GA_COPY git annex copy --to dir data.bin
    done
    printf '%s\n' "${T_GA_COPY[@]}" >"$W/t_ga_copy"
    printf '%s\n' "${T_GA_COPY_CPU[@]}" >"$W/t_ga_copy_cpu"
    for r in $(seq 1 "$RUNS"); do
        quiet git annex drop --force data.bin
        timed T_GA_GET git annex get --from dir data.bin
        if [ "$r" -eq 1 ]; then
            cmp "$FILE" data.bin || die "git-annex restored a different file"
        fi
    done
    printf '%s\n' "${T_GA_GET[@]}" >"$W/t_ga_get"
    printf '%s\n' "${T_GA_GET_CPU[@]}" >"$W/t_ga_get_cpu"
)
mapfile -t T_GA_COPY <"$W/t_ga_copy"
mapfile -t T_GA_GET <"$W/t_ga_get"
mapfile -t T_GA_COPY_CPU <"$W/t_ga_copy_cpu"
mapfile -t T_GA_GET_CPU <"$W/t_ga_get_cpu"
GA_STORED=$(du -sb "$W/annexdir" | cut -f1)

# Free the space before the RSS run.
chmod -R u+w "$REPO" "$W/annexdir"
rm -rf "$REPO" "$W/annexdir"
quiet swarm rm "$KEY"
quiet swarm gc --grace 0

# --- peak RSS --------------------------------------------------------------------------------
RSS_PUT=- RSS_GET=- RSS_PUT_S=- RSS_GET_S=-
if [ "$RSS_SIZE_MIB" -gt 0 ]; then
    log "peak RSS with a $RSS_SIZE_MIB MiB file"
    BIG=$W/big.bin
    head -c $((RSS_SIZE_MIB * 1024 * 1024)) /dev/urandom >"$BIG"
    sync
    /usr/bin/time -v -o "$W/rss_put" "$BIN" --swarm "$W/swarm.toml" put "$BIG" >"$W/bigkey" 2>>"$LOG" ||
        die "annex-swarm put of the RSS file failed (see $LOG)"
    BIGKEY=$(cat "$W/bigkey")
    rm -f "$BIG"
    sync
    /usr/bin/time -v -o "$W/rss_get" "$BIN" --swarm "$W/swarm.toml" get "$BIGKEY" "$W/big.out" >>"$LOG" 2>&1 ||
        die "annex-swarm get of the RSS file failed (see $LOG)"
    rm -f "$W/big.out"
    rss() { awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"; }
    wall() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$1"; }
    RSS_PUT=$(rss "$W/rss_put")
    RSS_GET=$(rss "$W/rss_get")
    RSS_PUT_S=$(wall "$W/rss_put")
    RSS_GET_S=$(wall "$W/rss_get")
fi

# --- report ----------------------------------------------------------------------------------
M_CP=$(median "${T_CP[@]}")
M_PUT=$(median "${T_PUT[@]}")
M_GET=$(median "${T_GET[@]}")
M_GA_COPY=$(median "${T_GA_COPY[@]}")
M_GA_GET=$(median "${T_GA_GET[@]}")

mbps() { awk -v b="$SIZE" -v t="$1" 'BEGIN { printf "%.0f", b / 1e6 / t }'; }
# ratio A B: throughput of A relative to B (= time B / time A)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
runs() { local IFS=' '; echo "$*"; }

cat <<EOF

## put/get: $SIZE_MIB MiB file, $K+$M, median of $RUNS runs

$(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(date -u +%Y-%m-%d), load average at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg)

Times are wall clock; CPU is the median user + sys time of the same runs. Ratios are throughput
ratios (wall time of the other / our wall time): above 1 means annex-swarm is faster.

| operation | median s | runs (s) | MB/s | CPU s (user+sys) | ours / git-annex | ours / cp |
|---|---:|---|---:|---:|---:|---:|
| cp (baseline) | $M_CP | $(runs "${T_CP[@]}") | $(mbps "$M_CP") | $(median "${T_CP_CPU[@]}") | | |
| annex-swarm put | $M_PUT | $(runs "${T_PUT[@]}") | $(mbps "$M_PUT") | $(median "${T_PUT_CPU[@]}") | $(ratio "$M_PUT" "$M_GA_COPY") | $(ratio "$M_PUT" "$M_CP") |
| git annex copy --to dir | $M_GA_COPY | $(runs "${T_GA_COPY[@]}") | $(mbps "$M_GA_COPY") | $(median "${T_GA_COPY_CPU[@]}") | | |
| annex-swarm get | $M_GET | $(runs "${T_GET[@]}") | $(mbps "$M_GET") | $(median "${T_GET_CPU[@]}") | $(ratio "$M_GET" "$M_GA_GET") | $(ratio "$M_GET" "$M_CP") |
| git annex get --from dir | $M_GA_GET | $(runs "${T_GA_GET[@]}") | $(mbps "$M_GA_GET") | $(median "${T_GA_GET_CPU[@]}") | | |

| storage | bytes | / file size |
|---|---:|---:|
| annex-swarm stores ($K+$M, target $(awk -v k=$K -v m=$M 'BEGIN { printf "%.3f", (k + m) / k }')) | $STORED | $(awk -v a="$STORED" -v b="$SIZE" 'BEGIN { printf "%.4f", a / b }') |
| git-annex directory remote | $GA_STORED | $(awk -v a="$GA_STORED" -v b="$SIZE" 'BEGIN { printf "%.4f", a / b }') |
EOF
if [ "$RSS_SIZE_MIB" -gt 0 ]; then
    cat <<EOF

| peak RSS ($RSS_SIZE_MIB MiB file) | MiB | wall s |
|---|---:|---:|
| annex-swarm put | $RSS_PUT | $RSS_PUT_S |
| annex-swarm get | $RSS_GET | $RSS_GET_S |
EOF
fi
