#!/usr/bin/env bash
# Super-seeding puts (issue 13): a client puts a file to four nodes with `full_copies = 4` and
# leaves; the nodes make the parity and their four full copies among themselves. Measured
# against `put --all-shards` (the client writes every shard itself, as before), same file,
# same nodes, runs interleaved.
#
#   bench/superseed.sh                     # 256 MiB, 5 runs of each
#   SIZE_MIB=64 RUNS=3 bench/superseed.sh
#
# Environment:
#   SIZE_MIB     size of the file in MiB (default 256)
#   RUNS         runs of each kind; medians are reported (default 5)
#   RATE_MIB     when set, each node's upload_rate and download_rate, MiB/s (default: none)
#   BENCH_DIR    parent of the scratch directory (default /tmp); removed at the end
#   SKIP_BUILD=1 use the existing target/release/annex-swarm
#
# Each run starts four fresh nodes (k = 2, m = 2, full_copies = 4, 4 MiB shards, timed rounds
# every 10 minutes: what happens is started by the put's manifests), puts the file, and polls
# every node's /status.json until all four hold the key whole and `fsck` finds every shard.
# Reported per kind: the client's put time and bytes sent (its report's shard bytes), the time
# until four full copies and full health, and the most any node received (its traffic
# counters: writes served plus its own fetches).
# Everything is on one machine and one disk with a warm page cache; the links are loopback
# (RATE_MIB caps what nodes serve and are written, not the client's own link, and not tc).
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-256}
RUNS=${RUNS:-5}
RATE_MIB=${RATE_MIB:-}
NODES=4

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/target/release/annex-swarm
BENCH=superseed
. "$ROOT/bench/common.sh"

release_binary

W=$(mktemp -d "${BENCH_DIR:-/tmp}/annex-swarm-superseed.XXXXXX")
PIDS=()
stop_nodes() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}
cleanup() { stop_nodes; [ "${KEEP:-0}" = 1 ] || rm -rf "$W"; }
trap cleanup EXIT
LOG=$W/log
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "scratch directory $W"

member_keys "$NODES"
{
    printf 'format = 2\nswarm = "%s"\nversion = 1\n\n[coding]\nk = 2\nm = 2\nfull_copies = 4\nshard_size = "4MiB"\n' "$SWARM_ID"
    for i in $(seq 0 $((NODES - 1))); do
        printf '\n[[node]]\nname = "n%s"\nkey = "%s"\naddrs = ["127.0.0.1:%s"]\nstore = "%s"\n' \
            "$i" "${IDS[$i]}" "${PORTS[$i]}" "$W/node$i-store"
        [ -n "$RATE_MIB" ] && printf 'upload_rate = "%sMiB"\ndownload_rate = "%sMiB"\n' "$RATE_MIB" "$RATE_MIB"
    done
    printf '\n[[client]]\nname = "bench"\nkey = "%s"\nrole = "write"\n' "$CLIENT"
    for i in $(seq 0 $((NODES - 1))); do
        printf '\n[[store]]\nid = "n%s"\nurl = "peer://%s"\n' "$i" "${IDS[$i]}"
    done
} >"$W/swarm.toml"

# start_nodes: four fresh nodes (empty stores), their status pages in STATUS[i].
STATUS=()
start_nodes() {
    STATUS=()
    for i in $(seq 0 $((NODES - 1))); do
        rm -rf "$W/node$i-store"
        cp "$W/swarm.toml" "$W/node$i.toml"
        "$BIN" --swarm "$W/node$i.toml" ${NODE_ARGS:-} node run --key "$W/node$i.key" \
            --status 127.0.0.1:0 --replicate-every 600s >"$W/node$i.out" 2>>"$LOG" &
        PIDS+=($!)
    done
    for i in $(seq 0 $((NODES - 1))); do
        for _ in $(seq 300); do
            grep -q 'status page on' "$W/node$i.out" 2>/dev/null && break
            sleep 0.1
        done
        STATUS+=("$(sed -n 's|^status page on http://\([^/]*\)/.*|\1|p' "$W/node$i.out")")
        [ -n "${STATUS[$i]}" ] || die "node $i did not start (see $LOG)"
    done
}

