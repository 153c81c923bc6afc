/**
 * The soak (issue "Proof at scale"): the real daemon (`speakerd run`, simulated button, the test
 * sound card when this machine has alsa-utils and python3, else `--sim` audio) against the
 * dev-server through the TCP fault proxy, both in this process so faults can be switched between
 * turns. Each turn: a fault drawn from a seeded PRNG is applied, the user presses during it, the
 * fault is cleared, then the user presses until a reply is heard — each wait bounded, a turn that
 * never completes is counted and the soak goes on. Timers are accelerated through the daemon's
 * config file only. The daemon's log is checked for states that outlived their deadline, for
 * error lines, and its RSS, file descriptors and children are read at the start and the end.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { type Config, configSchema, connectionSchema } from '../src/config/schema.js';
import { seededRandom } from '../src/core/random.js';
import { SPEECH_FIXTURE } from '../src/demo.js';
import { DevServer, type DevServerOptions } from '../src/devserver/index.js';
import { FaultProxy } from '../test/fakes/fault-proxy.js';
import { alsaAvailable, SoakAlsa } from './soak-alsa.js';
import { DeadlineMonitor, LogAudit, type Mismatch, type StuckState, stateLimits } from './soak-checks.js';
import { DaemonProcess, type Exit, type Gesture, type Resources } from './soak-daemon.js';
import { FAULTS, type FaultName, inject, type SoakWorld } from './soak-faults.js';

const MAIN_JS = fileURLToPath(new URL('../src/main.js', import.meta.url));

export interface SoakOptions {
  readonly turns: number;
  readonly seed: number;
  /** `auto`: the test sound card when available, else `--sim`. */
  readonly audio: 'auto' | 'alsa' | 'sim';
  /** Faults to draw from (default: all). */
  readonly faults?: readonly FaultName[];
  /**
   * push-to-talk (default): a press held `holdMs`, the release ends the utterance. toggle: a click,
   * the dev-server's VAD ends the utterance, the reply plays out and the device listens again
   * (auto mode); the user double-clicks to end the conversation once the reply was heard.
   */
  readonly buttonMode?: 'push-to-talk' | 'toggle';
  /** How long a press is held (push-to-talk). */
  readonly holdMs?: number;
  /** Slack a state gets past its deadline before it counts as stuck. */
  readonly marginMs?: number;
  /** A reply must be heard this soon after the fault cleared, or the turn failed. */
  readonly turnBoundMs?: number;
  /** Turns without faults before the resources are read the first time. */
  readonly warmupTurns?: number;
  /** Progress lines (one per turn when verbose, else every 10 %). */
  readonly progress?: (line: string) => void;
  readonly verbose?: boolean;
  /** Keep the daemon's whole output (and the soak's turn markers) in this file. */
  readonly logFile?: string;
  /** Keep every turn's result in the report (`--json --details`). */
  readonly turnDetails?: boolean;
  /** Ends the soak after the current turn; the report covers the turns done. */
  readonly signal?: AbortSignal;
}

/**
 * The daemon's timings, a tenth of the shipped ones where the schema allows it (the policy stays:
 * only the clock is faster). Push-to-talk makes a turn as long as the press plus its echo.
 */
export const SOAK_CONFIG = {
  connection: {
    handshakeTimeoutMs: 1000,
    helloTimeoutMs: 1000,
    pingIntervalMs: 500,
    pongTimeoutMs: 500,
    backoffBaseMs: 50,
    backoffCapMs: 1000,
    backoffResetMs: 3000,
    routineReconnectMs: 100,
    restartRetryForMs: 6000,
    authFailureWindowMs: 300,
  },
  conversation: {
    buttonMode: 'push-to-talk',
    listenDeadlineMs: 3000,
    replyDeadlineMs: 1500,
    speakingDeadlineMs: 1000,
    errorDisplayMs: 200,
    // Every event's outcome checked in the daemon; a breach is an error line the audit counts.
    checkInvariants: true,
  },
} as const;

/**
 * Toggle mode: the utterance ends when the dev-server's VAD hears the room's sentence end (up to
 * a second of silence, 2.6 s of words, then its 400 ms of silence), so listening needs longer than
 * a press does; the rest stays a tenth of the shipped timings.
 */
