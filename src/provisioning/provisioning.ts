/**
 * Where the daemon's server URL and token come from (design.md §3.7): an explicit
 * `server.websocketUrl` (+ token) in the config, re-read on a refresh; or, without one, the OTA
 * endpoint (`server.otaUrl`), with its cache, its activation flow and its refresh on a refused
 * token. main.ts calls `openCredentials` and, for OTA, `attachProvisioning` once the daemon runs.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { ConversationState } from '../conversation/conversation-state.js';
import type { Clock } from '../core/clock.js';
import type { Random } from '../core/random.js';
import { ConfigCredentialSource, type CredentialSource } from '../session/credentials.js';
import { OtaClient } from './ota.js';
import { OtaCredentialSource } from './ota-credentials.js';

export interface CredentialsOptions {
  readonly config: Readonly<Config>;
  readonly identity: { readonly deviceId: string; readonly clientId: string };
  /** How the config was loaded, so a refresh re-reads the same file with the same overrides. */
  readonly configPath?: string;
  readonly overrides?: Record<string, unknown>;
  readonly env: () => NodeJS.ProcessEnv;
  readonly version: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
}

export type Credentials =
  | { readonly kind: 'config'; readonly source: CredentialSource }
  | { readonly kind: 'ota'; readonly source: OtaCredentialSource };

export function openCredentials(o: CredentialsOptions): Credentials {
  const { server, ota } = o.config;
  if (server.websocketUrl !== undefined) {
    return {
      kind: 'config',
      source: new ConfigCredentialSource({
        ...(o.configPath === undefined ? {} : { path: o.configPath }),
        ...(o.overrides === undefined ? {} : { overrides: o.overrides }),
        env: o.env,
        initial: { url: server.websocketUrl, token: server.token },
        log: o.log,
      }),
    };
  }
  const client = new OtaClient({
    url: server.otaUrl,
    identity: o.identity,
    version: o.version,
    language: ota.language,
    boardName: hostname(),
    timeoutMs: ota.timeoutMs,
    wallNow: Date.now,
    log: o.log,
  });
  return {
    kind: 'ota',
    source: new OtaCredentialSource({
      client,
      identity: o.identity,
      stateDir: o.config.stateDir,
      // No URL until OTA or the cache gives one: the supervisor waits offline (session/supervisor.ts).
      fallback: { url: '', token: '' },
      clock: o.clock,
      random: o.random,
      log: o.log,
      retry: { baseMs: ota.retryBaseMs, capMs: ota.retryCapMs },
    }),
  };
}

/** What the provisioner drives in the daemon (daemon.ts). */
export interface ProvisionedDaemon {
  setActivation(activation: { readonly code: string; readonly message: string } | undefined): void;
  credentialsChanged(reason: string): void;
  readonly conversation: {
    on(event: 'state', listener: (to: ConversationState, from: ConversationState) => void): unknown;
  };
}

/**
 * Connects the OTA provisioner to a running daemon and starts it: activation codes to the
 * activating state, new credentials to a connection attempt, a press during activation skips it
 * (as the firmware: protocol.md §6.3). Returns what main.ts calls on a press, a new network
 * address, and at shutdown.
 */
export function attachProvisioning(
  ota: OtaCredentialSource,
  daemon: ProvisionedDaemon,
): { nudge(reason: string): void; stop(): Promise<void> } {
  ota.on('activation', (a) => daemon.setActivation(a));
  ota.on('activated', () => daemon.setActivation(undefined));
  ota.on('credentials', (e) => daemon.credentialsChanged(`credentials from ${e.origin}`));
  daemon.conversation.on('state', (to, from) => {
    // The user pressed through the activation (click or long press): use what OTA gave so far.
    if (from === 'activating' && to !== 'activating') ota.skipActivation('button');
  });
  ota.start();
  return {
    // A press or a new address while OTA is still unanswered: ask again now, not after the backoff.
    nudge: (reason) => {
      if (!ota.usable) ota.retryNow(reason);
    },
    stop: () => ota.stop(),
  };
}
