/**
 * `doctor` checks of the device itself: identity (design.md §3.1), GPIO lines (§3.5), the clock
 * (TLS needs it), and the systemd notify/watchdog settings (§3.6).
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { describeError } from '../core/errors.js';
import { apa102Settings } from '../hardware/apa102.js';
import { resolveChip, SYSFS_GPIO, sysfsNumber } from '../hardware/gpio.js';
import { type Identity, resolveIdentity } from '../provisioning/identity.js';
import {
  JOURNAL_FIX,
  JOURNAL_SOCKET,
  type LogTarget,
  loadJournalBinding,
  wantsNativeJournal,
} from '../system/journal.js';
import { createLogger } from '../system/logger.js';
import { type ModuleLoader, openNotifier, readWatchdogUsec, SD_NOTIFY_FIX } from '../system/notify.js';
import { type CheckResult, failed, pass, skip } from './check.js';

/**
 * Resolves the Device-Id and Client-Id as `run` does (creating the Client-Id file once, like
 * `speakerd identity`). What identity logs at warn or above is appended to the detail.
 */
export async function checkIdentity(
  config: Readonly<Config>,
  origins?: ReadonlyMap<string, string>,
): Promise<{ result: CheckResult; identity: Identity | undefined }> {
  const notes: string[] = [];
  const log = createLogger({
    level: 'warn',
    format: 'json',
    destination: {
      write(line: string): void {
        const parsed: unknown = JSON.parse(line);
        if (
          typeof parsed === 'object' &&
          parsed !== null &&
          'msg' in parsed &&
          typeof parsed.msg === 'string'
        )
          notes.push(parsed.msg);
      },
    },
  });
  const got = await resolveIdentity({ config, log, ...(origins ? { origins } : {}) });
  const noted = notes.length > 0 ? ` (${notes.join('; ')})` : '';
  if (!got.ok) {
    const fix = got.error.message.includes('Client-Id')
      ? `make ${config.stateDir} writable by this user, or set stateDir / identity.clientId`
      : 'set identity.interface to an interface with a MAC, or identity.deviceId';
    return { result: failed('identity', `${got.error.message}${noted}`, fix), identity: undefined };
  }
  const id = got.identity;
  return {
    result: pass(
      'identity',
      `Device-Id ${id.deviceId} from ${id.deviceIdSource}; Client-Id ${id.clientId} from ${id.clientIdSource}${noted}`,
    ),
    identity: id,
  };
}

/**
 * The button and LED lines: the chip resolves, every BCM number maps to a sysfs number on it, and
 * no line is exported already (a running speakerd, or another program, holds it). Exports nothing.
 */
