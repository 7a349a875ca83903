#!/usr/bin/env bash
# The download scheduler with the limits applied by the network instead of the engine: six
# WebDAV stores (one nginx, six ports) in a network namespace made here, each port's traffic to
# the client shaped by `tc` (htb on the namespace's loopback, one class per source port), and
# `annex-swarm get` run inside the namespace. Issue 4's cases 1 and 3:
#   1. 4+2, six stores at RATE                     target >= 0.8 x 6 RATE
#   3. 4+2, five at RATE and one at RATE/10        target >= 0.8 x 5 RATE
# Each case also measures its baseline in the same run: every port's link alone (curl of one
# shard-sized file per port, in parallel), so the ratio is against what the links really gave.
#
#   bench/scheduler-net.sh                     # 512 MiB, 3 runs per case, 20 MiB/s links
#   SIZE_MIB=128 RUNS=1 bench/scheduler-net.sh
#
# Environment: SIZE_MIB (512), RUNS (3), RATE_MIB (20), SKIP_BUILD=1, BENCH_DIR (/tmp),
# SHARD_SIZE (init's --shard-size; unset: the default for remote stores, 4MiB).
# Needs root (ip netns, tc) and nginx with the WebDAV modules (scripts/install-test-servers.sh,
# run here when missing). Touches nothing outside the namespace it creates and removes.
# Prints a Markdown table on stdout; progress on stderr.

set -euo pipefail
SIZE_MIB=${SIZE_MIB:-512}
RUNS=${RUNS:-3}
RATE=${RATE_MIB:-20}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/target/release/annex-swarm
NS=annex-swarm-bench-$$
PORTS=(18001 18002 18003 18004 18005 18006)
log() { printf '[scheduler-net] %s\n' "$*" >&2; }

"$ROOT/scripts/install-test-servers.sh" >&2
[ "${SKIP_BUILD:-}" = 1 ] || (cd "$ROOT" && cargo build --release -q -p annex-swarm)

T=$(mktemp -d "${BENCH_DIR:-/tmp}/annex-swarm-bench-net.XXXXXX")
cleanup() {
  ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null || true
  sleep 0.5
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
in_ns() { ip netns exec "$NS" "$@"; }

ip netns add "$NS"
in_ns ip link set lo up

# --- nginx: one WebDAV server per port, all in one process ------------------------------------
mkdir -p "$T/nginx/data" "$T/nginx/tmp" "$T/nginx/logs"
echo "tester:{PLAIN}benchpass" > "$T/nginx/htpasswd"
{
  echo 'load_module /usr/lib/nginx/modules/ngx_http_dav_ext_module.so;'
  echo 'worker_processes 2; pid nginx.pid; error_log logs/error.log;'
  echo 'events { worker_connections 512; }'
  echo 'http { access_log off; sendfile on; client_body_temp_path tmp/body;'
  echo '  proxy_temp_path tmp/p; fastcgi_temp_path tmp/f; uwsgi_temp_path tmp/u; scgi_temp_path tmp/s;'
  for p in "${PORTS[@]}"; do
    echo "  server { listen 127.0.0.1:$p; root data; client_max_body_size 0;"
    echo '    location / { auth_basic "dav"; auth_basic_user_file htpasswd;'
    echo '      dav_methods PUT DELETE MKCOL COPY MOVE; dav_ext_methods PROPFIND OPTIONS;'
    echo '      create_full_put_path on; dav_access user:rw group:r all:r; } }'
  done
  echo '}'
} > "$T/nginx/nginx.conf"
chown -R nobody:nogroup "$T/nginx/data" "$T/nginx/tmp"
chmod 755 "$T"
in_ns /usr/sbin/nginx -p "$T/nginx" -c nginx.conf -e logs/error.log -g 'daemon off;' &
for _ in $(seq 50); do
  in_ns curl -s -o /dev/null "http://127.0.0.1:${PORTS[0]}/" && break
  sleep 0.1
done

# --- shaping: traffic leaving port P (server to client) goes through class 1:N ----------------
in_ns tc qdisc add dev lo root handle 1: htb default 99 r2q 10000
in_ns tc class add dev lo parent 1: classid 1:99 htb rate 20gbit
i=0
for p in "${PORTS[@]}"; do
  i=$((i + 1))
  in_ns tc class add dev lo parent 1: classid "1:$i" htb rate "$((RATE << 20))bps" \
    burst 256k cburst 256k
  in_ns tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip sport "$p" 0xffff \
    flowid "1:$i"
done
# set_rate N MIB: link N (1-based) to MIB MiB/s.
set_rate() {
  in_ns tc class change dev lo parent 1: classid "1:$1" htb rate "$(($2 << 20))bps" \
    burst 256k cburst 256k
}

# --- the swarm: 4+2 over the six ports ----------------------------------------------------------
export ANNEX_SWARM_WEBDAV_PASSWORD=benchpass ANNEX_SWARM_CREDENTIALS=$T/none.toml
S=$T/swarm.toml
args=()
hosts=()
for p in "${PORTS[@]}"; do
  args+=(--store "webdav+http://tester@127.0.0.1:$p/s$p/")
  hosts+=("http://127.0.0.1:$p")
done
# Kind-wide credentials go only to the hosts named for them.
ANNEX_SWARM_WEBDAV_HOSTS=$(IFS=,; echo "${hosts[*]}")
export ANNEX_SWARM_WEBDAV_HOSTS
in_ns "$BIN" --swarm "$S" init --k 4 --m 2 ${SHARD_SIZE:+--shard-size "$SHARD_SIZE"} "${args[@]}" >&2
head -c "$((SIZE_MIB << 20))" /dev/urandom > "$T/file"
log "put $SIZE_MIB MiB (uploads are not shaped)"
KEY=$(in_ns "$BIN" --swarm "$S" put "$T/file")
# A probe file per port for the links' own speed: 32 MiB each.
for p in "${PORTS[@]}"; do head -c $((32 << 20)) /dev/urandom > "$T/nginx/data/probe$p"; done
chown nobody:nogroup "$T"/nginx/data/probe*

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }

