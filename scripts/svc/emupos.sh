#!/usr/bin/env bash
# Installs the third-party ESC/POS printer and serial scanner simulator `emupos` (PyPI) into
# .venv-emupos at the repository root, only where missing. Safe to run again.
# emupos needs Python >= 3.13. Prints the venv's python path on stdout (everything else goes
# to stderr), so callers can do:  PY=$(scripts/svc/emupos.sh)
#   "$PY" scripts/emupos_bridge.py printer --port 0 --out receipts.jsonl
# Environment: EMUPOS_VENV overrides the venv directory.
set -euo pipefail

EMUPOS_VERSION="0.4.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${EMUPOS_VENV:-$ROOT/.venv-emupos}"
PY="$VENV/bin/python"

log() { echo "emupos.sh: $*" >&2; }

is_py313() { # a python of version 3.13 or later
  [ -x "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' 2>/dev/null
}

find_pyenv() {
  if command -v pyenv >/dev/null 2>&1; then command -v pyenv; return 0; fi
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  if [ -x "$root/bin/pyenv" ]; then echo "$root/bin/pyenv"; return 0; fi
  return 1
}

find_python313() {
  local candidate pyenv root
  for candidate in "$(command -v python3.13 2>/dev/null || true)" \
                   "$(command -v python3.14 2>/dev/null || true)"; do
    if [ -n "$candidate" ] && is_py313 "$candidate"; then echo "$candidate"; return 0; fi
  done
  if pyenv="$(find_pyenv)"; then
    root="$("$pyenv" root)"
    # newest 3.13.x first
    for candidate in $(ls -d "$root"/versions/3.13*/bin/python3.13 2>/dev/null | sort -rV); do
      if is_py313 "$candidate"; then echo "$candidate"; return 0; fi
    done
  fi
  return 1
}

installed_version() {
  "$PY" -c 'from importlib.metadata import version; print(version("emupos"))' 2>/dev/null || true
}

# An existing venv is kept only if its python works and is 3.13+.
if [ -e "$VENV" ] && ! is_py313 "$PY"; then
  log "$VENV has no working python >= 3.13; recreating it"
  rm -rf "$VENV"
fi

if [ ! -x "$PY" ]; then
  if ! PY313="$(find_python313)"; then
    if pyenv="$(find_pyenv)"; then
      log "no python3.13 found; installing one with pyenv (needs python.org to be reachable)"
      "$pyenv" install -s 3.13 >&2 || {
        log "pyenv install 3.13 failed; install Python 3.13 by hand and run again"
        exit 1
      }
      PY313="$(find_python313)" || { log "pyenv installed 3.13 but python3.13 was not found"; exit 1; }
    else
      log "emupos needs Python 3.13, and neither python3.13 nor pyenv was found;" \
          "install Python 3.13 (e.g. pyenv install 3.13) and run again"
      exit 1
    fi
  fi
  log "creating $VENV with $PY313"
  "$PY313" -m venv "$VENV" >&2
fi

if [ "$(installed_version)" != "$EMUPOS_VERSION" ]; then
  log "installing emupos==$EMUPOS_VERSION"
  "$PY" -m pip install --quiet --disable-pip-version-check "emupos==$EMUPOS_VERSION" >&2
  [ "$(installed_version)" = "$EMUPOS_VERSION" ] || { log "emupos $EMUPOS_VERSION did not install"; exit 1; }
fi

echo "$PY"
