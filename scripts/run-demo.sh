#!/usr/bin/env bash
# Sets up and runs the demo kiosk: the patient UI on the embedded HIS and
# payment simulators and the simulated devices (use the DEMO bar at the
# bottom of the screen to present a card, show a payment code, or pay the QR).
# With no display (a server, CI), it runs on a virtual X display and says so.
# Extra arguments go to `kiosk` (e.g. `scripts/run-demo.sh doctor --print`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The window's X11 client libraries (loaded at run time by winit).
need=()
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in libxkbcommon-x11-0 libxcursor1 libx11-xcb1 libxrandr2 libxi6; do
  pkg_installed "$p" || need+=("$p")
done
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "run-demo: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --release --locked --bin kiosk
export SLINT_BACKEND=${SLINT_BACKEND:-winit-software}
if [ $# -eq 0 ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  export DISPLAY=:${KIOSK_XVFB_DISPLAY:-97}
  Xvfb "$DISPLAY" -screen 0 1080x1920x24 >/dev/null 2>&1 &
  xvfb=$!
  trap 'kill $xvfb 2>/dev/null || true' EXIT
  sleep 1
  echo "run-demo: no display here; the kiosk runs on the virtual display $DISPLAY"
  echo "run-demo: (view it with a VNC server such as x11vnc -display $DISPLAY, or see"
  echo "run-demo:  every screen as PNG: target/release/kiosk screenshot --out out/screens)"
  target/release/kiosk run
  exit $?
fi
exec target/release/kiosk "$@"
