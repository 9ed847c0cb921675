#!/usr/bin/env bash
# Installs what building and testing the kiosk needs on a Debian machine,
# only where missing. Safe to run again. Used by run-demo.sh and test.sh.
set -euo pipefail

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

have cc || need_apt+=(build-essential)
have pkg-config || need_apt+=(pkg-config)
pkg_installed ca-certificates || need_apt+=(ca-certificates)
have curl || need_apt+=(curl)
# Chinese text on screens and in reports needs a CJK font visible to fontconfig.
pkg_installed fonts-noto-cjk || pkg_installed fonts-wqy-microhei || need_apt+=(fonts-wqy-microhei)
pkg_installed fontconfig || need_apt+=(fontconfig)
# The health card driver links against PC/SC (libpcsclite); the serial
# device tests and the third-party scanner emulator use socat pty pairs.
pkg_installed libpcsclite-dev || need_apt+=(libpcsclite-dev)
# The Slint UI finds its fonts through fontconfig (yeslogic-fontconfig-sys links it).
pkg_installed libfontconfig-dev || need_apt+=(libfontconfig-dev)
have socat || need_apt+=(socat)
# The OpenAPI conformance check runs schemathesis from a Python venv.
have python3 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! have cargo; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) and run again" >&2
  exit 1
fi