# until_whole: waits until every node holds the key whole; prints the most bytes any node
# received.
until_whole() {
    python3 - "${STATUS[@]}" <<'EOF'
import json, sys, time, urllib.request
addrs = sys.argv[1:]
deadline = time.time() + 3600
while True:
    st = [json.load(urllib.request.urlopen(f"http://{a}/status.json")) for a in addrs]
    if all(s["replication"]["full_copies_held"] >= 1 for s in st):
        print(max(s["traffic"]["received"] for s in st))
        break
    if time.time() > deadline:
        sys.exit("not whole within an hour")
    time.sleep(0.05)
EOF
}

healthy() {
    "$BIN" --swarm "$W/swarm.toml" fsck --json "$KEY" 2>>"$LOG" | python3 -c '
import json, sys
v = json.load(sys.stdin)
k = v[0] if isinstance(v, list) else v
sys.exit(0 if k["shards_healthy"] == k["shards_expected"] else 1)'
}

FILE=$W/data.bin
log "writing $SIZE_MIB MiB of random data"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$FILE"
BYTES=$((SIZE_MIB * 1024 * 1024))

# one LABEL [PUT ARGS]: a run: put, then wait for four copies and full health.
one() {
    local label=$1 t0 put_t whole_t health_t report sent recv
    shift
    start_nodes
    t0=$(now)
    report=$("$BIN" --swarm "$W/swarm.toml" put --json "$@" "$FILE" 2>>"$LOG") || die "$label put failed (see $LOG)"
    put_t=$(elapsed "$t0")
    KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["key"])' "$report")
    sent=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["bytes_written"])' "$report")
    recv=$(until_whole)
    whole_t=$(elapsed "$t0")
    until healthy; do sleep 0.1; done
    health_t=$(elapsed "$t0")
    stop_nodes
    local -n a_put=P_$label a_whole=H_$label a_health=F_$label a_sent=S_$label a_recv=R_$label
    a_put+=("$put_t") a_whole+=("$whole_t") a_health+=("$health_t")
    a_sent+=("$(awk -v s="$sent" -v b="$BYTES" 'BEGIN { printf "%.3f", s / b }')")
    a_recv+=("$(awk -v s="$recv" -v b="$BYTES" 'BEGIN { printf "%.3f", s / b }')")
    log "  $label: put ${put_t}s, four copies ${whole_t}s, healthy ${health_t}s, client sent $sent, most a node received $recv"
}

P_seed=() H_seed=() F_seed=() S_seed=() R_seed=()
P_all=() H_all=() F_all=() S_all=() R_all=()
for r in $(seq 1 "$RUNS"); do
    log "run $r of $RUNS"
    [ "${SKIP_SEED:-0}" = 1 ] || one seed
    one all --all-shards
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

row() {
    local label=$1 name=$2
    local -n a_put=P_$label a_whole=H_$label a_health=F_$label a_sent=S_$label a_recv=R_$label
    printf '| %s | %s | %s | %s | %sx | %sx |\n' "$name" "$(median "${a_put[@]}")" \
        "$(median "${a_whole[@]}")" "$(median "${a_health[@]}")" "$(median "${a_sent[@]}")" \
        "$(median "${a_recv[@]}")"
}
printf '\n## superseed: %d MiB, 4 nodes, k = 2, m = 2, full_copies = 4, rates %s, median of %d (load %s -> %s)\n\n' \
    "$SIZE_MIB" "${RATE_MIB:-unlimited}${RATE_MIB:+ MiB/s}" "$RUNS" "$LOAD_START" "$LOAD_END"
printf '| put | put returns (s) | four full copies (s) | fully healthy (s) | client sent / size | most a node received / size |\n|---|---|---|---|---|---|\n'
row seed "super-seeded (data shards; nodes make the rest)"
row all "put --all-shards (baseline)"
awk -v a="$(median "${S_seed[@]}")" -v b="$(median "${S_all[@]}")" \
    -v c="$(median "${H_seed[@]}")" -v d="$(median "${H_all[@]}")" \
    'BEGIN { printf "\nclient bytes: %.2f of the baseline; time to four copies: %.2f of the baseline\n", a / b, c / d }'