export const SOAK_TOGGLE_CONVERSATION = {
  ...SOAK_CONFIG.conversation,
  buttonMode: 'toggle',
  listenDeadlineMs: 6000,
} as const;

/**
 * Keys some builds have: the refused-token refresh rate bound (default 10 s) at a tenth too, or a
 * press after an auth rotation would wait for the shipped 10 s against a 3 s connect deadline.
 */
function optionalConnectionKeys(): Record<string, number> {
  return 'refreshMinIntervalMs' in connectionSchema.shape ? { refreshMinIntervalMs: 1000 } : {};
}

/** The dev-server's side: a short tail and a cap on the utterance (and so on the echoed reply). */
export const SOAK_SERVER = { maxUtteranceMs: 3000, ttsTailMs: 60, vadSilenceMs: 400 } as const;

const DEVICE_ID = '02:50:4f:41:4b:01';

export interface TurnResult {
  readonly n: number;
  readonly fault: FaultName | 'warm-up';
  readonly variant: string | undefined;
  readonly completed: boolean;
  /** Presses after the fault was cleared (0: the press made during the fault completed). */
  readonly presses: number;
  /** What each press after the clear that did not bring a reply ended in. */
  readonly missed: readonly string[];
  /** From the clear to the reply's end. */
  readonly recoveryMs: number;
  readonly ms: number;
}

export interface FaultStats {
  n: number;
  completed: number;
  multiPress: number;
  byDuringPress: number;
  recoveryMs: number[];
  missed: Record<string, number>;
}

export interface CrashRecord {
  readonly turn: number;
  readonly exit: Exit | undefined;
  readonly stderr: readonly string[];
  readonly stdout: readonly string[];
}

export interface SoakReport {
  readonly audio: 'alsa' | 'sim';
  readonly buttonMode: 'push-to-talk' | 'toggle';
  readonly seed: number;
  readonly attempted: number;
  readonly completed: number;
  readonly multiPress: number;
  readonly completedByDuringPress: number;
  readonly presses: number;
  readonly durationS: number;
  readonly turnsPerMin: number;
  readonly crashes: readonly CrashRecord[];
  readonly fatalLines: number;
  readonly unparsedLines: number;
  readonly stuck: readonly StuckState[];
  readonly mismatches: readonly Mismatch[];
  readonly unexpectedErrors: readonly {
    level: number;
    code: string;
    msg: string;
    context: string;
    time: string;
  }[];
  readonly expectedAuthErrors: number;
  readonly invariantLines: number;
  readonly serverErrors: readonly string[];
  readonly warnings: Readonly<Record<string, number>>;
  /** Every turn line of the run by trigger → outcome (presses during faults included). */
  readonly outcomes: Readonly<Record<string, number>>;
  readonly resources: { readonly start: Resources; readonly end: Resources };
  readonly fdTolerance: number;
  /** At the end, on this side: dev-server sessions and proxied TCP pairs still open (1 each: the live link). */
  readonly peerEnd: { readonly serverClients: number; readonly proxyPairs: number };
  readonly stop: { readonly code: number | null; readonly signal: string | null; readonly ms: number };
  readonly byFault: Readonly<Record<string, FaultStats>>;
  readonly failedTurns: readonly TurnResult[];
  readonly multiPressTurns: readonly TurnResult[];
  /** Every turn, with `turnDetails`. */
  readonly turns: readonly TurnResult[];
  readonly longestStates: Readonly<Record<string, { n: number; maxMs: number; limitMs: number | null }>>;
  readonly authRotation: string;
  readonly rig: {
    readonly drainRestarts: number;
    readonly streams: number;
    readonly errors: readonly string[];
  };
  readonly ok: boolean;
  readonly problems: readonly string[];
}

/** The quickest press after a release a person makes (a deliberate second press, not a bounce). */
const FINGER_MS = 150;

/** Open descriptors may differ by a socket in TIME_WAIT hand-over or an aplay pipe being closed. */
const FD_TOLERANCE = 2;

/** Runs the soak; whatever happens, every process, socket and temporary file it made is gone after. */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const cleanups: Array<() => unknown> = [];
  try {
    return await soak(o, cleanups);
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}

