# shellcheck shell=bash
# Sourced by the rigs that mount over system paths (gpio/fake-sysfs-ns.sh, journal/journal-ns.sh).
#
# require_private_mount_ns WHAT USAGE: never mount over the real WHAT. Some ancestor (PID 1 when
# /proc/1 is readable, else the shell that ran unshare) must be in another mount namespace than
# this script; an unreadable ancestor (/proc/1/ns is EACCES even for root in some VMs) proves
# nothing, so it is skipped. Then the namespace's mounts are made private: `unshare -m
# --propagation unchanged` would leave them shared with the outside. Calls the caller's `die`.
require_private_mount_ns() {
  local what=$1 usage=$2 own_ns separate='' pid=$$ ns
  own_ns=$(readlink /proc/self/ns/mnt) || die "cannot read /proc/self/ns/mnt"
  while [[ $pid -gt 1 ]]; do
    pid=$(awk '$1 == "PPid:" { print $2 }' "/proc/$pid/status") || die "cannot read /proc/$pid/status"
    [[ -n $pid && $pid -ge 1 ]] || break
    if ns=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null) && [[ $ns != "$own_ns" ]]; then
      separate=$pid
      break
    fi
  done
  [[ -n $separate ]] ||
    die "refusing to mount over $what: not inside a private mount namespace (no ancestor process is in another one than $own_ns). Run: $usage"
  mount --make-rprivate / || die "cannot make the mounts of this namespace private"
}
