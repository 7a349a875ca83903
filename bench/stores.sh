#!/usr/bin/env bash
# put and get over a mixed swarm of real servers on loopback (S3 on SeaweedFS, WebDAV on nginx,
# SFTP on openssh, two local directories; 3 + 2), against git-annex's own S3 special remote on
# the same SeaweedFS in the same run.
#
#   bench/stores.sh                 # 256 MiB, 3 runs each
#   SIZE_MIB=64 RUNS=5 bench/stores.sh
#
# Environment: SIZE_MIB (256), RUNS (3; the median is reported), SKIP_BUILD=1, BENCH_DIR (/tmp),
# SHARD_SIZE (init's --shard-size; unset: the default, 4MiB with remote stores).
# Needs root (SeaweedFS listens on 127.0.0.1:80: git-annex's S3 signer only works on port 80)
# and the test servers (scripts/install-test-servers.sh, run here when missing).
# Prints a Markdown section for BENCHMARKS.md on stdout; progress on stderr.

set -euo pipefail
SIZE_MIB=${SIZE_MIB:-256}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/target/release/annex-swarm
log() { printf '[stores] %s\n' "$*" >&2; }

"$ROOT/scripts/install-test-servers.sh" >&2
command -v git-annex >/dev/null || { apt-get update -qq && apt-get install -y -qq git-annex >&2; }
[ "${SKIP_BUILD:-}" = 1 ] || (cd "$ROOT" && cargo build --release -q -p annex-swarm)

