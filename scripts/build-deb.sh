#!/usr/bin/env bash
# Builds the kiosk's Debian package with cargo-deb: the release binary, the
# systemd unit (debian/kiosk.service), the config templates, the PAM stack
# and the docs ([package.metadata.deb] in Cargo.toml). Installs cargo-deb
# when it is missing. The last line printed is the .deb's path.
#
#   scripts/build-deb.sh                     # target/debian/kiosk_<version>-1_<arch>.deb
#   scripts/build-deb.sh --deb-revision 2    # extra arguments go to cargo deb
#
# A release build from scratch takes 15-20 minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# cargo-deb computes `$auto` dependencies with dpkg-shlibdeps.
if ! command -v dpkg-shlibdeps >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null
fi
if ! cargo deb --version >/dev/null 2>&1; then
  echo "build-deb: installing cargo-deb (a few minutes, once)" >&2
  cargo install cargo-deb --locked
fi
# cargo deb prints the package's path on its last line of standard output.
deb=$(cargo deb --locked -p kiosk "$@" | tail -n 1)
[ -f "$deb" ] || { echo "build-deb: cargo deb did not report a package (got: $deb)" >&2; exit 1; }
echo "$deb"