export function checkGpio(config: Readonly<Config>, root: string = SYSFS_GPIO): CheckResult[] {
  if (config.hardware === 'simulated')
    return [skip('gpio', 'hardware is "simulated": keyboard button and terminal LEDs')];
  const chip = resolveChip(root, config.gpio.chipLabel);
  if (!chip.ok) {
    return [
      failed(
        'gpio chip',
        chip.fault.message,
        'on a Raspberry Pi use Raspberry Pi OS; elsewhere set gpio.chipLabel, or "hardware": "simulated"',
      ),
    ];
  }
  const c = chip.value;
  const results: CheckResult[] = [
    pass('gpio chip', `${c.label} (${c.name}): BCM n is sysfs ${c.base} + n, lines 0–${c.ngpio - 1}`),
  ];
  // The lines a run exports: the button, and the GPIO LEDs or the APA102 LEDs' power line.
  const apa102 = config.leds.type === 'apa102' ? apa102Settings(config.leds) : undefined;
  const power = typeof apa102 === 'object' ? apa102.powerLine : undefined;
  const wanted = [
    { what: 'button', key: 'gpio.button.line', bcm: config.gpio.button.line },
    ...(apa102 === undefined
      ? config.gpio.leds.map((led, i) => ({
          what: `led ${led.role}`,
          key: `gpio.leds[${i}].line`,
          bcm: led.line,
        }))
      : []),
    ...(power === undefined ? [] : [{ what: 'led power', key: 'leds.powerLine', bcm: power }]),
  ];
  const mapped: string[] = [];
  const busy: string[] = [];
  const unexport: number[] = [];
  for (const line of wanted) {
    const n = sysfsNumber(c, line.bcm, line.key);
    if (!n.ok) {
      results.push(
        failed('gpio lines', n.fault.message, `set ${line.key} to a line between 0 and ${c.ngpio - 1}`),
      );
      return results;
    }
    mapped.push(`${line.what} GPIO${line.bcm}=${n.value}`);
    if (existsSync(join(root, `gpio${n.value}`))) {
      busy.push(`${line.what} GPIO${line.bcm} (sysfs ${n.value})`);
      unexport.push(n.value);
    }
  }
  if (busy.length > 0) {
    results.push(
      failed(
        'gpio lines',
        `in use (exported already): ${busy.join(', ')}`,
        'by a running speakerd? (systemctl stop speakerd first) or another program (pinctrl get, gpioinfo); ' +
          `a killed run leaves them exported: echo N > ${join(root, 'unexport')} for N in ${unexport.join(' ')}`,
      ),
    );
    return results;
  }
  try {
    accessSync(join(root, 'export'), constants.W_OK);
  } catch (err) {
    results.push(
      failed(
        'gpio lines',
        `${mapped.join(', ')} are free, but ${join(root, 'export')} is not writable (${describeError(err)})`,
        'run as a member of the gpio group (sudo usermod -aG gpio $USER; the systemd unit adds it)',
      ),
    );
    return results;
  }
  results.push(pass('gpio lines', `${mapped.join(', ')}: all free`));
  return results;
}

/** The first year whose date this build can trust: before it the clock was never set (no RTC on a Pi). */
const SANE_YEAR = 2024;
/** A clock further than this from the server's `Date` breaks token timestamps and TLS near a boundary. */
const MAX_SKEW_S = 300;
const NTP_FIX =
  'enable NTP: sudo timedatectl set-ntp true (then `timedatectl status` says synchronized: yes)';

export interface ClockEvidence {
  /** The validity window of the server certificate, when TLS was checked. */
  readonly cert?: { readonly validFrom: Date; readonly validTo: Date };
  /** The server's HTTP `Date`, or why it is not known. */
  readonly serverDate?: Date | string;
}

export function checkClock(now: Date, evidence: ClockEvidence): CheckResult {
  const iso = now.toISOString();
  if (now.getUTCFullYear() < SANE_YEAR) {
    return failed(
      'clock',
      `system time is ${iso}: never set (a Pi has no real-time clock; TLS certificates fail until it is)`,
      NTP_FIX,
    );
  }
  const notes: string[] = [];
  const { cert, serverDate } = evidence;
  if (serverDate instanceof Date) {
    const skewS = Math.round((now.getTime() - serverDate.getTime()) / 1000);
    if (Math.abs(skewS) > MAX_SKEW_S)
      return failed(
        'clock',
        `system time ${iso} is ${Math.abs(skewS)} s ${skewS > 0 ? 'ahead of' : 'behind'} the server's (${serverDate.toISOString()})`,
        NTP_FIX,
      );
    // HTTP dates have whole seconds: up to 1 s either way is agreement.
    notes.push(
      Math.abs(skewS) <= 1
        ? "agrees with the server's Date (±1 s)"
        : `${Math.abs(skewS)} s ${skewS > 0 ? 'ahead of' : 'behind'} the server's Date`,
    );
  } else if (typeof serverDate === 'string') {
    notes.push(`server Date not compared (${serverDate})`);
  }
  if (cert !== undefined) {
    if (now < cert.validFrom || now > cert.validTo)
      return failed(
        'clock',
        `system time ${iso} is outside the server certificate's validity (${cert.validFrom.toISOString()} – ${cert.validTo.toISOString()})`,
        `if this clock is wrong: ${NTP_FIX}; if it is right, the certificate has expired (renew it on the server)`,
      );
    notes.push('inside the server certificate’s validity');
  }
  return pass('clock', `${iso}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`);
}

