#!/usr/bin/env bash
# Runs CMD with a fake /sys/class/gpio (fakegpiofs, FUSE) that only this mount namespace sees, so the
# real onoff can be tested on a machine without GPIOLIB (test-infra.md §2.2). Usage, as root:
#
#   unshare -m --propagation private bash test/fakes/gpio/fake-sysfs-ns.sh CMD [ARGS...]
#
# The environment passes through to fakegpiofs and CMD (FAKEGPIO_CHIPS, FAKEGPIO_BUSY, FAKEGPIO_HIGH,
# FAKEGPIO_TRACE: see fakegpiofs.c). Without FAKEGPIO_TRACE a temporary trace file is made (and
# removed at the end) and its path exported, so CMD can always read what every line went through. Exits with CMD's code; 2 when the rig itself cannot be set up.
# The rest of /sys/class (net, tty, ...) stays visible: each entry is bind-mounted into the new
# /sys/class, because the daemon reads /sys/class/net too.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
src=$here/fakegpiofs.c
bin=$repo/dist/test/fakes/gpio/fakegpiofs
gpio=/sys/class/gpio
usage="unshare -m --propagation private bash test/fakes/gpio/fake-sysfs-ns.sh CMD [ARGS...]"

die() {
  echo "fake-sysfs-ns.sh: $*" >&2
  exit 2
}

(($# > 0)) || die "no command given; usage: $usage"
[[ $(id -u) -eq 0 ]] || die "must run as root (it mounts a tmpfs and a FUSE file system); usage: $usage"

# shellcheck source=test/fakes/private-ns.sh
source "$(dirname "${BASH_SOURCE[0]}")/../private-ns.sh"
require_private_mount_ns "/sys/class" "$usage"

# Build (or rebuild after an edit) into dist; a temporary name and mv keep parallel runs safe.
if [[ ! -x $bin || $src -nt $bin ]]; then
  command -v gcc >/dev/null || die "gcc missing: apt-get install -y gcc libfuse3-dev fuse3 pkg-config"
  pkg-config --exists fuse3 2>/dev/null ||
    die "libfuse3 headers missing: apt-get install -y libfuse3-dev fuse3 pkg-config"
  read -ra fuse_flags < <(pkg-config --cflags --libs fuse3)
  mkdir -p "$(dirname "$bin")" || die "cannot create $(dirname "$bin")"
  gcc -Wall -Wextra -O2 -o "$bin.$$" "$src" "${fuse_flags[@]}" || die "cannot compile $src"
  mv -f "$bin.$$" "$bin" || die "cannot install $bin"
fi

stage=
fuse_pid=
cmd_pid=
own_trace=
mounted() { awk -v m="$gpio" '$5 == m && / - fuse\.fakegpiofs / { found = 1 } END { exit !found }' /proc/self/mountinfo; }
# shellcheck disable=SC2317 # run by the EXIT trap, which shellcheck cannot follow
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n $cmd_pid ]] && kill -0 "$cmd_pid" 2>/dev/null; then
    kill -TERM "$cmd_pid" 2>/dev/null
    wait "$cmd_pid" 2>/dev/null
  fi
  local lazy=
  if mounted; then
    # Lazily when CMD left a child holding a file open: the namespace dies with us anyway.
    umount "$gpio" 2>/dev/null || { umount -l "$gpio" && lazy=1; } ||
      echo "fake-sysfs-ns.sh: cannot unmount $gpio" >&2
  fi
  if [[ -n $fuse_pid ]]; then
    # fakegpiofs leaves its loop once unmounted and the last file is closed: a bounded wait, then
    # KILL after a lazy unmount (TERM would make it retry the unmount and complain), else TERM, KILL.
    for _ in $(seq 40); do kill -0 "$fuse_pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$fuse_pid" 2>/dev/null; then
      [[ -n $lazy ]] || { kill -TERM "$fuse_pid" 2>/dev/null && sleep 0.2; }
      kill -KILL "$fuse_pid" 2>/dev/null
    fi
    wait "$fuse_pid" 2>/dev/null
  fi
  [[ -n $own_trace ]] && rm -f "$own_trace"
  if [[ -n $stage && -d $stage ]]; then
    mountpoint -q "$stage" && umount -R "$stage"
    rmdir "$stage"
  fi
  exit "$rc"
}
trap cleanup EXIT
# A signal to this script (timeout, Ctrl-C) reaches CMD as TERM: asynchronous commands of a
# non-interactive shell ignore INT, TERM they do not.
# shellcheck disable=SC2317 # run by the INT/TERM/HUP trap
forward() {
  [[ -n $cmd_pid ]] && kill -TERM "$cmd_pid" 2>/dev/null
  exit 143
}
trap forward INT TERM HUP

# A new /sys/class assembled on a staging tmpfs, then moved into place in one step.
stage=$(mktemp -d /tmp/fake-sysfs-class.XXXXXX) || die "mktemp failed"
mount -t tmpfs -o size=64k,mode=0755 fakesysclass "$stage" || die "cannot mount a tmpfs on $stage"
for entry in /sys/class/*; do
  name=${entry##*/}
  [[ $name == gpio ]] && continue # a real Pi has one: ours replaces it
  mkdir "$stage/$name" || die "cannot create $stage/$name"
  mount --bind "$entry" "$stage/$name" || die "cannot bind $entry"
done
mkdir "$stage/gpio" || die "cannot create $stage/gpio"
mount --move "$stage" /sys/class || die "cannot move the new /sys/class into place"
rmdir "$stage" || die "cannot remove $stage"
stage=

if [[ -z ${FAKEGPIO_TRACE:-} ]]; then
  own_trace=$(mktemp /tmp/fakegpio-trace.XXXXXX) || die "mktemp failed"
  FAKEGPIO_TRACE=$own_trace
fi
export FAKEGPIO_TRACE

"$bin" -f -s -o allow_other,default_permissions,fsname=fakegpiofs,subtype=fakegpiofs "$gpio" &
fuse_pid=$!
for _ in $(seq 100); do
  mounted && break
  kill -0 "$fuse_pid" 2>/dev/null || die "fakegpiofs exited before mounting (see its message above)"
  sleep 0.05
done
mounted || die "fakegpiofs did not mount $gpio within 5 s"

# In the background so that a signal to this script runs its trap at once; <&0 keeps CMD's stdin.
"$@" <&0 &
cmd_pid=$!
wait "$cmd_pid"
rc=$?
cmd_pid=
exit "$rc"
