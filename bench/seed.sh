#!/usr/bin/env bash
# Seeding benchmark (issue 14): `annex-swarm seed` (pieces read from a swarm of local directory
# stores, no local copy) against librqbit seeding the same file from disk (`annex-swarm torrent
# seed`, the same librqbit session code with its file storage), each uploading the same torrent
# to one libtorrent client (PyPI), in the same run, alternating.
#
#   bench/seed.sh                            # 256 MiB, 5 runs each
#   SIZE_MIB=64 RUNS=3 SKIP_BUILD=1 bench/seed.sh
#   RSS_MIB=1024 SKIP_BUILD=1 bench/seed.sh  # also: our seeder's peak RSS seeding a 1 GiB object
#
# Environment:
#   SIZE_MIB      object size in MiB (default 256)
#   RUNS          timed downloads from each seeder; medians are reported (default 5)
#   RSS_MIB       when set, one more run seeding an object of this size under /usr/bin/time -v
#   CACHE         our seeder's --cache (default: its own, 64MiB)
#   STORES, K, M  the swarm: STORES local directory stores, K + M coding (default 6, 4, 2;
#                 init's default shard size, 1 MiB, so chunks of about 4 MiB)
#   BENCH_DIR     parent of the scratch directory (default /tmp); removed at the end
#   SKIP_BUILD=1  use the existing release binary ($CARGO_TARGET_DIR or target/release)
#
# Every peer is on its own loopback address (seeders on 127.0.0.2 and .3, the client on .4),
# DHT, LSD, UPnP, PEX and uTP off, no tracker (the client dials the seeder). Each timed run
# starts a fresh seeder, so ours starts with an empty chunk cache; the client downloads into an
# empty directory and checks every piece (SHA-1), and the content is compared.
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-256}
RUNS=${RUNS:-5}
STORES=${STORES:-6}
K=${K:-4}
M=${M:-2}
CACHE_ARGS=()
[ -n "${CACHE:-}" ] && CACHE_ARGS=(--cache "$CACHE")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release/annex-swarm
TOOLS="${ANNEX_SWARM_TEST_TOOLS:-$HOME/.cache/annex-swarm-test-tools}"
PY=$TOOLS/torrent-venv/bin/python
FETCH=$ROOT/crates/swarm-testservers/src/lt_fetch.py

log() { printf '[seed] %s\n' "$*" >&2; }

"$ROOT/scripts/install-torrent-tools.sh"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building annex-swarm (release)"
    (cd "$ROOT" && cargo build --release -p annex-swarm >&2)
fi

