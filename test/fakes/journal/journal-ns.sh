#!/usr/bin/env bash
# Runs CMD with an empty, private /run/systemd/journal that only this mount namespace sees, so a
# test can play journald: libsystemd's sd_journal_sendv (and `logger --journald`) always send to
# /run/systemd/journal/socket, and the test binds its receiver there
# (test/fakes/journal/test_journald.py, test/fakes/test-journald.ts). Usage, as root:
#
#   unshare -m --propagation private bash test/fakes/journal/journal-ns.sh CMD [ARGS...]
#
# The directory behind /run/systemd/journal is a fresh temporary one (exported as
# FAKE_JOURNAL_DIR, removed at the end). When /run/systemd/journal does not exist (no journald
# on this machine), nothing is created on the host: its deepest existing ancestor is replaced,
# in this namespace only, by a tmpfs copy whose entries are bind mounts of the originals (as
# fake-sysfs-ns.sh does for /sys/class), with the missing directories added.
# Exits with CMD's code; 2 when the rig itself cannot be set up.
set -uo pipefail

readonly target=/run/systemd/journal
usage="unshare -m --propagation private bash test/fakes/journal/journal-ns.sh CMD [ARGS...]"

die() {
  echo "journal-ns.sh: $*" >&2
  exit 2
}

(($# > 0)) || die "no command given; usage: $usage"
[[ $(id -u) -eq 0 ]] || die "must run as root (it mounts over $target); usage: $usage"

# shellcheck source=test/fakes/private-ns.sh
source "$(dirname "${BASH_SOURCE[0]}")/../private-ns.sh"
require_private_mount_ns "$target" "$usage"

stage=
dir=
cmd_pid=
# shellcheck disable=SC2317 # run by the EXIT trap, which shellcheck cannot follow
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n $cmd_pid ]] && kill -0 "$cmd_pid" 2>/dev/null; then
    kill -TERM "$cmd_pid" 2>/dev/null
    wait "$cmd_pid" 2>/dev/null
  fi
  # The mounts die with the namespace; the temporary directories are on the host's /tmp.
  if [[ -n $stage && -d $stage ]]; then
    mountpoint -q "$stage" && umount -R "$stage"
    rmdir "$stage"
  fi
  if [[ -n $dir && -d $dir ]]; then
    mountpoint -q "$target" && umount "$target"
    rm -rf -- "$dir"
  fi
  exit "$rc"
}
trap cleanup EXIT
# shellcheck disable=SC2317 # run by the INT/TERM/HUP trap
forward() {
  [[ -n $cmd_pid ]] && kill -TERM "$cmd_pid" 2>/dev/null
  exit 143
}
trap forward INT TERM HUP

dir=$(mktemp -d /tmp/fake-journal.XXXXXX) || die "mktemp failed"
chmod 0755 "$dir" || die "cannot chmod $dir"

if [[ ! -d $target ]]; then
  anc=$target
  while [[ ! -d $anc ]]; do anc=$(dirname "$anc"); done
  stage=$(mktemp -d /tmp/fake-journal-stage.XXXXXX) || die "mktemp failed"
  mount -t tmpfs -o size=64k,mode="$(stat -c %a "$anc")" fakerun "$stage" || die "cannot mount a tmpfs on $stage"
  shopt -s dotglob nullglob
  for entry in "$anc"/*; do
    name=${entry##*/}
    if [[ -L $entry ]]; then
      cp -P -- "$entry" "$stage/$name" || die "cannot copy the symlink $entry"
    elif [[ -d $entry ]]; then
      mkdir -- "$stage/$name" || die "cannot create $stage/$name"
      mount --rbind -- "$entry" "$stage/$name" || die "cannot bind $entry"
    else
      : >"$stage/$name" || die "cannot create $stage/$name"
      mount --bind -- "$entry" "$stage/$name" || die "cannot bind $entry"
    fi
  done
  shopt -u dotglob nullglob
  mkdir -p -- "$stage/${target#"$anc"/}" || die "cannot create ${target#"$anc"/} in the copy of $anc"
  mount --move "$stage" "$anc" || die "cannot move the copy of $anc into place"
  rmdir "$stage" || die "cannot remove $stage"
  stage=
fi
mount --bind "$dir" "$target" || die "cannot bind $dir over $target"
export FAKE_JOURNAL_DIR=$dir

# In the background so that a signal to this script runs its trap at once; <&0 keeps CMD's stdin.
"$@" <&0 &
cmd_pid=$!
wait "$cmd_pid"
rc=$?
cmd_pid=
exit "$rc"
