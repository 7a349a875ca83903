# Sourced by scripts/test.sh: installs what the git-annex tests need when it is missing, on a
# fresh Debian machine with Rust, and exports ANNEX_SWARM_NEW_GIT_ANNEX for them.
#   - Debian's git-annex (with gnupg, which testremote's encryption=shared needs), python3-venv
#   - the newest git-annex from PyPI, in a venv under ${ANNEX_SWARM_TOOLS:-~/.cache/annex-swarm}
# If the PyPI install fails (offline), the test that needs it is skipped loudly, not passed.

need_apt=()
command -v git-annex >/dev/null || need_apt+=(git-annex)
command -v gpg >/dev/null || need_apt+=(gnupg)
python3 -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

tools="${ANNEX_SWARM_TOOLS:-$HOME/.cache/annex-swarm}"
venv="$tools/git-annex-venv"
if [ -z "${ANNEX_SWARM_NEW_GIT_ANNEX:-}" ]; then
  if [ ! -x "$venv/bin/git-annex" ]; then
    echo "installing the newest git-annex from PyPI into $venv"
    mkdir -p "$tools"
    if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q git-annex; } >"$tools/pip.log" 2>&1; then
      echo "*** WARNING: could not install git-annex from PyPI (see $tools/pip.log);"
      echo "*** the test against the newest git-annex will be SKIPPED."
      ANNEX_SWARM_NEW_GIT_ANNEX="skip:pip install git-annex failed, see $tools/pip.log"
      # Said again at the very end, where it cannot scroll away.
      trap 'echo "*** SKIPPED: testremote with the newest git-annex (PyPI install failed, see '"$tools"'/pip.log)" >&2' EXIT
    fi
  fi
  export ANNEX_SWARM_NEW_GIT_ANNEX="${ANNEX_SWARM_NEW_GIT_ANNEX:-$venv/bin/git-annex}"
fi
