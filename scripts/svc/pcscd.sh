#!/usr/bin/env bash
# Makes the smart-card stack the health card reader needs available on a
# Debian machine without systemd: installs pcscd, the PC/SC headers the `pcsc`
# crate links against and the vpcd virtual reader (only what is missing),
# starts pcscd if it is not running and waits until its socket answers.
# Safe to run again: a running pcscd is left alone.
#
# vpcd (/etc/reader.conf.d/vpcd, DEVICENAME /dev/null:0x8C7B) makes pcscd
# listen on TCP 35963 (slot "Virtual PCD 00 00"), 35964 ("... 00 01"), ...;
# the kiosk's virtual card (kiosk_drivers::healthcard::VpcdCard) connects there.
set -euo pipefail

SOCKET=/run/pcscd/pcscd.comm
PIDFILE=/run/pcscd/pcscd.pid
WAIT_SECS=${PCSCD_WAIT_SECS:-10}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

need_apt=()
for pkg in pcscd libpcsclite-dev vsmartcard-vpcd; do
  pkg_installed "$pkg" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "pcscd.sh: installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# "Running" means: our socket answers. A process list can show a pcscd of
# another root (a chroot or container shares PIDs but not /run), so it is
# not asked. socat comes with scripts/setup.sh; install it if called alone.
command -v socat >/dev/null 2>&1 || {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends socat >/dev/null
}
alive() { [ -S "$SOCKET" ] && socat -u OPEN:/dev/null "UNIX-CONNECT:$SOCKET" 2>/dev/null; }

if alive; then
  echo "pcscd.sh: pcscd already answering on $SOCKET"
else
  # A socket or pid file left by a pcscd that died makes a new one refuse to
  # start ("another pcscd seems to be running").
  if [ -e "$SOCKET" ] || [ -e "$PIDFILE" ]; then
    echo "pcscd.sh: removing stale $SOCKET / $PIDFILE"
    $SUDO rm -f "$SOCKET" "$PIDFILE"
  fi
  echo "pcscd.sh: starting pcscd"
  # pcscd daemonizes itself; there is no systemd socket activation here.
  $SUDO pcscd
fi

for _ in $(seq 1 $((WAIT_SECS * 10))); do
  if alive; then
    echo "pcscd.sh: pcscd is up (socket $SOCKET)"
    exit 0
  fi
  sleep 0.1
done

echo "pcscd.sh: pcscd did not create $SOCKET within ${WAIT_SECS}s" >&2
echo "pcscd.sh: try 'pcscd --foreground --debug' to see why" >&2
exit 1