T=$(mktemp -d "${BENCH_DIR:-/tmp}/annex-swarm-bench-stores.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  rm -rf "$T"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- SeaweedFS on 127.0.0.1:80 --------------------------------------------------------------
TOOLS="${ANNEX_SWARM_TEST_TOOLS:-$HOME/.cache/annex-swarm-test-tools}"
WEED=$(command -v weed || echo "$TOOLS/venv/bin/weed")
AK=benchak SK=benchsecretkey1234 BUCKET=annexbench
mkdir -p "$T/weed"
cat > "$T/s3.json" <<EOF
{"identities":[{"name":"b","credentials":[{"accessKey":"$AK","secretKey":"$SK"}],"actions":["Admin","Read","List","Tagging","Write"]}]}
EOF
wp=(); for i in $(seq 9); do wp+=("$(free_port)"); done
TMPDIR="$T" "$WEED" mini -dir="$T/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
  -admin.ui=false -webdav=false -s3.port=80 -s3.port.iceberg=0 -s3.port.lance=0 \
  -s3.port.grpc="${wp[0]}" -master.port="${wp[1]}" -master.port.grpc="${wp[2]}" \
  -volume.port="${wp[3]}" -volume.port.grpc="${wp[4]}" -filer.port="${wp[5]}" \
  -filer.port.grpc="${wp[6]}" -admin.port="${wp[7]}" -admin.port.grpc="${wp[8]}" \
  -s3.config="$T/s3.json" -bucket="$BUCKET" > "$T/weed.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do
  c=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" "http://127.0.0.1:80/$BUCKET/" || true)
  [ "$c" = 200 ] && break; sleep 0.2
done
[ "$c" = 200 ] || { tail "$T/weed.log" >&2; log "SeaweedFS did not start"; exit 1; }

# --- nginx WebDAV ---------------------------------------------------------------------------
DAVP=$(free_port)
mkdir -p "$T/nginx/data" "$T/nginx/tmp" "$T/nginx/logs"
echo "tester:{PLAIN}benchpass" > "$T/nginx/htpasswd"
cat > "$T/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_http_dav_ext_module.so;
worker_processes 1; pid nginx.pid; error_log logs/error.log;
events { worker_connections 256; }
http { log_format sizes '\$request_method \$status \$request_length \$body_bytes_sent \$uri';
  access_log logs/access.log sizes; client_body_temp_path tmp/body;
  proxy_temp_path tmp/p; fastcgi_temp_path tmp/f; uwsgi_temp_path tmp/u; scgi_temp_path tmp/s;
  server { listen 127.0.0.1:$DAVP; root data; client_max_body_size 0;
    location / { auth_basic "dav"; auth_basic_user_file htpasswd;
      dav_methods PUT DELETE MKCOL COPY MOVE; dav_ext_methods PROPFIND OPTIONS;
      create_full_put_path on; dav_access user:rw group:r all:r; } } }
EOF
chown -R nobody:nogroup "$T/nginx/data" "$T/nginx/tmp"
/usr/sbin/nginx -p "$T/nginx" -c nginx.conf -e logs/error.log -g 'daemon off;' &
PIDS+=($!)

# --- sshd -----------------------------------------------------------------------------------
SSHP=$(free_port)
mkdir -p "$T/ssh/data" "$T/ssh/bin" /run/sshd
chmod 755 "$T" "$T/ssh"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/client"
cp "$T/ssh/client.pub" "$T/ssh/authorized_keys"; chmod 644 "$T/ssh/authorized_keys"
echo "[127.0.0.1]:$SSHP $(cut -d' ' -f1,2 "$T/ssh/host.pub")" > "$T/ssh/known_hosts"
chown -R annexswarmtest "$T/ssh/data"
cat > "$T/ssh/sshd_config" <<EOF
ListenAddress 127.0.0.1:$SSHP
HostKey $T/ssh/host
PidFile $T/ssh/sshd.pid
AuthorizedKeysFile $T/ssh/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers annexswarmtest
UsePAM no
MaxStartups 100
Subsystem sftp internal-sftp
EOF
/usr/sbin/sshd -D -f "$T/ssh/sshd_config" -E "$T/ssh/sshd.log" &
PIDS+=($!)
printf '#!/bin/sh\nexec %s -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null "$@"\n' \
  "$(command -v ssh)" "$T/ssh/known_hosts" > "$T/ssh/bin/ssh"
chmod 755 "$T/ssh/bin/ssh"
sleep 1

export PATH="$T/ssh/bin:$PATH"
export ANNEX_SWARM_S3_ACCESS_KEY_ID=$AK ANNEX_SWARM_S3_SECRET_ACCESS_KEY=$SK
export ANNEX_SWARM_WEBDAV_PASSWORD=benchpass ANNEX_SWARM_SFTP_SSH_KEY=$T/ssh/client
# Kind-wide credentials go only to the hosts named for them.
export ANNEX_SWARM_S3_HOSTS=http://127.0.0.1 ANNEX_SWARM_WEBDAV_HOSTS=http://127.0.0.1:$DAVP
export ANNEX_SWARM_SFTP_HOSTS=sftp://127.0.0.1:$SSHP
export ANNEX_SWARM_CREDENTIALS=$T/none.toml
S=$T/swarm.toml
"$BIN" --swarm "$S" init --k 3 --m 2 ${SHARD_SIZE:+--shard-size "$SHARD_SIZE"} \
  --store "s3://$BUCKET/swarm?endpoint=http://127.0.0.1:80&region=us-east-1" \
  --store "webdav+http://tester@127.0.0.1:$DAVP/swarm/" \
  --store "sftp://annexswarmtest@127.0.0.1:$SSHP$T/ssh/data/swarm" \
  --store "$T/local1" --store "$T/local2" >&2

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }
mbs() { awk -v s="$SIZE_MIB" -v t="$1" 'BEGIN {printf "%.1f", s*1.048576/t}'; }

put_t=(); get_t=(); keys=()
for r in $(seq "$RUNS"); do
  head -c "$((SIZE_MIB << 20))" /dev/urandom > "$T/f$r.bin"
  sync; a=$(now)
  "$BIN" --swarm "$S" --request-stats put "$T/f$r.bin" > "$T/key$r" 2> "$T/put$r.stats"
  b=$(now); put_t+=("$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b - a}')"); keys+=("$(cat "$T/key$r")")
  sync; a=$(now)
  "$BIN" --swarm "$S" --request-stats get "$(cat "$T/key$r")" "$T/out$r" 2> "$T/get$r.stats"
  b=$(now); get_t+=("$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b - a}')")
  cmp "$T/f$r.bin" "$T/out$r" || { log "get returned different bytes"; exit 1; }
  rm -f "$T/out$r"
  log "run $r: put ${put_t[-1]} s, get ${get_t[-1]} s"
