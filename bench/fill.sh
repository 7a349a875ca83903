#!/usr/bin/env bash
# A new node fills (issue 13): four nodes hold a file whole (`full_copies`), each capped at its
# own upload rate (10, 10, 20 and 40 MiB/s by default); a fifth node joins as a holder and pulls
# its copy from all four at once through the scheduler. Measured: its speed against the sum of
# the caps, and each holder's share of the bytes against its share of the caps.
#
#   bench/fill.sh                          # 512 MiB, 3 runs
#   SIZE_MIB=256 RUNS=5 CAPS="10 10 20 40" bench/fill.sh
#
# Environment:
#   SIZE_MIB     size of the file in MiB (default 512)
#   RUNS         fills timed; medians reported (default 3)
#   CAPS         the four holders' upload rates in MiB/s (default "10 10 20 40")
#   BENCH_DIR    parent of the scratch directory (default /tmp); removed at the end
#   SKIP_BUILD=1 use the existing target/release/annex-swarm
#   KEEP=1       keep the scratch directory (its `log` has the nodes' stderr)
#
# k = 2, m = 2, 4 MiB shards. The four holders are filled without caps first (a super-seeded
# put, then their own exchange), then restarted with their caps; each run starts the fifth node
# on an empty store and polls its /status.json until it holds the key whole (after the holders,
# restarted under the five-node definition, have made their new slots of its spread). Shares come from
# the holders' traffic counters (bytes their reads served). One machine, one disk, warm page
# cache: the caps, enforced by the nodes, are the links.
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-512}
RUNS=${RUNS:-3}
read -r -a CAP <<<"${CAPS:-10 10 20 40}"
[ "${#CAP[@]}" = 4 ] || { echo "CAPS needs four rates" >&2; exit 1; }
NODES=5

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/target/release/annex-swarm
BENCH=fill
. "$ROOT/bench/common.sh"

release_binary

W=$(mktemp -d "${BENCH_DIR:-/tmp}/annex-swarm-fill.XXXXXX")
declare -A PID
stop() { local i=$1; [ -n "${PID[$i]:-}" ] && { kill "${PID[$i]}" 2>/dev/null || true; wait "${PID[$i]}" 2>/dev/null || true; }; PID[$i]=""; }
stop_all() { for i in $(seq 0 $((NODES - 1))); do stop "$i"; done; }
cleanup() { stop_all; [ "${KEEP:-0}" = 1 ] || rm -rf "$W"; }
trap cleanup EXIT
LOG=$W/log
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "scratch directory $W"

member_keys "$NODES"

# definition N CAPPED: the first N nodes, all holders; CAPPED=1 gives the first four their caps.
definition() {
    local n=$1 capped=$2
    printf 'format = 2\nswarm = "%s"\nversion = 1\n\n[coding]\nk = 2\nm = 2\nfull_copies = %s\nshard_size = "4MiB"\n' "$SWARM_ID" "$n"
    for i in $(seq 0 $((n - 1))); do
        printf '\n[[node]]\nname = "n%s"\nkey = "%s"\naddrs = ["127.0.0.1:%s"]\nstore = "%s"\n' \
            "$i" "${IDS[$i]}" "${PORTS[$i]}" "$W/node$i-store"
        if [ "$capped" = 1 ] && [ "$i" -lt 4 ]; then printf 'upload_rate = "%sMiB"\n' "${CAP[$i]}"; fi
    done
    printf '\n[[client]]\nname = "bench"\nkey = "%s"\nrole = "write"\n' "$CLIENT"
    for i in $(seq 0 $((n - 1))); do
        printf '\n[[store]]\nid = "n%s"\nurl = "peer://%s"\n' "$i" "${IDS[$i]}"
    done
}
definition 4 0 >"$W/four.toml"
definition 5 1 >"$W/five.toml"

STATUS=()
# start I DEF: node I from its own copy of DEF, rounds every second, its status page in STATUS[I].
start() {
    local i=$1
    cp "$2" "$W/node$i.toml"
    "$BIN" --swarm "$W/node$i.toml" node run --key "$W/node$i.key" \
        --status 127.0.0.1:0 --replicate-every 1s >"$W/node$i.out" 2>>"$LOG" &
    PID[$i]=$!
    for _ in $(seq 300); do
        grep -q 'status page on' "$W/node$i.out" 2>/dev/null && break
        sleep 0.1
    done
    STATUS[$i]=$(sed -n 's|^status page on http://\([^/]*\)/.*|\1|p' "$W/node$i.out")
    [ -n "${STATUS[$i]}" ] || die "node $i did not start (see $LOG)"
}

