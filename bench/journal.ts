/**
 * `journal` row of `npm run bench` (issue 13 §1, README "Running a fleet"): the CPU cost of logging
 * natively (one journal entry with fields per record) against today's `<N>`-prefixed JSON lines,
 * per 1,000 records, side by side in one child process (bench/journal-child.ts).
 *
 * libsystemd always sends to /run/systemd/journal/socket, and this machine has no journald: the
 * child runs in the tests' private journal namespace (test/fakes/journal/journal-ns.sh, as root: a
 * directory of its own bound over /run/systemd/journal, nothing created on the host) with a
 * receiver reading that socket the way journald does (one datagram per recv; it counts them, so a
 * lost record shows). The receiver's own CPU is not counted: journald
 * spends it on a device either way (parsing a native entry or a stream line).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { benchScript, run, tail } from './children.js';
import { Skipped } from './stats.js';

export interface JournalCost {
  readonly records: number;
  /** CPU ms (user + sys of the logging process) per 1,000 records. */
  readonly nativePer1000Ms: number;
  readonly linesPer1000Ms: number;
  /** Datagrams the receiver got (== records sent natively, warm-up included). */
  readonly received: number;
  readonly sent: number;
}

/** The tests' private journal namespace (it refuses to run outside one: test/fakes/private-ns.sh). */
const JOURNAL_NS = fileURLToPath(new URL('../../test/fakes/journal/journal-ns.sh', import.meta.url));

/** A datagram reader on the journal socket, as journald's native source (journald-native.c). */
const RECEIVER = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind('/run/systemd/journal/socket')
open('/run/systemd/journal/.ready', 'w').close()
n = 0
s.settimeout(2.0)
while True:
    try:
        s.recv(1 << 17)
        n += 1
    except socket.timeout:
        if os.path.exists('/run/systemd/journal/.done'):
            break
print(n, file=sys.stderr)
`;

export async function measureJournalCost(perRound: number, rounds: number): Promise<JournalCost> {
  if (process.getuid?.() !== 0)
    throw new Skipped('needs root: a private mount namespace for the journal socket');
  if (!existsSync('/usr/bin/unshare')) throw new Skipped('unshare (util-linux) not found');
  const child = benchScript('journal-child.js');
  // Inside the namespace /run/systemd/journal is the rig's own directory ($FAKE_JOURNAL_DIR). The
  // receiver goes first and says when its socket is bound; `.done` ends it once the child has
  // finished (it then drains what is queued and prints its count).
  const script = [
    'set -eo pipefail',
    'cd /run/systemd/journal',
    `python3 -c "$RECEIVER" 2>received & rpid=$!`,
    'for _ in $(seq 100); do [ -e .ready ] && break; sleep 0.05; done',
    // stdout (the `<N>` lines) through a pipe someone drains, as journald drains a unit's stdout.
    `node "$CHILD" ${perRound} ${rounds} 2>child | cat >/dev/null || { cat child >&2; exit 3; }`,
    'touch .done',
    'wait "$rpid"',
    'cat child >&2',
    'echo "{\\"received\\": $(cat received)}" >&2',
  ].join('\n');
  const ns = ['-m', '--propagation', 'private', 'bash', JOURNAL_NS, 'bash', '-c', script];
  const r = await run('unshare', ns, {
    timeoutMs: 120_000,
    env: { ...process.env, RECEIVER, CHILD: child },
  });
  if (r.code !== 0)
    throw new Error(`journal child failed (${r.error ?? `exit ${r.code}`}): ${tail(r.stderr)}`);
  const lines = r.stderr.trim().split('\n');
  const result = JSON.parse(lines.at(-2) ?? '{}') as unknown;
  const received = JSON.parse(lines.at(-1) ?? '{}') as unknown;
  if (!isChildResult(result) || !isReceived(received))
    throw new Error(`unexpected output: ${tail(r.stderr)}`);
  if (result.refused > 0) throw new Error(`${result.refused} records refused by the journal socket`);
  return {
    records: result.records,
    nativePer1000Ms: (result.cpuMs.native / result.records) * 1000,
    linesPer1000Ms: (result.cpuMs.lines / result.records) * 1000,
    received: received.received,
    sent: result.nativeSent,
  };
}

interface ChildResult {
  records: number;
  nativeSent: number;
  refused: number;
  cpuMs: { native: number; lines: number };
}

function isChildResult(v: unknown): v is ChildResult {
  if (typeof v !== 'object' || v === null) return false;
  const o: Record<string, unknown> = { ...v };
  const cpu = o.cpuMs;
  return (
    typeof o.records === 'number' &&
    typeof o.nativeSent === 'number' &&
    typeof o.refused === 'number' &&
    typeof cpu === 'object' &&
    cpu !== null &&
    'native' in cpu &&
    typeof cpu.native === 'number' &&
    'lines' in cpu &&
    typeof cpu.lines === 'number'
  );
}

function isReceived(v: unknown): v is { received: number } {
  return typeof v === 'object' && v !== null && 'received' in v && typeof v.received === 'number';
}
