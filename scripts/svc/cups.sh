#!/usr/bin/env bash
# Brings up CUPS with a cups-pdf queue standing in for the A4 report printer:
# installs the packages when missing, starts cupsd when it is not running,
# adds the queue when missing and makes sure it is enabled and accepting.
# Safe to run again.
#
# stdout is only shell assignments, so a caller can
#   eval "$(scripts/svc/cups.sh)"
# to get KIOSK_CUPS_QUEUE and KIOSK_CUPS_PDF_DIR (where cups-pdf writes the
# PDFs of jobs printed by this user); the same lines go to
# ${KIOSK_SVC_DIR:-/tmp/kiosk-svc}/cups.env. Progress goes to stderr.
#
# Environment: KIOSK_CUPS_QUEUE (default PDF), KIOSK_SVC_DIR.
set -euo pipefail
export LC_ALL=C

QUEUE="${KIOSK_CUPS_QUEUE:-PDF}"
PPD=/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd
CONF=/etc/cups/cups-pdf.conf
STATE_DIR="${KIOSK_SVC_DIR:-/tmp/kiosk-svc}"

say() { echo "cups: $*" >&2; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# cups-ipp-utils brings ipptool, which the driver uses to read job states.
need=()
for pkg in cups cups-client cups-bsd cups-ipp-utils printer-driver-cups-pdf; do
  pkg_installed "$pkg" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

running() { [ "$(lpstat -r 2>/dev/null || true)" = "scheduler is running" ]; }

if ! running; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    say "starting cups.service"
    $SUDO systemctl start cups
  else
    say "starting cupsd"
    $SUDO cupsd # daemonizes; without -l it does not exit when idle
  fi
  for _ in $(seq 100); do
    running && break
    sleep 0.1
  done
  if ! running; then
    say "cupsd did not come up within 10 s; see /var/log/cups/error_log"
    exit 1
  fi
fi

if ! lpstat -p "$QUEUE" >/dev/null 2>&1; then
  say "adding queue $QUEUE (cups-pdf, A4)"
  # lpadmin warns that PPD drivers are deprecated; only real errors are shown.
  if ! out=$($SUDO lpadmin -p "$QUEUE" -v cups-pdf:/ -E -P "$PPD" -o PageSize=A4 2>&1); then
    echo "$out" >&2
    exit 1
  fi
  grep -v -i deprecated <<<"$out" >&2 || true
fi
$SUDO cupsenable "$QUEUE"
$SUDO cupsaccept "$QUEUE"

# cups-pdf writes a job of user U to its `Out` directory, with ${HOME} and
# ${USER} standing for U's home and name (cups-pdf's default when unset).
user="$(id -un)"
home="$(getent passwd "$user" | cut -d: -f6)"
home="${home:-$HOME}"
out=""
[ -r "$CONF" ] && out="$(sed -n 's/^[[:space:]]*Out[[:space:]]\{1,\}//p' "$CONF" | tail -n 1)"
out="${out:-/var/spool/cups-pdf/\${USER\}}"
out="${out//\$\{HOME\}/$home}"
out="${out//\$\{USER\}/$user}"
out="${out%"${out##*[![:space:]]}"}"

say "queue $QUEUE is enabled and accepting ($(lpstat -v "$QUEUE"))"
say "PDFs printed by $user land in $out"

mkdir -p "$STATE_DIR"
env_lines="$(printf 'KIOSK_CUPS_QUEUE=%q\nKIOSK_CUPS_PDF_DIR=%q\n' "$QUEUE" "$out")"
printf '%s\n' "$env_lines" >"$STATE_DIR/cups.env"
while IFS= read -r line; do echo "export $line"; done <<<"$env_lines"