SCRATCH=$(mktemp -d "${BENCH_DIR:-/tmp}/annex-swarm-seed-bench.XXXXXX")
SEEDER=
cleanup() {
    [ -n "$SEEDER" ] && kill "$SEEDER" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# A swarm of local stores holding one object of $1 MiB; sets KEY, and $SCRATCH/seed/payload.bin
# is the original, $SCRATCH/annexed/payload.bin an annexed symlink to its key.
make_swarm() {
    local mib=$1
    rm -rf "$SCRATCH/swarm" "$SCRATCH/seed" "$SCRATCH/annexed" "$SCRATCH/torrents"
    mkdir -p "$SCRATCH/swarm" "$SCRATCH/seed" "$SCRATCH/annexed" "$SCRATCH/torrents"
    local args=()
    for i in $(seq 1 "$STORES"); do args+=(--store "$SCRATCH/swarm/store$i"); done
    "$BIN" --swarm "$SCRATCH/swarm/swarm.toml" init --k "$K" --m "$M" "${args[@]}" >/dev/null
    head -c $((mib << 20)) /dev/urandom > "$SCRATCH/seed/payload.bin"
    KEY=$("$BIN" --swarm "$SCRATCH/swarm/swarm.toml" put "$SCRATCH/seed/payload.bin")
    ln -s ".git/annex/objects/Xx/Yy/$KEY/$KEY" "$SCRATCH/annexed/payload.bin"
}

# Starts a seeder (the rest of the arguments: its command), waits for its `seeding` line;
# sets SEEDER, LINE.
start_seeder() {
    local out=$1; shift
    "$@" > "$out" 2> "$out.err" &
    SEEDER=$!
    for _ in $(seq 1 600); do
        LINE=$(grep -m1 '"event":"seeding"' "$out" || true)
        [ -n "$LINE" ] && return 0
        kill -0 "$SEEDER" 2>/dev/null || { log "seeder died: $(cat "$out.err")"; exit 1; }
        sleep 0.1
    done
    log "seeder not ready: $(cat "$out.err")"; exit 1
}

stop_seeder() {
    kill -INT "$SEEDER"
    wait "$SEEDER" || { log "seeder exited with $?: $(cat "$1.err")"; exit 1; }
    SEEDER=
}

# Downloads the magnet $1 from peer $2 with libtorrent; prints seconds.
fetch() {
    local dir=$SCRATCH/client
    rm -rf "$dir"; mkdir -p "$dir"
    local report
    report=$("$PY" "$FETCH" 127.0.0.4 "$1" "$dir" "$2" 600)
    cmp -s "$dir/payload.bin" "$SCRATCH/seed/payload.bin" || { log "content differs"; exit 1; }
    rm -rf "$dir"
    json_field "$report" seconds
}

make_swarm "$SIZE_MIB"
ours=(); theirs=(); ratios=()
for run in $(seq 1 "$RUNS"); do
    port=$(free_port)
    start_seeder "$SCRATCH/ours.out" "$BIN" --swarm "$SCRATCH/swarm/swarm.toml" seed \
        "$SCRATCH/annexed/payload.bin" --torrent-out "$SCRATCH/torrents" --no-dht \
        --listen "127.0.0.2:$port" --json --status-every 0 "${CACHE_ARGS[@]}"
    magnet=$(json_field "$LINE" magnet)
    ours+=("$(fetch "$magnet" "127.0.0.2:$port")")
    stop_seeder "$SCRATCH/ours.out"
    stopped=$(grep '"event":"stopped"' "$SCRATCH/ours.out")
    ratios+=("$(python3 -c 'import json,sys; t=json.loads(sys.argv[1])["torrents"][0]; print("%.3f" % (t["swarm_read"]/max(t["uploaded"],1)))' "$stopped")")

    port=$(free_port)
    start_seeder "$SCRATCH/disk.out" "$BIN" torrent seed "$SCRATCH/torrents/$KEY.torrent" \
        --dir "$SCRATCH/seed" --no-dht --listen "127.0.0.3:$port" --json
    theirs+=("$(fetch "$magnet" "127.0.0.3:$port")")
    stop_seeder "$SCRATCH/disk.out"
    log "run $run: from the swarm ${ours[-1]} s (read/uploaded ${ratios[-1]}), from disk ${theirs[-1]} s"
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
m_ours=$(median "${ours[@]}")
m_theirs=$(median "${theirs[@]}")
printf 'size %d MiB, %d runs, swarm %d stores %d+%d, cache %s, one libtorrent client\n' "$SIZE_MIB" "$RUNS" "$STORES" "$K" "$M" "${CACHE:-64MiB}"
printf 'annex-swarm seed (swarm)     median %6.2f s  %7.1f MB/s\n' "$m_ours" "$(echo "$SIZE_MIB * 1.048576 / $m_ours" | bc -l)"
printf 'torrent seed (librqbit disk) median %6.2f s  %7.1f MB/s\n' "$m_theirs" "$(echo "$SIZE_MIB * 1.048576 / $m_theirs" | bc -l)"
printf 'speed ratio (swarm / disk)   %.2f\n' "$(echo "$m_theirs / $m_ours" | bc -l)"
printf 'swarm bytes read / uploaded  median %s (runs: %s)\n' "$(median "${ratios[@]}")" "${ratios[*]}"

if [ -n "${RSS_MIB:-}" ]; then
    log "peak RSS: seeding a $RSS_MIB MiB object to one client"
    make_swarm "$RSS_MIB"
    port=$(free_port)
    start_seeder "$SCRATCH/rss.out" /usr/bin/time -v -o "$SCRATCH/rss.time" \
        "$BIN" --swarm "$SCRATCH/swarm/swarm.toml" seed "$SCRATCH/annexed/payload.bin" \
        --torrent-out "$SCRATCH/torrents" --no-dht --listen "127.0.0.2:$port" --json --status-every 0 \
        "${CACHE_ARGS[@]}"
    t=$(fetch "$(json_field "$LINE" magnet)" "127.0.0.2:$port")
    # SIGINT to the seeder, not to time(1).
    kill -INT $(pgrep -P "$SEEDER") || true
    wait "$SEEDER" || true
    SEEDER=
    hash_s=$(json_field "$LINE" hash_seconds)
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$SCRATCH/rss.time")
    stopped=$(grep '"event":"stopped"' "$SCRATCH/rss.out" || true)
    printf '%d MiB object: hashed in %.1f s, uploaded in %.1f s, seeder peak RSS %d MiB; %s\n' \
        "$RSS_MIB" "$hash_s" "$t" $((rss / 1024)) "$stopped"
fi