async function soak(o: SoakOptions, cleanups: Array<() => unknown>): Promise<SoakReport> {
  const random = seededRandom(o.seed);
  const holdMs = o.holdMs ?? 200;
  const toggle = o.buttonMode === 'toggle';
  // The turn a user gesture starts: a press in push-to-talk, a click in toggle mode.
  const talkTrigger = toggle ? 'click' : 'press';
  const marginMs = o.marginMs ?? 1000;
  const progress = o.progress ?? (() => undefined);
  const faults = o.faults && o.faults.length > 0 ? o.faults : FAULTS;
  const useAlsa = o.audio === 'alsa' || (o.audio === 'auto' && alsaAvailable());
  if (o.audio === 'alsa' && !alsaAvailable()) throw new Error('--alsa: arecord, aplay or python3 is missing');
  const dir = mkdtempSync(join(tmpdir(), 'speakerd-soak-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const serverErrors: string[] = [];
  const serverLog = pino(
    { level: 'error' },
    {
      write(line: string): void {
        if (serverErrors.length < 50) serverErrors.push(line.trim().slice(0, 400));
      },
    },
  );
  const serverOptions: DevServerOptions = {
    host: '127.0.0.1',
    port: 0,
    ...SOAK_SERVER,
    auth: { key: randomBytes(16).toString('hex') },
    random: seededRandom(o.seed ^ 0x5eed),
  };
  const server = new DevServer(serverOptions, serverLog);
  await server.start();
  cleanups.push(() => server.stop());
  const proxy = new FaultProxy(server.port);
  await proxy.listen();
  cleanups.push(() => proxy.close());
  const alsa = useAlsa ? new SoakAlsa(join(dir, 'alsa')) : undefined;
  if (alsa) {
    cleanups.push(() => alsa.close());
    // The room says the fixture again and again, with a second of silence between.
    alsa.startMic(SPEECH_FIXTURE, 1);
    await alsa.startSpeaker(24000);
  }

  const clientId = randomUUID();
  const configPath = join(dir, 'config.json');
  const fileConfig = {
    server: {
      websocketUrl: `ws://127.0.0.1:${proxy.port}/xiaozhi/v1/`,
      token: server.issueToken(clientId, DEVICE_ID),
    },
    identity: { deviceId: DEVICE_ID, clientId },
    stateDir: join(dir, 'state'),
    hardware: 'simulated',
    logLevel: 'debug',
    connection: { ...SOAK_CONFIG.connection, ...optionalConnectionKeys() },
    conversation: toggle ? SOAK_TOGGLE_CONVERSATION : SOAK_CONFIG.conversation,
    ...(alsa ? { audio: { captureDevice: 'fakemic', playbackDevice: 'fakespk' } } : {}),
  };
  const writeConfig = () => {
    // Atomic, so a credential refresh never reads half a file.
    const tmp = `${configPath}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(fileConfig, null, 2)}\n`);
    renameSync(tmp, configPath);
  };
  writeConfig();
  const config: Config = configSchema.parse(fileConfig);
  const limits = stateLimits(config, SOAK_SERVER);
  const conv = limits.conversation;
  // One press: the connect deadline, listening, the longest reply, the error display, and slack.
  const pressBoundMs =
    (conv.connecting ?? 0) + (conv.listening ?? 0) + (conv.speaking ?? 0) + (conv.error ?? 0) + 2 * marginMs;
  const restBoundMs = pressBoundMs;
  const turnBoundMs = o.turnBoundMs ?? 3 * pressBoundMs;

  let context = 'start';
  const monitor = new DeadlineMonitor(limits, marginMs, 250, () => context);
  const audit = new LogAudit(
    () => context,
    (code, ctx) => code === 'E_AUTH_REJECTED' && ctx.startsWith('auth-rotation'),
  );
  const turnSeq = { n: 0 };
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
    ...(alsa?.env ?? {}),
  };
  const args = alsa ? ['--config', configPath] : ['--config', configPath, '--sim', '--mic', SPEECH_FIXTURE];
  const crashes: CrashRecord[] = [];
  let unparsed = 0;
  let turnNo = 0;

  const logOut = o.logFile ? createWriteStream(o.logFile) : undefined;
  if (logOut) cleanups.push(() => new Promise((resolve) => logOut.end(resolve)));
  const copy = logOut ? (line: string) => logOut.write(`${line}\n`) : undefined;
  const mark = (what: string) => copy?.(`[soak ${new Date().toISOString()}] ${what}`);
  const spawnDaemon = (): DaemonProcess => {
    const d = new DaemonProcess({ mainJs: MAIN_JS, args, env, ...(copy ? { copy } : {}) }, turnSeq);
    monitor.restart(Date.now());
    d.onRecord((r) => {
      monitor.feed(r);
      audit.feed(r);
    });
    return d;
  };
  let daemon = spawnDaemon();
  cleanups.push(() => daemon.alive && daemon.stop());

  const waitFor = async (pred: () => boolean, ms: number): Promise<boolean> => {
    const t0 = Date.now();
    while (!pred()) {
      if (!daemon.alive || Date.now() - t0 > ms) return false;
      await sleep(10);
    }
    return true;
  };
  const atRest = () => daemon.conversation === 'idle' || daemon.conversation === 'offline';
  const ready = () => daemon.conversation === 'idle' && daemon.link === 'ready';
  let lastGestureAt = 0;
  const gesture = (g: Gesture) => {
    lastGestureAt = Date.now();
    daemon.gesture(g);
  };
  const press = async () => {
    // A finger cannot press again sooner than this after the last release.
    const wait = lastGestureAt + FINGER_MS - Date.now();
    if (wait > 0) await sleep(wait);
    mark('press');
    if (toggle) {
      gesture('c');
      return;
    }
    gesture('p');
    await sleep(holdMs);
    gesture('r');
  };
  // A xinnan restart without a fixed auth_key: every token issued before is refused.
  const authMethod = 'rotateAuthKey';
  const world: SoakWorld = {
    server,
    proxy,
    random,
    holdMs,
    toggle,
    pressBoundMs,
    sleep: (ms) => sleep(ms),
    gesture: (g: Gesture) => {
      mark(`gesture ${g}`);
      gesture(g);
    },
    press,
    turnSeq: () => turnSeq.n,
    waitFor,
    conversation: () => daemon.conversation,
    turnEndedAfter: (seq) => turnSeq.n > seq,
    rotateAuthKey: () => server.rotateAuthKey(),
    provisionToken: () => {
      fileConfig.server.token = server.issueToken(clientId, DEVICE_ID);
      writeConfig();
    },
  };

  /** A crashed daemon is restarted like systemd would (Restart=always) and the soak goes on. */
  const checkCrash = async (): Promise<boolean> => {
    if (daemon.alive) return false;
    await daemon.exited;
    crashes.push({
      turn: turnNo,
      exit: daemon.exit,
      stderr: [...daemon.stderrTail],
      stdout: [...daemon.tail],
    });
    unparsed += daemon.unparsed;
    progress(`turn ${turnNo}: the daemon exited (${JSON.stringify(daemon.exit)}); restarting it`);
    daemon = spawnDaemon();
    await waitFor(ready, 15_000);
    return true;
  };

  /** After the clear: the user presses until a reply is heard (a press made during the fault may bring it). */
  const recover = async (): Promise<{
    completed: boolean;
    presses: number;
    missed: string[];
    ms: number;
  }> => {
    const t0 = Date.now();
    const from = turnSeq.n;
    const missed: string[] = [];
    let presses = 0;
    const replied = (after: number) =>
      daemon.turnsAfter(after).some(
        (t) =>
          // In toggle mode a conversation the fault's click started may answer on its auto turn.
          (t.trigger === talkTrigger || (toggle && t.trigger === 'auto')) &&
          t.outcome === 'reply' &&
          t.packetsPlayed > 0,
      );
    const done = async () => {
      // Toggle mode listens again after the reply: the user ends the conversation (double click).
      if (toggle && !atRest()) {
        gesture('d');
        await waitFor(atRest, restBoundMs);
      }
      return { completed: true, presses, missed, ms: Date.now() - t0 };
    };
    while (Date.now() - t0 < turnBoundMs) {
      // The user waits for the device to be at rest (LEDs off, or the offline blink) before pressing.
      await waitFor(() => replied(from) || atRest(), Math.min(restBoundMs, turnBoundMs - (Date.now() - t0)));
      if (replied(from)) return done();
      if (!daemon.alive || Date.now() - t0 >= turnBoundMs) break;
      if (!atRest()) missed.push(`not at rest after ${restBoundMs} ms (${daemon.conversation})`);
      const seq = turnSeq.n;
      presses++;
      await press();
      const ended = await waitFor(
        () => daemon.turnsAfter(seq).some((t) => t.trigger === talkTrigger),
        pressBoundMs,
      );
      if (replied(seq)) return done();
      if (!ended) {
        missed.push(daemon.alive ? `no turn within ${pressBoundMs} ms` : 'daemon exited');
        continue;
      }
      const t = daemon.turnsAfter(seq).find((x) => x.trigger === talkTrigger);
      missed.push(t ? `${t.outcome}${t.outcome === 'reply' ? ' without audio' : ''}` : '?');
    }
    return { completed: false, presses, missed, ms: Date.now() - t0 };
  };

  const results: TurnResult[] = [];
  const byFault: Record<string, FaultStats> = {};
  const started = Date.now();
  if (!(await waitFor(ready, 15_000))) {
    throw new Error(
      `the daemon did not get ready (conversation ${daemon.conversation}, link ${daemon.link}):\n${daemon.tail.join('\n')}\n${daemon.stderrTail.join('\n')}`,
    );
  }
  const warmup = o.warmupTurns ?? 3;
  for (let i = 0; i < warmup; i++) {
    context = 'warm-up';
    const r = await recover();
    if (!r.completed) throw new Error(`warm-up turn ${i + 1} did not complete: ${r.missed.join(', ')}`);
  }
  await settle();
  const start = daemon.resources();
  const soakStart = Date.now();
  for (turnNo = 1; turnNo <= o.turns && o.signal?.aborted !== true; turnNo++) {
    const t0 = Date.now();
    const fault = faults[Math.floor(random() * faults.length)] ?? 'reset';
    context = `${fault} (turn ${turnNo}, injected)`;
    mark(context);
    const injected = await inject(fault, world);
    context = `${fault} (turn ${turnNo}, cleared)`;
    injected.clear();
    mark(`${context}${injected.variant ? ` (${injected.variant})` : ''}`);
    const crashedBefore = await checkCrash();
    const r = crashedBefore
      ? { completed: false, presses: 0, missed: ['daemon exited'], ms: 0 }
      : await recover();
    await checkCrash();
    const result: TurnResult = {
      n: turnNo,
      fault,
      variant: injected.variant,
      completed: r.completed,
      presses: r.presses,
      missed: r.missed,
      recoveryMs: r.ms,
      ms: Date.now() - t0,
    };
    results.push(result);
    const s = byFault[fault] ?? {
      n: 0,
      completed: 0,
      multiPress: 0,
      byDuringPress: 0,
      recoveryMs: [],
      missed: {},
    };
    byFault[fault] = s;
    s.n++;
    if (r.completed) {
      s.completed++;
      s.recoveryMs.push(r.ms);
    }
    if (r.presses > 1) s.multiPress++;
    if (r.completed && r.presses === 0) s.byDuringPress++;
    for (const m of r.missed) s.missed[m] = (s.missed[m] ?? 0) + 1;
    const line = `turn ${turnNo}/${o.turns} ${fault}${injected.variant ? ` (${injected.variant})` : ''}: ${
      r.completed ? 'reply' : 'FAILED'
    } after ${r.presses} press${r.presses === 1 ? '' : 'es'}${r.missed.length ? ` [${r.missed.join('; ')}]` : ''} in ${(
      result.ms / 1000
    ).toFixed(1)} s`;
    if (o.verbose || !r.completed || r.presses > 1) progress(line);
    else if (turnNo % Math.max(1, Math.round(o.turns / 10)) === 0) {
      const rate = (turnNo / ((Date.now() - soakStart) / 60_000)).toFixed(0);
      progress(`turn ${turnNo}/${o.turns} · ${rate} turns/min · rss ${daemon.resources().rssKb} kB`);
    }
  }
  context = 'end';
  // Everything off, the device back at rest and online, then the same reading as at the start.
  server.setFaults({
    closeAfterHello: false,
    noHello: false,
    garbage: false,
    stopTtsMidway: false,
    closeDuringTts: false,
  });
  proxy.setMode('pass');
  await checkCrash();
  await settle();
  const end = daemon.resources();
  const peerEnd = { serverClients: server.clients, proxyPairs: proxy.connections };
  monitor.finish(Date.now());
  unparsed += daemon.unparsed;
  const stopped = await daemon.stop();
  const stop = { code: stopped.exit.code, signal: stopped.exit.signal, ms: stopped.ms };

  async function settle(): Promise<void> {
    await waitFor(ready, 15_000);
    // aplay of the last reply drains and exits; arecord (ALSA) stays.
    const expected = alsa ? 1 : 0;
    await waitFor(() => daemon.resources().children.length <= expected, 5_000);
    await sleep(1_000);
  }

  const durationS = (Date.now() - started) / 1000;
  const completed = results.filter((r) => r.completed).length;
  const longestStates: Record<string, { n: number; maxMs: number; limitMs: number | null }> = {};
  for (const [key, v] of [...monitor.longest.entries()].sort()) {
    const [machine, state] = key.split(' ') as [keyof typeof limits, string];
    longestStates[key] = { ...v, limitMs: limits[machine]?.[state] ?? null };
  }
  const problems: string[] = [];
  if (crashes.length > 0) problems.push(`${crashes.length} crash(es)`);
  if (audit.fatal > 0) problems.push(`${audit.fatal} fatal log line(s)`);
  if (monitor.stuck.length > 0) problems.push(`${monitor.stuck.length} state(s) outlived their deadline`);
  if (monitor.mismatches.length > 0)
    problems.push(
      `${monitor.mismatches.length} time(s) the conversation showed idle/listening/speaking without a link`,
    );
  if (completed < results.length) problems.push(`${results.length - completed} turn(s) never completed`);
  if (audit.unexpected.length > 0) problems.push(`${audit.unexpected.length} unexpected error line(s)`);
  if (audit.invariant > 0) problems.push(`${audit.invariant} invariant line(s)`);
  if (end.fds > start.fds + FD_TOLERANCE) problems.push(`fds grew ${start.fds} → ${end.fds}`);
  if (end.children.length > start.children.length)
    problems.push(
      `children grew ${start.children.length} → ${end.children.length} (${end.children.join(', ')})`,
    );
  if (stop.code !== 0) problems.push(`stop ended with ${stop.code ?? stop.signal}`);
  const soakMs = results.reduce((a, r) => a + r.ms, 0);
  return {
    audio: alsa ? 'alsa' : 'sim',
    buttonMode: toggle ? 'toggle' : 'push-to-talk',
    seed: o.seed,
    attempted: results.length,
    completed,
    multiPress: results.filter((r) => r.presses > 1).length,
    completedByDuringPress: results.filter((r) => r.completed && r.presses === 0).length,
    presses: results.reduce((a, r) => a + r.presses, 0),
    durationS,
    turnsPerMin: soakMs > 0 ? results.length / (soakMs / 60_000) : 0,
    crashes,
    fatalLines: audit.fatal,
    unparsedLines: unparsed,
    stuck: monitor.stuck,
    mismatches: monitor.mismatches,
    unexpectedErrors: audit.unexpected,
    expectedAuthErrors: audit.expectedAuthErrors,
    invariantLines: audit.invariant,
    serverErrors,
    warnings: Object.fromEntries([...audit.warnings.entries()].sort((a, b) => b[1] - a[1])),
    outcomes: Object.fromEntries([...audit.outcomes.entries()].sort((a, b) => b[1] - a[1])),
    resources: { start, end },
    fdTolerance: FD_TOLERANCE,
    peerEnd,
    stop,
    byFault,
    failedTurns: results.filter((r) => !r.completed),
    multiPressTurns: results.filter((r) => r.presses > 1).slice(0, 50),
    turns: o.turnDetails ? results : [],
    longestStates,
    authRotation: authMethod,
    rig: { drainRestarts: alsa?.drainRestarts ?? 0, streams: alsa?.streams ?? 0, errors: alsa?.errors ?? [] },
    ok: problems.length === 0,
    problems,
  };
}
