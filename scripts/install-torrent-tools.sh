#!/usr/bin/env bash
# Installs the BitTorrent peers the torrent tests run against, when missing (a fresh Debian
# machine, as root): opentracker (tracker), aria2 (seeder and client), mktorrent (makes
# .torrent files), transmission-cli (a seeder: interop smoke test), and libtorrent from PyPI in a venv (the second seeder). Nothing is started here: the tests start each on its own 127.0.0.x address,
# DHT, LPD and PEX off, and stop it by PID. apt may try to start opentracker's service: a
# policy-rc.d refusing service starts keeps it down during the install.
set -euo pipefail

need_apt=()
command -v opentracker >/dev/null || need_apt+=(opentracker)
command -v aria2c >/dev/null || need_apt+=(aria2)
command -v mktorrent >/dev/null || need_apt+=(mktorrent)
command -v transmission-cli >/dev/null || need_apt+=(transmission-cli)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  policy=/usr/sbin/policy-rc.d
  made_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  [ -n "$made_policy" ] && rm -f "$policy"
fi

# libtorrent (PyPI) as a second seeder: the scripted peer (crates/swarm-testservers/src/lt_seeder.py).
TOOLS="${ANNEX_SWARM_TEST_TOOLS:-$HOME/.cache/annex-swarm-test-tools}"
if [ ! -x "$TOOLS/torrent-venv/bin/python" ] || ! "$TOOLS/torrent-venv/bin/python" -c 'import libtorrent' 2>/dev/null; then
  echo "installing: libtorrent==2.1.1 (PyPI) into $TOOLS/torrent-venv"
  command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
  }
  mkdir -p "$TOOLS"
  python3 -m venv "$TOOLS/torrent-venv"
  "$TOOLS/torrent-venv/bin/pip" install -q --no-cache-dir "libtorrent==2.1.1"
fi
