#!/usr/bin/env bash
# The stress run (issue 12 §5; not part of CI): the integration tests, and the GPIO and journal
# tests when root, on ONE CPU that busy processes keep loaded the whole time — a slow, busy Pi. Every race
# between a test and the daemon's own timing (a state read right after an unrelated event, a
# sleep assumed long enough) shows here long before it shows on a developer's machine.
#
#   npm run test:stress                         # set-up (as `npm test`), then the stress run
#   npm run test:stress -- --no-setup           # skip the set-up (after a build)
#   npm run test:stress -- dist/test/integration/alsa.test.js   # only these test files
#
# Environment: STRESS_CPU (default 0), STRESS_LOAD (busy processes, default 2), STRESS_LIMIT_S
# (hard bound of the whole run, default 3600).
#
# Why this load models a slow, busy Pi: the busy loops are plain shell loops at the SAME nice
# level as the tests, pinned to the same CPU. Under the kernel's fair scheduler each runnable
# task gets an equal share, so with 2 loops the test processes (node, the daemon, arecord, aplay,
# the rig's python feeder and drain, the dev-server) get about a third of one core when they all
# want it, and a task that wakes (a timer, a socket read, a child's exit) waits behind the loops'
# time slices. That is a single core 3× slower than this one (a Pi Zero 2 W's Cortex-A53 is
# about that much slower than a desktop core) with something else busy on it. Niced loops
# (nice 19) would model almost nothing: the fair scheduler gives a nice-19 task ~1.5 % of the
# CPU against a nice-0 one, so the tests would barely notice them.
set -euo pipefail
cd "$(dirname "$0")/.."

cpu=${STRESS_CPU:-0}
load=${STRESS_LOAD:-2}
limit=${STRESS_LIMIT_S:-3600}
setup=1
files=()
for a in "$@"; do
  case $a in
    --no-setup) setup=0 ;;
    -h | --help)
      sed -n '2,22p' "$0"
      exit 0
      ;;
    *) files+=("$a") ;;
  esac
done

if ((setup)); then
  # The same set-up as `npm test` (Debian packages as root, npm ci, typecheck, lint, build, demo).
  bash scripts/test.sh --setup-only
fi

# taskset is util-linux (Essential in Debian, so on every Debian and Raspberry Pi OS image);
# still, a minimal container may lack it.
if ! command -v taskset >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends util-linux
  else
    echo "taskset missing: sudo apt-get install -y util-linux" >&2
    exit 1
  fi
fi
[[ -d dist/test/integration ]] || {
  echo "no build in dist/: run without --no-setup, or npm run build" >&2
  exit 1
}
# Test files named on the command line: only those (no GPIO tests unless named).
explicit=0
label=integration
if ((${#files[@]} == 0)); then files=(dist/test/integration/*.test.js); else explicit=1 label=tests; fi

log=$(mktemp -d "${TMPDIR:-/tmp}/speakerd-stress.XXXXXX")
loaders=()
running=
stop_load() {
  # Only the processes this script started, by pid: each is a `timeout`, which passes the signal
  # on to its whole process group (the test runner, the daemons and rigs it spawned).
  if [[ -n $running ]]; then kill "$running" 2>/dev/null || true; fi
  for p in "${loaders[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${loaders[@]}"; do wait "$p" 2>/dev/null || true; done
  loaders=()
}
trap stop_load EXIT
# A second signal (Ctrl-C twice, or a group kill on top of a direct one) must not cut the clean-up.
trap 'trap "" INT TERM; echo "interrupted: stopping the tests and the load" >&2; exit 130' INT TERM
# Runs a bounded command in the background, its output to file $1, and waits for it: `wait`
# returns at once on a signal, so Ctrl-C or a kill of this script ends the tests and the load
# now, not when the tests finish. (The redirection is inside: one on the call would also catch
# what the traps print while it waits.)
run() {
  local out=$1
  shift
  "$@" >"$out" 2>&1 &
  running=$!
  local rc=0
  wait "$running" || rc=$?
  running=
  return "$rc"
}

echo "== stress: CPU $cpu, $load busy processes on it, at most $limit s; logs in $log"
for ((i = 0; i < load; i++)); do
  # Bounded even if this script is SIGKILLed: timeout ends the loop after the run's limit.
  timeout "$limit" taskset -c "$cpu" bash -c 'while :; do :; done' &
  loaders+=("$!")
done

t0=$SECONDS
node_rc=0
echo "== tests (taskset -c $cpu, under load): ${files[*]}"
run "$log/$label.tap" timeout -k 10 "$limit" taskset -c "$cpu" \
  node --test --test-concurrency=1 "${files[@]}" || node_rc=$?
node_s=$((SECONDS - t0))

gpio_rc=skipped
gpio_s=0
if [[ $(id -u) -eq 0 ]] && ((!explicit)); then
  echo "== GPIO tests (taskset -c $cpu, under load)"
  t1=$SECONDS
  gpio_rc=0
  run "$log/gpio.tap" timeout -k 10 600 taskset -c "$cpu" unshare -m --propagation private \
    bash test/fakes/gpio/fake-sysfs-ns.sh node --test --test-concurrency=1 dist/test/gpio/*.test.js ||
    gpio_rc=$?
  gpio_s=$((SECONDS - t1))
fi
journal_rc=skipped
journal_s=0
if [[ $(id -u) -eq 0 ]] && ((!explicit)); then
  echo "== journal tests (taskset -c $cpu, under load)"
  t2=$SECONDS
  journal_rc=0
  run "$log/journal.tap" timeout -k 10 600 taskset -c "$cpu" unshare -m --propagation private \
    bash test/fakes/journal/journal-ns.sh node --test --test-concurrency=1 dist/test/journal/*.test.js ||
    journal_rc=$?
  journal_s=$((SECONDS - t2))
fi
stop_load

count() { grep -E "^# $1 [0-9]+" "$2" | awk '{ n += $3 } END { print n + 0 }'; }
summary() {
  local name=$1 file=$2 rc=$3 secs=$4
  echo "$name: pass $(count pass "$file") fail $(count fail "$file") (exit $rc, ${secs} s)"
  grep -E "^not ok" "$file" | sed 's/^/  /' || true
}
echo "== stress summary (CPU $cpu, $load busy processes)"
summary "$label" "$log/$label.tap" "$node_rc" "$node_s"
if [[ $gpio_rc != skipped ]]; then summary gpio "$log/gpio.tap" "$gpio_rc" "$gpio_s"; else
  echo "gpio: not run (needs root; runs only with the default file list)"
fi
if [[ $journal_rc != skipped ]]; then summary journal "$log/journal.tap" "$journal_rc" "$journal_s"; else
  echo "journal: not run (needs root; runs only with the default file list)"
fi
echo "full output: $log"
[[ $node_rc == 0 && ($gpio_rc == 0 || $gpio_rc == skipped) && ($journal_rc == 0 || $journal_rc == skipped) ]]