# whole I...: waits until each node holds one key whole.
whole() {
    local addrs=()
    for i in "$@"; do addrs+=("${STATUS[$i]}"); done
    python3 - "${addrs[@]}" <<'EOF'
import json, sys, time, urllib.request
addrs = sys.argv[1:]
deadline = time.time() + 3600
while not all(json.load(urllib.request.urlopen(f"http://{a}/status.json"))["replication"]["full_copies_held"] >= 1 for a in addrs):
    if time.time() > deadline:
        sys.exit("not whole within an hour")
    time.sleep(0.05)
EOF
}

# settle I...: until the nodes' own fetches stop (none for 2 s): the holders restarted under the
# five-node definition first make their slots of its spread, which is not the fill measured.
settle() {
    local addrs=()
    for i in "$@"; do addrs+=("${STATUS[$i]}"); done
    python3 - "${addrs[@]}" <<'EOF'
import json, sys, time, urllib.request
addrs = sys.argv[1:]
fetched = lambda: sum(json.load(urllib.request.urlopen(f"http://{a}/status.json"))["traffic"]["fetched"] for a in addrs)
last, since, deadline = fetched(), time.time(), time.time() + 600
while time.time() - since < 2:
    if time.time() > deadline:
        sys.exit("the holders did not settle within 10 minutes")
    time.sleep(0.25)
    now = fetched()
    if now != last:
        last, since = now, time.time()
EOF
}

served() { python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(f"http://{sys.argv[1]}/status.json"))["traffic"]["served_out"])' "${STATUS[$1]}"; }

FILE=$W/data.bin
log "writing $SIZE_MIB MiB of random data"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$FILE"

log "filling the four holders (no caps)"
for i in 0 1 2 3; do start "$i" "$W/four.toml"; done
"$BIN" --swarm "$W/four.toml" put "$FILE" >>"$LOG" 2>&1 || die "put failed (see $LOG)"
whole 0 1 2 3
stop_all
for i in 0 1 2 3; do start "$i" "$W/five.toml"; done
log "letting the holders make their slots of the five-node spread"
settle 0 1 2 3

T=() RATIO=() RSS=()
SH0=() SH1=() SH2=() SH3=()
SUM=$(( CAP[0] + CAP[1] + CAP[2] + CAP[3] ))
for r in $(seq 1 "$RUNS"); do
    before=()
    for i in 0 1 2 3; do before+=("$(served "$i")"); done
    rm -rf "$W/node4-store"
    t0=$(now)
    start 4 "$W/five.toml"
    whole 4
    t=$(elapsed "$t0")
    RSS+=("$(awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/${PID[4]}/status")")
    stop 4
    after=()
    for i in 0 1 2 3; do after+=("$(served "$i")"); done
    total=0
    for i in 0 1 2 3; do total=$(( total + after[i] - before[i] )); done
    ratio=$(awk -v s="$SIZE_MIB" -v t="$t" -v c="$SUM" 'BEGIN { printf "%.3f", (s / t) / c }')
    T+=("$t") RATIO+=("$ratio")
    line="  run $r: ${t}s, $(awk -v s="$SIZE_MIB" -v t="$t" 'BEGIN { printf "%.1f", s / t }') MiB/s = $ratio of $SUM MiB/s; shares:"
    for i in 0 1 2 3; do
        share=$(awk -v d=$(( after[i] - before[i] )) -v tot="$total" -v c="${CAP[$i]}" -v sum="$SUM" \
            'BEGIN { printf "%.3f", (d / tot) / (c / sum) }')
        eval "SH$i+=(\"$share\")"
        line+=" n$i ${share}x"
    done
    log "$line (of its cap's share); peak RSS ${RSS[-1]} MiB"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

printf '\n## fill: a new node pulls %d MiB from holders capped at %s MiB/s (sum %d), median of %d (load %s -> %s)\n\n' \
    "$SIZE_MIB" "${CAP[*]}" "$SUM" "$RUNS" "$LOAD_START" "$LOAD_END"
printf '| fill time (s) | MiB/s | of the sum | n0 share / cap share | n1 | n2 | n3 | new node peak RSS (MiB) |\n|---|---|---|---|---|---|---|---|\n'
M=$(median "${T[@]}")
printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$M" "$(awk -v s="$SIZE_MIB" -v t="$M" 'BEGIN { printf "%.1f", s / t }')" \
    "$(median "${RATIO[@]}")" "$(median "${SH0[@]}")" "$(median "${SH1[@]}")" "$(median "${SH2[@]}")" "$(median "${SH3[@]}")" \
    "$(printf '%s\n' "${RSS[@]}" | sort -g | tail -1)"
