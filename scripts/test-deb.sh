#!/usr/bin/env bash
# Checks the kiosk's Debian package for real (issue 7: "the .deb builds and
# installs"): its control data, files, conffiles and maintainer scripts
# (dpkg-deb), then installs it with apt into a throwaway Debian bookworm root
# and checks it there: `kiosk --version`, the kiosk user and its groups, the
# state and config directories, `kiosk config check` on the templates (only
# the three secret files to fill in are missing; with them in place it is
# clean), the unit (systemd-analyze verify), the kiosk session itself (cage
# with a headless output running `kiosk run` in demo mode, which must send
# READY=1, then WATCHDOG=1 from its UI, then STOPPING=1 on SIGTERM); then it
# boots the root with systemd (systemd-nspawn) and runs the packaged unit
# (start waits for READY=1, a hung kiosk is caught by the watchdog and
# restarted, stop is orderly); last, an upgrade that keeps local config edits
# and the journal, a rollback, and a purge that keeps the journal.
#
#   scripts/test-deb.sh [kiosk_X.deb]     # default: the newest in the target dir
#
# Needs root (chroot, mounts, systemd-nspawn, installed if missing) and the
# Debian mirror. Not part of scripts/test.sh: about 1.5 minutes here, half of
# it waiting for the watchdog, with a near mirror (apt fetches about 80 MB
# the first time: cage, Xwayland, seatd, systemd and their libraries, kept
# for the next run), plus about a minute if the base root must be built. The
# .deb itself comes from scripts/build-deb.sh. The base root is the one ../shared/checks/fresh-machine.sh
# uses (FRESH_ROOT, default /var/tmp/kiosk-fresh-base, built once if missing);
# it is seen through an overlay and never changed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "test-deb: needs root (chroot, mount)" >&2; exit 1; }