done
PUT=$(printf '%s\n' "${put_t[@]}" | median); GET=$(printf '%s\n' "${get_t[@]}" | median)

# --- git-annex's S3 remote on the same SeaweedFS --------------------------------------------
mkdir "$T/repo" && cd "$T/repo"
git init -q && git annex init -q bench >/dev/null 2>&1
git config annex.security.allowed-ip-addresses 127.0.0.1
AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK git annex initremote weed type=S3 encryption=none \
  host=127.0.0.1 port=80 protocol=http requeststyle=path bucket=$BUCKET signature=v4 \
  fileprefix=gitannex/ >/dev/null 2>&1
ga_put=(); ga_get=()
for r in $(seq "$RUNS"); do
  cp "$T/f$r.bin" "g$r.bin" && git annex add -q "g$r.bin" >/dev/null && git commit -qm "r$r"
  sync; a=$(now)
  AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK git annex copy -q --to weed "g$r.bin"
  b=$(now); ga_put+=("$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b - a}')")
  git annex drop -q --force "g$r.bin"
  sync; a=$(now)
  AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK git annex get -q --from weed "g$r.bin"
  b=$(now); ga_get+=("$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b - a}')")
  log "git-annex run $r: copy ${ga_put[-1]} s, get ${ga_get[-1]} s"
done
GPUT=$(printf '%s\n' "${ga_put[@]}" | median); GGET=$(printf '%s\n' "${ga_get[@]}" | median)
cd "$T"

# Sizes of the shard objects on the stores whose files we can see: count, smallest, median.
shard_sizes() {
  find "$T/local1/shards" "$T/local2/shards" "$T/nginx/data/swarm/shards" "$T/ssh/data/swarm/shards" \
    -type f -printf '%s\n' 2>/dev/null | sort -n | awk '
      {a[NR]=$1} END {printf "%d shard objects, smallest %.2f MiB, median %.2f MiB, largest %.2f MiB\n",
        NR, a[1]/1048576, a[int((NR+1)/2)]/1048576, a[NR]/1048576}'
}
# WebDAV PUT and GET requests at least 4 MiB, of all of them.
dav_sizes() {
  awk '$1=="PUT" {p++; if ($3 >= 4194304) pb++}
       $1=="GET" {g++; if ($4 >= 4194304) gb++}
       END {printf "PUT %d of %d at least 4 MiB; GET %d of %d at least 4 MiB (the others: manifests, markers, probes, sidecars)\n", pb, p, gb, g}' \
    "$T/nginx/logs/access.log"
}

cat <<EOF
| operation | annex-swarm 3+2 (S3+WebDAV+SFTP+2 local) | git-annex S3 remote (same SeaweedFS) |
|---|---|---|
| put ${SIZE_MIB} MiB | $(mbs "$PUT") MB/s ($PUT s) | $(mbs "$GPUT") MB/s ($GPUT s) |
| get ${SIZE_MIB} MiB | $(mbs "$GET") MB/s ($GET s) | $(mbs "$GGET") MB/s ($GGET s) |

Requests per store, last run (annex-swarm's own count of store operations; a staged WebDAV/SFTP
write is a write plus a rename):

\`\`\`
put: $(sed -n 's/^requests: //p' "$T/put$RUNS.stats" | sed '2,$s/^/     /')
get: $(sed -n 's/^requests: //p' "$T/get$RUNS.stats" | sed '2,$s/^/     /')
\`\`\`
nginx access log lines (HTTP requests WebDAV saw over all runs): $(wc -l < "$T/nginx/logs/access.log")

Request sizes. Shard objects as stored (local1, local2, WebDAV and SFTP data; $(grep -o 'shard_size = "[^"]*"' "$S")):
$(shard_sizes)

WebDAV requests by size (nginx's log; PUT counts the request, GET the body sent):
$(dav_sizes)
EOF