# links: the sum over ports of each link's own speed (MiB/s), all six downloading at once.
links() {
  local pids=() p
  for p in "${PORTS[@]}"; do
    in_ns curl -s -u tester:benchpass -o /dev/null -w '%{speed_download}\n' \
      "http://127.0.0.1:$p/probe$p" > "$T/speed$p" &
    pids+=($!)
  done
  wait "${pids[@]}"
  cat "$T"/speed* | awk '{s += $1} END {printf "%.1f", s / 1048576}'
}

# gets: median seconds of RUNS gets; each restored file must equal the original.
gets() {
  local t=() a b r
  for r in $(seq "$RUNS"); do
    a=$(now)
    in_ns "$BIN" --swarm "$S" get --json "$KEY" "$T/out" > "$T/get.json" 2> "$T/get.err" ||
      { cat "$T/get.err" >&2; exit 1; }
    b=$(now)
    cmp -s "$T/file" "$T/out" || { log "get returned different bytes"; exit 1; }
    rm -f "$T/out"
    t+=("$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b - a}')")
    log "  get $r: ${t[-1]} s"
  done
  python3 - "$T/get.json" >&2 <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for s in r.get("stores", []):
    print("    %-8s %6.1f MiB in %3d requests, %d races, %d cancelled, dropped: %s" % (
        s.get("store"), s.get("bytes", 0) / 1048576, s.get("requests", 0), s.get("races", 0),
        s.get("cancelled", 0), s.get("dropped")))
print("    chunks %s, decoded %s" % (r.get("chunks"), r.get("decoded")))
PY
  printf '%s\n' "${t[@]}" | median
}

row() { # case, target links (MiB/s), measured links, median seconds
  awk -v c="$1" -v want="$2" -v l="$3" -v s="$4" -v n="$SIZE_MIB" 'BEGIN {
    r = n / s; printf "| %s | %.2f s | %.1f | %.1f | %.1f | **%.2f** |\n", c, s, r, want, l, r / l }'
}

echo "| case | median get | MiB/s | links set (MiB/s) | links measured (MiB/s) | ratio to measured |"
echo "|---|---|---|---|---|---|"
log "case 1: six links at $RATE MiB/s"
L1=$(links); log "  links: $L1 MiB/s"
G1=$(gets)
row "1. 4+2, six links at $RATE MiB/s" "$((6 * RATE))" "$L1" "$G1"
log "case 3: five at $RATE MiB/s, one at $((RATE / 10)) MiB/s"
set_rate 6 "$((RATE / 10))"
L3=$(links); log "  links: $L3 MiB/s"
G3=$(gets)
row "3. 4+2, five at $RATE, one at $((RATE / 10)) MiB/s" "$((5 * RATE + RATE / 10))" "$L3" "$G3"