target=${CARGO_TARGET_DIR:-target}
deb=${1:-$(ls -t "$target"/debian/kiosk_*.deb 2>/dev/null | head -n 1)}
[ -n "$deb" ] && [ -f "$deb" ] || { echo "test-deb: no package; run scripts/build-deb.sh first" >&2; exit 1; }
deb=$(readlink -f "$deb")
start=$SECONDS
fails=0
ok() { printf '  ok    %s\n' "$*"; }
bad() { printf '  FAIL  %s\n' "$*"; fails=$((fails + 1)); }
check() { # description command...
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
has() { grep -q -- "$2" <<<"$1"; }
descendants() { # pid: its children, grandchildren... (by parent id)
  local c
  for c in $(pgrep -P "$1" || true); do echo "$c"; descendants "$c"; done
}
named() { # name pid: the first descendant of pid running the program name
  local p
  for p in $(descendants "$2"); do
    if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$1" ]; then echo "$p"; return; fi
  done
}
step() { printf '\n== %s\n' "$*"; }

work=$(mktemp -d /var/tmp/kiosk-deb-test.XXXX)
root=$work/root
mounts=(); api_mounts=()
listener=""; session=""; nspawn=""
umount_api() {
  for ((i=${#api_mounts[@]}-1; i>=0; i--)); do umount -l "${api_mounts[i]}" 2>/dev/null || true; done
  api_mounts=()
}
cleanup() {
  if [ -n "$nspawn" ] && kill -0 "$nspawn" 2>/dev/null; then
    kill -TERM "$nspawn" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$nspawn" 2>/dev/null || true
  fi
  # The session and the notification listener, if a check stopped early.
  if [ -n "$session" ]; then for p in $(descendants "$session") $session; do kill -KILL "$p" 2>/dev/null || true; done; fi
  [ -z "$listener" ] || kill "$listener" 2>/dev/null || true
  umount_api
  for ((i=${#mounts[@]}-1; i>=0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

step "package $deb"
info=$(dpkg-deb --info "$deb")
contents=$(dpkg-deb --contents "$deb")
mkdir -p "$work/ctrl" "$work/files"
dpkg-deb --control "$deb" "$work/ctrl"
dpkg-deb --extract "$deb" "$work/files"
version=$(dpkg-deb --field "$deb" Version)
depends=$(dpkg-deb --field "$deb" Depends)
recommends=$(dpkg-deb --field "$deb" Recommends)
echo "  version $version"
echo "  depends $depends"
check "Package: kiosk" has "$info" "Package: kiosk"
for d in 'libc6' 'adduser' 'cage' 'xwayland' 'seatd' 'libwayland-client0' 'libxkbcommon0' 'fonts-wqy-microhei | fonts-noto-cjk'; do
  check "depends on $d" has "$depends" "$d"
done
for r in pcscd cups-client espeak-ng; do check "recommends $r" has "$recommends" "$r"; done
check "the binary, executable, in /usr/bin" grep -Eq -- '^-rwxr-xr-x .* \./usr/bin/kiosk$' <<<"$contents"
for f in ./usr/lib/systemd/system/kiosk.service ./etc/kiosk/hospital.toml ./etc/kiosk/kiosk.toml \
         ./usr/share/doc/kiosk/deploy.md ./usr/share/doc/kiosk/operations.md \
         ./usr/share/doc/kiosk/examples/70-kiosk-devices.rules; do
  check "contains $f" grep -q -- " $f\$" <<<"$contents"
done
for f in /etc/kiosk/hospital.toml /etc/kiosk/kiosk.toml; do
  check "conffile $f" grep -qx -- "$f" "$work/ctrl/conffiles"
done
for s in preinst postinst prerm postrm; do
  [ -f "$work/ctrl/$s" ] || continue
  check "$s is valid sh" sh -n "$work/ctrl/$s"
done
check "postinst creates the kiosk system user" grep -q 'adduser --quiet --system' "$work/ctrl/postinst"
check "postinst puts kiosk in dialout and lp" grep -q 'for group in dialout lp' "$work/ctrl/postinst"
check "postinst registers the unit (deb-systemd-helper)" grep -q 'deb-systemd-helper' "$work/ctrl/postinst"
check "postinst restarts a running kiosk on upgrade" grep -q 'try-restart' "$work/ctrl/postinst"
check "no #DEBHELPER# token left" bash -c "! grep -q '#DEBHELPER#' '$work'/ctrl/p*"
check "prerm stops the kiosk on removal" grep -q 'deb-systemd-invoke stop kiosk.service' "$work/ctrl/prerm"
unit=$work/files/usr/lib/systemd/system/kiosk.service
for line in 'Type=notify' 'NotifyAccess=all' 'Restart=always' 'WatchdogSec=30' 'User=kiosk' \
            'StateDirectory=kiosk' 'Environment=KIOSK_CONFIG=/etc/kiosk/hospital.toml:/etc/kiosk/kiosk.toml' \
            'ExecStart=/usr/bin/cage -d -- /usr/bin/kiosk run' 'TTYPath=/dev/tty1' 'Environment=NO_COLOR=1' \
            'Environment=LIBSEAT_BACKEND=seatd' 'SupplementaryGroups=video audio' 'RuntimeDirectory=kiosk' \
            'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' 'ReadWritePaths=/var/lib/kiosk'; do
  check "unit: $line" grep -qx -- "$line" "$unit"
done
check "unit: no PrivateDevices (serial, USB-lp, DRM, input)" bash -c "! grep -q '^PrivateDevices' '$unit'"
# A logind session (PAMName= with pam_systemd) would move cage and the kiosk
# out of the unit's cgroup, and systemd would drop their notifications.
check "unit: no PAM session" bash -c "! grep -q '^PAMName' '$unit'"

step "install into a throwaway Debian root"
base=${FRESH_ROOT:-/var/tmp/kiosk-fresh-base}
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
if [ ! -x "$base/usr/bin/git" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  echo "  building the base root in $base (about a minute, once)"
  debootstrap --variant=minbase \
    --include=build-essential,git,ca-certificates,fontconfig,fonts-dejavu-core,curl,python3,procps \
    bookworm "$base" "$mirror" >/dev/null
fi
mkdir -p "$work/up" "$work/wk" "$root"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$work/up,workdir=$work/wk" "$root"; mounts+=("$root")
# /proc, /dev, /sys for chroot; off while systemd-nspawn boots the root.
mount_api() {
  mount -t proc proc "$root/proc"; api_mounts+=("$root/proc")
  for d in /dev /dev/pts /sys; do mkdir -p "$root$d"; mount --bind "$d" "$root$d"; api_mounts+=("$root$d"); done
  mkdir -p "$root/dev/shm"; mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"; api_mounts+=("$root/dev/shm")
}
mount_api
# Downloaded packages are kept between runs.
cache=${KIOSK_DEB_TEST_APT_CACHE:-/var/tmp/kiosk-deb-test-apt}
mkdir -p "$cache/partial"
mount --bind "$cache" "$root/var/cache/apt/archives"; mounts+=("$root/var/cache/apt/archives")
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp -a /etc/ssl/certs/. "$root/etc/ssl/certs/"
[ -f /etc/apt/sources.list.d/debian.sources ] && { rm -f "$root/etc/apt/sources.list"; cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"; }
cp -a /etc/apt/apt.conf.d/. "$root/etc/apt/apt.conf.d/" 2>/dev/null || true
rm -f "$root/etc/apt/apt.conf.d/docker-clean"
# Nothing starts services in the root.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
cp "$deb" "$root/tmp/kiosk.deb"
root_cmd=(chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
in_root() { "${root_cmd[@]}" "$@"; }
apt_in_root() { in_root env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "$@"; }
apt_in_root update >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; exit 1; }
# A real kiosk machine boots with systemd; this root (debootstrap minbase) does not have it yet.
apt_in_root install --no-install-recommends systemd systemd-sysv dbus >>"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log"; exit 1; }
t=$SECONDS
if apt_in_root install /tmp/kiosk.deb >>"$work/apt.log" 2>&1; then
  ok "apt install ./$(basename "$deb") ($((SECONDS - t)) s, dependencies and recommends included)"
else
  tail -n 30 "$work/apt.log"; bad "apt install"; exit 1
fi
grep '^kiosk:' "$work/apt.log" | sed 's/^/        /'

step "the installed kiosk"
v=$(in_root kiosk --version 2>&1 || true)
if [ "$v" = "kiosk ${version%%-*}" ]; then ok "kiosk --version: $v"; else bad "kiosk --version: $v"; fi
pw=$(in_root getent passwd kiosk || true)
if [[ $pw == kiosk:*:/var/lib/kiosk:/usr/sbin/nologin ]] && [ "$(cut -d: -f3 <<<"$pw")" -lt 1000 ]; then
  ok "system user: $pw"
else
  bad "system user: $pw"
fi
groups=$(in_root id -nG kiosk || true)
for g in kiosk dialout lp; do check "kiosk is in group $g" grep -qw "$g" <<<"$groups"; done
check "kiosk is not in lpadmin" bash -c "! grep -qw lpadmin <<<'$groups'"
st=$(in_root stat -c '%U:%G %a' /var/lib/kiosk || true)
if [ "$st" = "kiosk:kiosk 750" ]; then ok "/var/lib/kiosk $st"; else bad "/var/lib/kiosk $st"; fi
st=$(in_root stat -c '%U:%G %a' /etc/kiosk || true)
if [ "$st" = "root:kiosk 750" ]; then ok "/etc/kiosk $st (dpkg-statoverride)"; else bad "/etc/kiosk $st"; fi

cfg=(/etc/kiosk/hospital.toml /etc/kiosk/kiosk.toml)
out=$(in_root runuser -u kiosk -- kiosk config check "${cfg[@]}" 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out" | sed 's/^/        /'
expected='/etc/kiosk/hospital.toml: his.token_file: file "/etc/kiosk/his-token" does not exist
/etc/kiosk/hospital.toml: his.ca_file: file "/etc/kiosk/his-ca.pem" does not exist
/etc/kiosk/hospital.toml: pay.key_file: file "/etc/kiosk/pay-key" does not exist
3 problem(s)'
if [ "$rc" -eq 1 ] && [ "$out" = "$expected" ]; then
  ok "config check (as the kiosk user): only the three secret files to fill in"
else
  bad "config check: exit $rc, not the three expected problems"
fi
echo "hunter2-token" >"$root/etc/kiosk/his-token"
in_root sh -c 'openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=his-ca -keyout /dev/null -out /etc/kiosk/his-ca.pem -days 1 2>/dev/null || echo "-----BEGIN CERTIFICATE-----" >/etc/kiosk/his-ca.pem'
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$root/etc/kiosk/pay-key"
in_root chown root:kiosk /etc/kiosk/his-token /etc/kiosk/his-ca.pem /etc/kiosk/pay-key
in_root chmod 0640 /etc/kiosk/his-token /etc/kiosk/his-ca.pem /etc/kiosk/pay-key
out=$(in_root runuser -u kiosk -- kiosk config check "${cfg[@]}" 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 0 ]; then ok "config check with the secrets in place: $out"; else bad "config check with the secrets: $out"; fi
out=$(in_root env KIOSK_CONFIG=/etc/kiosk/hospital.toml:/etc/kiosk/kiosk.toml runuser -u kiosk -- kiosk config show 2>&1 || true)
check "the layered config is the kiosk file's K17 on the profile's remote HIS" \
  bash -c 'grep -q "\"K17\"" <<<"$1" && grep -q "Remote" <<<"$1" && grep -q "demo_panel: false" <<<"$1"' _ "$out"
out=$(in_root systemd-analyze verify /usr/lib/systemd/system/kiosk.service 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 0 ] && [ -z "$out" ]; then ok "systemd-analyze verify kiosk.service: clean"; else bad "systemd-analyze verify: $out"; fi

step "the kiosk session: cage (headless output) running kiosk run in demo mode"
# The kiosk with the built-in demo config (embedded simulators), as the kiosk
# user, under cage as kiosk.service runs it, with a notification socket in
# place of systemd's. WATCHDOG_USEC=3 s: a ping a second.
cat >"$root/tmp/notify-listen.py" <<'PY'
import os, socket, sys, time
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)
s.settimeout(1)
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        log.write("%.1f %s\n" % (time.monotonic(), data.decode().strip().replace("\n", " ")))
PY
rm -f "$root/tmp/notify.sock" "$root/tmp/notify.log"
"${root_cmd[@]}" python3 /tmp/notify-listen.py /tmp/notify.sock /tmp/notify.log &
listener=$!
install -d -m 0700 "$root/tmp/xdg-kiosk" "$root/tmp/kiosk-demo"
in_root chown kiosk:kiosk /tmp/xdg-kiosk /tmp/kiosk-demo
for _ in $(seq 50); do [ -S "$root/tmp/notify.sock" ] && break; sleep 0.1; done
"${root_cmd[@]}" runuser -u kiosk -- env HOME=/var/lib/kiosk XDG_RUNTIME_DIR=/tmp/xdg-kiosk \
  WLR_BACKENDS=headless WLR_RENDERER=pixman WLR_LIBINPUT_NO_DEVICES=1 \
  NOTIFY_SOCKET=/tmp/notify.sock WATCHDOG_USEC=3000000 SLINT_BACKEND=winit-software NO_COLOR=1 \
  KIOSK_KIOSK__DATA_DIR=/tmp/kiosk-demo KIOSK_STATUS__LISTEN= \
  cage -d -- kiosk run >"$work/session.log" 2>&1 &
session=$!
t=$SECONDS
until grep -q 'READY=1' "$root/tmp/notify.log" 2>/dev/null || [ $((SECONDS - t)) -ge 120 ] || ! kill -0 $session 2>/dev/null; do sleep 0.5; done
if grep -q 'READY=1' "$root/tmp/notify.log" 2>/dev/null; then
  ok "READY=1 after $((SECONDS - t)) s: $(grep READY=1 "$root/tmp/notify.log" | cut -d' ' -f2-)"
  sleep 4
  pings=$(grep -c '^[0-9.]* WATCHDOG=1$' "$root/tmp/notify.log" || true)
  if [ "$pings" -ge 2 ]; then ok "WATCHDOG=1 from the UI thread: $pings pings in 4 s"; else bad "WATCHDOG=1: $pings pings in 4 s"; fi
  kpid=$(named kiosk $session)
  if [ -n "$kpid" ]; then
    kill -TERM "$kpid"
    t=$SECONDS
    while kill -0 $session 2>/dev/null && [ $((SECONDS - t)) -lt 30 ]; do sleep 0.5; done
    if grep -q 'STOPPING=1' "$root/tmp/notify.log"; then ok "STOPPING=1 on SIGTERM"; else bad "no STOPPING=1 on SIGTERM"; fi
    if ! kill -0 $session 2>/dev/null; then
      wait $session && rc=0 || rc=$?
      ok "the kiosk shut down and cage with it in $((SECONDS - t)) s (exit $rc)"
    else
      bad "cage still running 30 s after SIGTERM"; kill -KILL $session 2>/dev/null || true
    fi
  else
    bad "no kiosk process under cage"
  fi
else
  bad "no READY=1 within 120 s"
  tail -n 30 "$work/session.log"
  kill -TERM $session 2>/dev/null || true
fi
sed 's/^/        notify: /' "$root/tmp/notify.log" | head -n 4
check "log lines without colour codes (NO_COLOR=1, as in the unit)" bash -c "grep -q 'kiosk::' '$work/session.log' && ! grep -q \$'\\e\\[' '$work/session.log'"
grep -E 'ERROR|WARN' "$work/session.log" | grep -v 'status endpoint' | head -n 5 | sed 's/^/        log: /' || true
for p in $(descendants $session); do kill -KILL "$p" 2>/dev/null || true; done
kill $listener 2>/dev/null || true; wait $listener 2>/dev/null || true
listener=""; session=""

step "the unit under systemd: boot the root (systemd-nspawn), start kiosk.service"
# The packaged unit as it is, with a drop-in for what a container lacks (tty1,
# a GPU: cage gets a headless output) and the demo config; systemd must get
# READY=1, restart the kiosk when its UI stops pinging, and stop it cleanly.
command -v systemd-nspawn >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd-container >/dev/null; }
mkdir -p "$root/etc/systemd/system/kiosk.service.d"
cat >"$root/etc/systemd/system/kiosk.service.d/test-container.conf" <<'CONF'
[Unit]
ConditionPathExists=
[Service]
UnsetEnvironment=KIOSK_CONFIG
Environment=KIOSK_STATUS__LISTEN= KIOSK_KIOSK__DATA_DIR=/var/lib/kiosk
Environment=WLR_BACKENDS=headless WLR_RENDERER=pixman WLR_LIBINPUT_NO_DEVICES=1
TTYPath=/dev/console
TTYReset=no
TTYVHangup=no
TTYVTDisallocate=no
StandardInput=null
CONF
umount_api
systemd-nspawn -q -D "$root" --register=no --keep-unit --boot --console=passive >"$work/nspawn.log" 2>&1 &
nspawn=$!
init=""
for _ in $(seq 100); do init=$(pgrep -P $nspawn | head -n 1 || true); [ -n "$init" ] && break; sleep 0.1; done
in_box() { nsenter -t "$init" -a /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin SYSTEMD_PAGER= "$@"; }
prop() { in_box systemctl show -P "$1" kiosk.service 2>/dev/null || true; }
if [ -z "$init" ]; then
  bad "systemd-nspawn did not boot the root"; cat "$work/nspawn.log"
else
  for _ in $(seq 60); do in_box systemctl is-system-running >/dev/null 2>&1 && break
    case $(in_box systemctl is-system-running 2>/dev/null) in running|degraded) break;; esac; sleep 0.5; done
  t=$SECONDS
  if in_box timeout 150 systemctl start kiosk.service; then
    ok "systemctl start kiosk: active after $((SECONDS - t)) s (Type=notify: READY=1 received)"
  else
    bad "systemctl start kiosk failed"; in_box journalctl -u kiosk --no-pager | tail -n 20
  fi
  check "seatd.service is active beside it" in_box systemctl is-active seatd.service
  st=$(prop StatusText)
  if [ "$st" = "kiosk K01 serving" ]; then ok "status text: $st"; else bad "status text: '$st'"; fi
  cg=$(prop ControlGroup)
  kpid=$(named kiosk "$init")
  if [ -n "$kpid" ] && grep -q "$cg\$" "/proc/$kpid/cgroup"; then ok "the kiosk runs in the unit's cgroup ($cg)"; else bad "the kiosk is not in $cg"; fi
  if [ -n "$kpid" ]; then
    # A hung UI: stop the whole process; the pings stop with it.
    kill -STOP "$kpid"
    t=$SECONDS
    watchdog_fired() { grep -q 'Watchdog timeout' <<<"$(in_box journalctl -u kiosk --no-pager)"; }
    until watchdog_fired || [ $((SECONDS - t)) -ge 90 ]; do sleep 1; done
    if watchdog_fired; then
      ok "a hung UI: systemd's watchdog timeout $((SECONDS - t)) s after the pings stopped"
      grep -E 'Watchdog timeout|Killing process|process exited|Scheduled restart' \
        <<<"$(in_box journalctl -u kiosk --no-pager -o cat)" | head -n 6 | sed 's/^/        /' || true
    else
      bad "no watchdog timeout $((SECONDS - t)) s after the UI stopped"
      in_box journalctl -u kiosk --no-pager | grep -v ' cage\[' | tail -n 12 | sed 's/^/        /'
    fi
    for _ in $(seq 60); do [ "$(prop NRestarts)" -ge 1 ] 2>/dev/null && break; sleep 0.5; done
    check "restarted by systemd (NRestarts=$(prop NRestarts))" test "$(prop NRestarts)" -ge 1
    kill -CONT "$kpid" 2>/dev/null || true
    for _ in $(seq 60); do [ "$(prop ActiveState)" = active ] && break; sleep 0.5; done
    check "active again after the restart" test "$(prop ActiveState)" = active
    t=$SECONDS
    if in_box timeout 60 systemctl stop kiosk.service; then ok "systemctl stop kiosk: stopped in $((SECONDS - t)) s"; else bad "systemctl stop kiosk"; fi
    log=$(in_box journalctl -u kiosk --no-pager -o cat)
    check "the kiosk logged its orderly stop (SIGTERM, STOPPING=1)" grep -q 'stopping on signal' <<<"$log"
    check "its log lines reached the journal without colour codes" bash -c "grep -q 'kiosk::app' <<<\"\$1\" && ! grep -q \$'\\e\\[' <<<\"\$1\"" _ "$log"
  fi
  kill -TERM "$nspawn"
  for _ in $(seq 60); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$nspawn" 2>/dev/null && { bad "the container did not shut down"; kill -KILL "$nspawn"; }
  wait "$nspawn" 2>/dev/null || true
fi
nspawn=""
rm -rf "$root/etc/systemd/system/kiosk.service.d"
mount_api

step "upgrade keeps local edits and the journal; rollback; purge"
# A newer version of the same package: the control file's Version bumped.
rm -rf "$work/pkg"; dpkg-deb --raw-extract "$deb" "$work/pkg"
newer="${version%-*}-$(( ${version##*-} + 1 ))"
sed -i "s/^Version: .*/Version: $newer/" "$work/pkg/DEBIAN/control"
dpkg-deb --root-owner-group --build "$work/pkg" "$root/tmp/kiosk-newer.deb" >/dev/null
sed -i 's/^id = "K17"/id = "K23"/' "$root/etc/kiosk/kiosk.toml"
echo "the journal" >"$root/var/lib/kiosk/journal.db"
in_root chown kiosk:kiosk /var/lib/kiosk/journal.db
if apt_in_root install /tmp/kiosk-newer.deb >>"$work/apt.log" 2>&1; then ok "upgrade to $newer"; else bad "upgrade to $newer"; fi
check "upgrade kept the edited /etc/kiosk/kiosk.toml" grep -q '^id = "K23"' "$root/etc/kiosk/kiosk.toml"
check "upgrade kept /var/lib/kiosk/journal.db" grep -qx 'the journal' "$root/var/lib/kiosk/journal.db"
if apt_in_root install --allow-downgrades /tmp/kiosk.deb >>"$work/apt.log" 2>&1; then ok "rollback to $version"; else bad "rollback to $version"; fi
v=$(in_root dpkg-query -W -f '${Version}' kiosk || true)
check "installed version is $version again" test "$v" = "$version"
check "rollback kept the edited kiosk.toml and the journal" \
  bash -c "grep -q '^id = \"K23\"' '$root/etc/kiosk/kiosk.toml' && grep -qx 'the journal' '$root/var/lib/kiosk/journal.db'"
if apt_in_root purge kiosk >>"$work/apt.log" 2>&1; then ok "apt purge kiosk"; else bad "apt purge kiosk"; fi
check "purge removed the binary" test ! -e "$root/usr/bin/kiosk"
check "purge removed the conffiles" test ! -e "$root/etc/kiosk/hospital.toml"
check "purge kept the journal" grep -qx 'the journal' "$root/var/lib/kiosk/journal.db"

printf '\n%s in %d s\n' "$([ $fails -eq 0 ] && echo "test-deb: all checks passed" || echo "test-deb: $fails check(s) FAILED")" $((SECONDS - start))
[ $fails -eq 0 ]
