#!/usr/bin/env bash
# The main job on local directories, in a temporary place: build annex-swarm, store a file over
# six directories (4 data + 2 parity shards per chunk), destroy two of them, get the file back
# and compare it byte for byte. Needs only Rust and coreutils.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p annex-swarm
bin="$PWD/target/release/annex-swarm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
size_mib=${DEMO_SIZE_MIB:-256}

say() { printf '\n== %s\n' "$*"; }

say "a swarm of six local stores, any 4 of which restore everything"
"$bin" init --k 4 --m 2 $(for s in a b c d e f; do echo --store "stores/$s"; done)

say "put a ${size_mib} MiB file"
head -c "$((size_mib << 20))" /dev/urandom > big.iso
start=$(date +%s.%N)
key=$("$bin" put big.iso)
end=$(date +%s.%N)
echo "key: $key"
awk -v s="$start" -v e="$end" -v n="$size_mib" 'BEGIN { printf "put took %.2f s (%.0f MiB/s)\n", e - s, n / (e - s) }'
"$bin" status

say "destroy two stores"
rm -rf stores/b stores/e
echo "removed stores/b and stores/e"

say "get it back"
start=$(date +%s.%N)
"$bin" get "$key" restored.iso
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v n="$size_mib" 'BEGIN { printf "get took %.2f s (%.0f MiB/s)\n", e - s, n / (e - s) }'
cmp big.iso restored.iso
echo "restored.iso matches big.iso byte for byte"

say "health: restorable, but no further store may be lost"
"$bin" fsck "$key" | head -1

say "replace the two stores and repair"
"$bin" store init "$(grep -B1 'stores/b"' swarm.toml | sed -n 's/^id = "\(.*\)"/\1/p')"
"$bin" store init "$(grep -B1 'stores/e"' swarm.toml | sed -n 's/^id = "\(.*\)"/\1/p')"
"$bin" repair "$key"
"$bin" fsck "$key" | head -1
