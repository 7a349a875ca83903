#!/usr/bin/env bash
# Every test: formatting, lints, unit, property, golden-vector and integration tests.
# Installs what the tests need when it is missing (a new Debian machine with Rust).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v git-annex >/dev/null || need_apt+=(git-annex)
[ -x /usr/bin/time ] || need_apt+=(time)
# The node's status page is tested in a real browser.
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# git-annex from Debian and from PyPI (newest), gnupg, for the special remote's tests.
. scripts/test-tools.sh
# The store tests run against real S3 (SeaweedFS), WebDAV (nginx) and SFTP (openssh) servers.
scripts/install-test-servers.sh
# The torrent tests run against opentracker, aria2c seeders and mktorrent on loopback.
scripts/install-torrent-tools.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  # Doc tests first: nextest does not run them, and its summary should be the last word.
  cargo test --workspace --doc --quiet
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