/** Anything non-empty makes openNotifier load the binding; constructing the notifier sends nothing. */
const PROBE_SOCKET = '@speakerd-doctor-probe';

/** NOTIFY_SOCKET and WATCHDOG_USEC as this process sees them, and whether `sd-notify` loads. */
export function checkSystemd(env: NodeJS.ProcessEnv, load?: ModuleLoader): CheckResult[] {
  const results: CheckResult[] = [];
  const socket = env.NOTIFY_SOCKET;
  if (!socket) {
    results.push(skip('systemd', 'not under systemd: NOTIFY_SOCKET unset'));
  } else {
    const interval = readWatchdogUsec(env);
    const watchdog =
      interval !== undefined
        ? `WATCHDOG_USEC=${env.WATCHDOG_USEC}: WATCHDOG=1 every ${interval} ms while healthy`
        : env.WATCHDOG_USEC !== undefined
          ? `WATCHDOG_USEC=${env.WATCHDOG_USEC} is not for this process (WATCHDOG_PID=${env.WATCHDOG_PID ?? 'unset'})`
          : 'no watchdog (WatchdogSec= unset)';
    results.push(pass('systemd', `NOTIFY_SOCKET=${socket}; ${watchdog}`));
  }
  let cause: string | undefined;
  const base = load ?? createRequire(import.meta.url);
  const recording: ModuleLoader = (id) => {
    try {
      return base(id);
    } catch (err) {
      // Kept for the detail, then rethrown: openNotifier turns it into its fault.
      cause = describeError(err).split('\n')[0];
      throw err;
    }
  };
  const silent = createLogger({ level: 'silent', format: 'json', destination: { write: () => undefined } });
  const opened = openNotifier({ ...env, NOTIFY_SOCKET: socket || PROBE_SOCKET }, silent, recording);
  results.push(
    opened.ok
      ? pass('sd-notify', 'the binding loads (READY=1, STATUS=, WATCHDOG=1 can reach systemd)')
      : failed('sd-notify', `the binding does not load: ${cause ?? opened.fault.message}`, SD_NOTIFY_FIX),
  );
  return results;
}

/**
 * Whether records reach the journal as native entries with fields (issue 13 §1): the
 * systemd-journald binding loads, and what logTarget makes of this environment. A binding that
 * cannot load fails: the daemon still logs, but as `<N>` lines that `journalctl DEVICE_ID=…`,
 * `SPEAKERD_CODE=…` and the catalog cannot find.
 */
export function checkJournal(
  env: NodeJS.ProcessEnv,
  target: LogTarget,
  load?: ModuleLoader,
  socketExists: () => boolean = () => existsSync(JOURNAL_SOCKET),
): CheckResult {
  const loaded = loadJournalBinding(load);
  if (!loaded.ok) {
    return failed(
      'journal',
      `the systemd-journald binding does not load (${loaded.why.split('\n')[0]}): records would be <N> JSON lines without journal fields`,
      JOURNAL_FIX,
    );
  }
  if (wantsNativeJournal(target, env, socketExists)) {
    return pass('journal', `native entries with fields to ${JOURNAL_SOCKET} (logTarget ${target})`);
  }
  const why =
    target === 'stdout'
      ? 'logTarget stdout: JSON lines'
      : !socketExists()
        ? `no journal here (${JOURNAL_SOCKET} missing): JSON lines on stdout`
        : 'not under a unit (JOURNAL_STREAM unset): pretty/JSON lines on stdout; under systemd: native entries';
  return pass('journal', `the binding loads; ${why}`);
}
