/**
 * Waits for a condition of a real-time integration test (sockets and child processes do not
 * follow a manual clock): polls every 10 ms, rejects after `ms` with `context()` in the message.
 */
export async function pollUntil(
  what: string,
  pred: () => boolean,
  ms: number,
  context: () => string,
): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what} (${context()})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
