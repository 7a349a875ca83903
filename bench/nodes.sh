#!/usr/bin/env bash
# Swarm nodes (issue 12): a get from four node processes, each capped by its own upload rate,
# against the sum of the caps; and peer stores on loopback without limits against local
# directory stores, same file, same run.
#
#   bench/nodes.sh                          # 256 MiB, 5 runs, caps of 20 MiB/s
#   SIZE_MIB=128 RUNS=3 RATE_MIB=20 bench/nodes.sh
#
# Environment:
#   SIZE_MIB     size of the file in MiB (default 256)
#   RUNS         timed gets per swarm; medians are reported (default 5)
#   RATE_MIB     each node's upload_rate in the capped runs, MiB/s (default 20)
#   BENCH_DIR    parent of the scratch directory (default /tmp); removed at the end
#   SKIP_BUILD=1 use the existing target/release/annex-swarm
#
# Three swarms hold the same file, each k = 3, m = 1 over four stores, 4 MiB shards:
#   local   four local directories (the baseline)
#   peers   four `annex-swarm node run` processes on 127.0.0.1, no limits
#   capped  the same four nodes restarted with `upload_rate = RATE_MIB MiB` in their [[node]]
# Everything is on one machine and one disk with a warm page cache: the figures compare the
# node path (QUIC, framing, the node's reads) with direct file reads, and check that the
# scheduler fills four rate-limited links.
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-256}
RUNS=${RUNS:-5}
RATE_MIB=${RATE_MIB:-20}
NODES=4

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/target/release/annex-swarm
BENCH=nodes
. "$ROOT/bench/common.sh"

release_binary

W=$(mktemp -d "${BENCH_DIR:-/tmp}/annex-swarm-nodes.XXXXXX")
PIDS=()
stop_nodes() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}
cleanup() { stop_nodes; rm -rf "$W"; }
trap cleanup EXIT
LOG=$W/log
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "scratch directory $W"

quiet() { "$@" >>"$LOG" 2>&1 || { log "failed: $*"; tail -20 "$LOG" >&2; exit 1; }; }

# --- keys, ports, definitions ----------------------------------------------------------------
member_keys "$NODES"

# definition RATE: the node swarm, each node capped at RATE (empty: no cap).
definition() {
    printf 'format = 2\nswarm = "%s"\nversion = 1\n\n[coding]\nk = 3\nm = 1\nshard_size = "4MiB"\n' "$SWARM_ID"
    for i in $(seq 0 $((NODES - 1))); do
        printf '\n[[node]]\nname = "n%s"\nkey = "%s"\naddrs = ["127.0.0.1:%s"]\nstore = "%s"\n' \
            "$i" "${IDS[$i]}" "${PORTS[$i]}" "$W/node$i-store"
        [ -n "$1" ] && printf 'upload_rate = "%s"\n' "$1"
    done
    printf '\n[[client]]\nname = "bench"\nkey = "%s"\nrole = "write"\n' "$CLIENT"
    for i in $(seq 0 $((NODES - 1))); do
        printf '\n[[store]]\nid = "n%s"\nurl = "peer://%s"\n' "$i" "${IDS[$i]}"
    done
}
definition "" >"$W/peers.toml"
definition "${RATE_MIB}MiB" >"$W/capped.toml"

# start_nodes DEF: the four nodes, each from its own copy of DEF, once each listens.
start_nodes() {
    for i in $(seq 0 $((NODES - 1))); do
        cp "$1" "$W/node$i.toml"
        "$BIN" --swarm "$W/node$i.toml" node run --key "$W/node$i.key" \
            >"$W/node$i.out" 2>>"$LOG" &
        PIDS+=($!)
    done
    for i in $(seq 0 $((NODES - 1))); do
        for _ in $(seq 300); do
            grep -q 'listening on' "$W/node$i.out" 2>/dev/null && break
            sleep 0.1
        done
        grep -q 'listening on' "$W/node$i.out" || die "node $i did not start (see $LOG)"
    done
}

# --- data ------------------------------------------------------------------------------------
FILE=$W/data.bin
log "writing $SIZE_MIB MiB of random data"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$FILE"

quiet "$BIN" --swarm "$W/local.toml" init --k 3 --m 1 --shard-size 4MiB \
    --store "$W/l0" --store "$W/l1" --store "$W/l2" --store "$W/l3"
KEY=$("$BIN" --swarm "$W/local.toml" put "$FILE")

start_nodes "$W/peers.toml"
NKEY=$("$BIN" --swarm "$W/peers.toml" put "$FILE")
[ "$NKEY" = "$KEY" ] || die "the two puts gave different keys"

# gets DEF LABEL: RUNS timed gets through DEF into the array T_LABEL, the first compared.
gets() {
    local def=$1 label=$2 t0 t
    local -n times=T_$label
    times=()
    for r in $(seq 1 "$RUNS"); do
        rm -f "$W/out.bin"
        t0=$(now)
        "$BIN" --swarm "$def" get "$KEY" "$W/out.bin" >>"$LOG" 2>&1 || die "$label get failed (see $LOG)"
        t=$(elapsed "$t0")
        times+=("$t")
        [ "$r" -eq 1 ] && { cmp -s "$FILE" "$W/out.bin" || die "$label: restored bytes differ"; }
        log "  $label get $r: ${t}s"
    done
}

# Interleave the baselines with the measured runs: local, peers (nodes unlimited), then the
# nodes restarted with their caps.
T_local=() T_peers=() T_capped=()
log "get, $RUNS runs each"
gets "$W/local.toml" local
gets "$W/peers.toml" peers
stop_nodes
start_nodes "$W/capped.toml"
gets "$W/capped.toml" capped
stop_nodes

M_LOCAL=$(median "${T_local[@]}")
M_PEERS=$(median "${T_peers[@]}")
M_CAPPED=$(median "${T_capped[@]}")
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

awk -v size="$SIZE_MIB" -v rate="$RATE_MIB" -v n="$NODES" -v runs="$RUNS" \
    -v l="$M_LOCAL" -v p="$M_PEERS" -v c="$M_CAPPED" -v la="$LOAD_START" -v lb="$LOAD_END" '
BEGIN {
    printf "\n## nodes: %d MiB, k = 3, m = 1, 4 MiB shards, median of %d gets (load %s -> %s)\n\n", size, runs, la, lb
    printf "| swarm | get (s) | MiB/s | ratio |\n|---|---|---|---|\n"
    printf "| four local directories | %.3f | %.1f | 1.00 (baseline) |\n", l, size / l
    printf "| four nodes on loopback, no limits | %.3f | %.1f | %.2f of local time |\n", p, size / p, p / l
    printf "| four nodes, each upload_rate %d MiB/s | %.3f | %.1f | %.2f of the sum (%d MiB/s) |\n", rate, c, size / c, (size / c) / (n * rate), n * rate
}'
