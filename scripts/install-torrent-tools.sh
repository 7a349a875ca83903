#!/usr/bin/env bash
# Installs the BitTorrent peers the torrent tests run against, when missing (a fresh Debian
# machine, as root): opentracker (tracker), aria2 (seeder and client), mktorrent (makes
# .torrent files). Nothing is started here: the tests start each on its own 127.0.0.x address,
# DHT, LPD and PEX off, and stop it by PID. apt may try to start opentracker's service: a
# policy-rc.d refusing service starts keeps it down during the install.
set -euo pipefail

need_apt=()
command -v opentracker >/dev/null || need_apt+=(opentracker)
command -v aria2c >/dev/null || need_apt+=(aria2)
command -v mktorrent >/dev/null || need_apt+=(mktorrent)
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
