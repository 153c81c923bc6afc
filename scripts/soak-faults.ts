/**
 * The core issue's fault list, as the soak injects them between turns: the dev-server's switches,
 * the TCP fault proxy, the server's auth key, and the button. Each fault is applied, the user
 * presses the button while it lasts (a press held for a moment, then released), and the fault is
 * cleared; what happens after the clear is the runner's business (soak-run.ts).
 */
import type { Random } from '../src/core/random.js';
import type { DevServer } from '../src/devserver/index.js';
import type { FaultProxy } from '../test/fakes/fault-proxy.js';
import type { Gesture } from './soak-daemon.js';

export const FAULTS = [
  'close-after-hello',
  'no-hello',
  'blackhole',
  'reset',
  'refuse',
  'auth-rotation',
  'garbage',
  'tts-cut',
  'button-spam',
] as const;
export type FaultName = (typeof FAULTS)[number];

export function isFaultName(s: string): s is FaultName {
  return (FAULTS as readonly string[]).includes(s);
}

/** What a fault acts on: the runner implements it. */
export interface SoakWorld {
  readonly server: DevServer;
  readonly proxy: FaultProxy;
  readonly random: Random;
  sleep(ms: number): Promise<void>;
  gesture(g: Gesture): void;
  /** Talk: press, hold for the configured time, release (toggle mode: a click). */
  press(): Promise<void>;
  readonly holdMs: number;
  /** Toggle mode: a click talks (no press to hold); push-to-talk otherwise. */
  readonly toggle: boolean;
  /** The last turn line's running number. */
  turnSeq(): number;
  /** Resolves true once `pred` holds (polled), false after `ms` or when the daemon died. */
  waitFor(pred: () => boolean, ms: number): Promise<boolean>;
  /** The conversation state the daemon logged last. */
  conversation(): string;
  /** A turn line (any trigger) after `seq`. */
  turnEndedAfter(seq: number): boolean;
  /** How long a single press's turn may take at most (every state on its deadline). */
  readonly pressBoundMs: number;
  /** A new server key: the device's token is refused from now on. */
  rotateAuthKey(): void;
  /** A fresh token for the new key where the device's credential source finds it (its config). */
  provisionToken(): void;
}

export interface InjectedFault {
  /** A detail worth reporting (e.g. the TTS-cut variant). */
  readonly variant?: string;
  clear(): void;
}

/** Uniform integer in [lo, hi]. */
export function between(random: Random, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}

/** Applies `name`, presses during it, and returns how to clear it. */
export async function inject(name: FaultName, w: SoakWorld): Promise<InjectedFault> {
  const { server, proxy, random } = w;
  switch (name) {
    case 'close-after-hello': {
      // The seed bug (design.md §1): every session is closed (1005) right after its hello; the
      // current one is closed the same way so the device reconnects into the fault.
      server.setFaults({ closeAfterHello: true });
      server.closeAll();
      await w.sleep(between(random, 0, 400));
      await w.press();
      await w.sleep(between(random, 100, 500));
      return { clear: () => server.setFaults({ closeAfterHello: false }) };
    }
    case 'no-hello': {
      server.setFaults({ noHello: true });
      server.closeAll();
      await w.sleep(between(random, 0, 500));
      await w.press();
      await w.sleep(between(random, 0, 500));
      return { clear: () => server.setFaults({ noHello: false }) };
    }
    case 'blackhole': {
      // Half-open: both ends see a live socket that never answers; only the heartbeat can tell.
      // It lasts past ping + pong (1 s here) so it is always the heartbeat that finds it.
      const t0 = Date.now();
      proxy.setMode('blackhole');
      await w.sleep(between(random, 0, 800));
      await w.press();
      await w.sleep(Math.max(0, 1200 - (Date.now() - t0)) + between(random, 0, 300));
      return {
        clear: () => {
          // A flow that went through the blackhole is dead for good (the proxy dropped bytes of
          // it, which TCP never does): the NAT resets it, new connections pass.
          proxy.setMode('pass');
          proxy.resetAll();
        },
      };
    }
    case 'reset': {
      // RST under a turn: while the button is held (toggle: while listening), or at a random
      // moment of the reply.
      if (random() < 0.5) {
        if (w.toggle) {
          // No button to hold: the click's turn listens, and the reset lands while it does.
          w.gesture('c');
          await w.sleep(between(random, 30, 1500));
          proxy.resetAll();
          return { variant: 'while listening', clear: () => undefined };
        }
        w.gesture('p');
        const at = between(random, 30, w.holdMs);
        await w.sleep(at);
        proxy.resetAll();
        await w.sleep(w.holdMs - at);
        w.gesture('r');
        return { variant: 'while held', clear: () => undefined };
      }
      await w.press();
      await w.sleep(between(random, 0, 900));
      proxy.resetAll();
      return { variant: 'after release', clear: () => undefined };
    }
    case 'refuse': {
      // The server is gone for a while: every connection is reset at once.
      proxy.setMode('refuse');
      proxy.resetAll();
      await w.sleep(between(random, 0, 500));
      await w.press();
      await w.sleep(between(random, 100, 600));
      return { clear: () => proxy.setMode('pass') };
    }
    case 'auth-rotation': {
      // A server restart with a new key (protocol.md §2.5): sessions end (1001), the device's
      // token is refused (认证失败) until its credential source has a fresh one.
      w.rotateAuthKey();
      server.closeAll(1001);
      await w.sleep(between(random, 0, 500));
      await w.press();
      await w.sleep(between(random, 100, 600));
      return { clear: () => w.provisionToken() };
    }
    case 'garbage': {
      // Malformed frames after the hello and an invalid Opus packet inside each reply.
      server.setFaults({ garbage: true });
      server.closeAll();
      await w.sleep(between(random, 50, 400));
      const seq = w.turnSeq();
      await w.press();
      await w.waitFor(() => w.turnEndedAfter(seq), w.pressBoundMs);
      return { clear: () => server.setFaults({ garbage: false }) };
    }
    case 'tts-cut': {
      const close = random() < 0.5;
      server.setFaults(close ? { closeDuringTts: true } : { stopTtsMidway: true });
      await w.waitFor(() => ['idle', 'offline'].includes(w.conversation()), w.pressBoundMs);
      const seq = w.turnSeq();
      await w.press();
      await w.waitFor(() => w.turnEndedAfter(seq), w.pressBoundMs);
      return {
        variant: close ? 'close 1000 during tts' : 'tts stops midway',
        clear: () => server.setFaults({ closeDuringTts: false, stopTtsMidway: false }),
      };
    }
    case 'button-spam': {
      const n = between(random, 20, 60);
      for (let i = 0; i < n; i++) {
        w.gesture(spamGesture(random));
        // Some gestures land in the same read of stdin, most a few ms apart.
        await w.sleep(between(random, 0, 30));
      }
      // The finger leaves the button at the end of it.
      w.gesture('r');
      return { variant: `${n} gestures`, clear: () => undefined };
    }
  }
}

/** Mostly press/release and clicks; a long press (reconnect) and a double click now and then. */
function spamGesture(random: Random): Gesture {
  const x = random();
  if (x < 0.03) return 'l';
  if (x < 0.08) return 'd';
  if (x < 0.2) return 'c';
  return x < 0.6 ? 'p' : 'r';
}
