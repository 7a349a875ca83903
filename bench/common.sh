# Shared by the node benchmarks (sourced, not run): messages, timing, medians, loopback ports.
# The sourcing script sets BENCH (its name, for messages) first.

log() { printf '[%s] %s\n' "$BENCH" "$*" >&2; }
die() { log "error: $*"; exit 1; }

now() { date +%s.%N; }
# elapsed T0: seconds since T0 (from `now`).
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# median X...: the median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# free_ports N: N UDP ports free on 127.0.0.1, one a line.
free_ports() {
    python3 -c '
import socket, sys
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
for s in socks: print(s.getsockname()[1])
' "$1"
}

# release_binary: builds annex-swarm (release) into $BIN unless SKIP_BUILD=1.
release_binary() {
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        log "building annex-swarm (release)"
        (cd "$ROOT" && cargo build --release -p annex-swarm >&2)
    fi
    [ -x "$BIN" ] || die "$BIN not found"
}

# member_keys N: in $W, the client's key (exported as ANNEX_SWARM_KEY, its id in CLIENT) and N
# node keys (ids in IDS), N free loopback ports (PORTS) and a random swarm id (SWARM_ID).
member_keys() {
    export ANNEX_SWARM_KEY=$W/client.key
    CLIENT=$("$BIN" node init --key "$ANNEX_SWARM_KEY")
    IDS=()
    for i in $(seq 0 $(($1 - 1))); do
        IDS+=("$("$BIN" node init --key "$W/node$i.key")")
    done
    mapfile -t PORTS < <(free_ports "$1")
    SWARM_ID=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
}
