#!/usr/bin/env bash
# Torrent download benchmark: `annex-swarm torrent get` against aria2c, from the same three
# loopback seeders (aria2c on 127.0.0.2, .3, .4) behind one opentracker, in the same run.
#
#   bench/torrent.sh                      # 256 MiB, 3 runs each, alternating
#   SIZE_MIB=64 RUNS=5 bench/torrent.sh
#
# Environment:
#   SIZE_MIB      size of the single-file torrent in MiB (default 256)
#   RUNS          timed downloads per client; medians are reported (default 3)
#   PIECE_LOG2    piece size as a power of two (default 20: 1 MiB pieces)
#   BENCH_DIR     parent of the scratch directory (default /tmp); removed at the end
#   SKIP_BUILD=1  use the existing release binary ($CARGO_TARGET_DIR or target/release)
#
# DHT, LPD and PEX are off everywhere; every client downloads into an empty directory and
# checks every piece (SHA-1). Downloads alternate (ours, aria2c, ours, ...) so load changes hit
# both. Needs opentracker, aria2c and mktorrent (scripts/install-torrent-tools.sh).
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-256}
RUNS=${RUNS:-3}
PIECE_LOG2=${PIECE_LOG2:-20}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release/annex-swarm

log() { printf '[torrent] %s\n' "$*" >&2; }

"$ROOT/scripts/install-torrent-tools.sh"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building annex-swarm (release)"
    (cd "$ROOT" && cargo build --release -p annex-swarm >&2)
fi

SCRATCH=$(mktemp -d "${BENCH_DIR:-/tmp}/annex-swarm-torrent-bench.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$SCRATCH/seed" "$SCRATCH/tracker"
head -c $((SIZE_MIB << 20)) /dev/urandom > "$SCRATCH/seed/payload.bin"
TPORT=$(free_port)
mktorrent -a "http://127.0.0.1:$TPORT/announce" -l "$PIECE_LOG2" -o "$SCRATCH/payload.torrent" \
    "$SCRATCH/seed/payload.bin" >/dev/null
HASH=$(python3 - "$SCRATCH/payload.torrent" <<'EOF'
import hashlib, sys
b = open(sys.argv[1], 'rb').read()
def skip(i):
    c = b[i:i+1]
    if c == b'i': return b.index(b'e', i) + 1
    if c in (b'l', b'd'):
        i += 1
        while b[i:i+1] != b'e': i = skip(i)
        return i + 1
    j = b.index(b':', i); return j + 1 + int(b[i:j])
i = 1
while b[i:i+1] != b'e':
    j = b.index(b':', i); key = b[j+1:j+1+int(b[i:j])]; v = j + 1 + int(b[i:j]); end = skip(v)
    if key == b'info': print(hashlib.sha1(b[v:end]).hexdigest()); break
    i = end
EOF
)
echo "$HASH" > "$SCRATCH/tracker/whitelist"
opentracker -i 127.0.0.1 -p "$TPORT" -P "$TPORT" -d "$SCRATCH/tracker" -w whitelist \
    > "$SCRATCH/tracker.log" 2>&1 &
PIDS+=($!)
for ip in 127.0.0.2 127.0.0.3 127.0.0.4; do
    aria2c --dir="$SCRATCH/seed" --seed-ratio=0.0 --bt-seed-unverified=true \
        --enable-dht=false --enable-dht6=false --disable-ipv6=true --bt-enable-lpd=false \
        --enable-peer-exchange=false --summary-interval=0 --bt-tracker-interval=1 \
        --listen-port="$(free_port)" --interface="$ip" "$SCRATCH/payload.torrent" \
        > "$SCRATCH/seeder-$ip.log" 2>&1 &
    PIDS+=($!)
done
# Ready once the tracker counts three seeders.
escaped=$(echo "$HASH" | sed 's/../%&/g')
for _ in $(seq 1 150); do
    if curl -s "http://127.0.0.1:$TPORT/scrape?info_hash=$escaped" | grep -q '8:completei3e'; then
        break
    fi
    sleep 0.2
done

ours=(); theirs=()
for run in $(seq 1 "$RUNS"); do
    out="$SCRATCH/ours-$run"
    start=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$SCRATCH/rss-$run" \
        "$BIN" torrent get "$SCRATCH/payload.torrent" --out "$out" --no-dht --listen 127.0.0.1:0 >/dev/null
    end=$(date +%s.%N)
    cmp -s "$out/payload.bin" "$SCRATCH/seed/payload.bin" || { log "ours: content differs"; exit 1; }
    ours+=("$(echo "$end - $start" | bc)")
    rm -rf "$out"

    out="$SCRATCH/aria2c-$run"
    start=$(date +%s.%N)
    aria2c --dir="$out" --seed-time=0 --enable-dht=false --enable-dht6=false --disable-ipv6=true \
        --bt-enable-lpd=false --enable-peer-exchange=false --summary-interval=0 \
        --console-log-level=error --interface=127.0.0.5 --listen-port="$(free_port)" \
        --file-allocation=none "$SCRATCH/payload.torrent" >/dev/null
    end=$(date +%s.%N)
    cmp -s "$out/payload.bin" "$SCRATCH/seed/payload.bin" || { log "aria2c: content differs"; exit 1; }
    theirs+=("$(echo "$end - $start" | bc)")
    rm -rf "$out"
    log "run $run: ours ${ours[-1]} s (peak RSS $(cat "$SCRATCH/rss-$run") KiB), aria2c ${theirs[-1]} s"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
m_ours=$(median "${ours[@]}")
m_theirs=$(median "${theirs[@]}")
printf 'size %d MiB, %d runs, 3 seeders\n' "$SIZE_MIB" "$RUNS"
printf 'annex-swarm torrent get  median %6.2f s  %7.1f MB/s\n' "$m_ours" "$(echo "$SIZE_MIB * 1.048576 / $m_ours" | bc -l)"
printf 'aria2c                   median %6.2f s  %7.1f MB/s\n' "$m_theirs" "$(echo "$SIZE_MIB * 1.048576 / $m_theirs" | bc -l)"
printf 'ratio (ours / aria2c)    %.2f\n' "$(echo "$m_ours / $m_theirs" | bc -l)"
printf 'peak RSS of ours         %d MiB (largest of the runs)\n' "$(( $(cat "$SCRATCH"/rss-* | sort -n | tail -1) / 1024 ))"
