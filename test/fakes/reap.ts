import type { ChildProcess } from 'node:child_process';

/** SIGKILLs every child (a SIGSTOPped feeder ignores SIGTERM) and resolves once each has exited. */
export async function killAndReap(children: Iterable<ChildProcess>): Promise<void> {
  const all = [...children];
  const exits = all.map(
    (p) =>
      new Promise<void>((resolve) =>
        p.exitCode !== null || p.signalCode !== null ? resolve() : p.once('exit', () => resolve()),
      ),
  );
  for (const p of all) p.kill('SIGKILL');
  await Promise.all(exits);
}
