/**
 * Where the connection supervisor gets its URL and token (design.md §3.2 re-authentication).
 * `ConfigCredentialSource` re-reads the config file and env; the OTA source (a later issue)
 * implements the same interface with a fetch from the OTA endpoint.
 */
import { type ConfigError, loadConfig, redactUrl } from '../config/load.js';
import { ErrorCode } from '../core/errors.js';
import type { Logger } from '../system/logger.js';
import { MessageId } from '../system/message-ids.js';

export interface Credentials {
  /** '' = none yet (OTA has not answered): the supervisor waits offline instead of connecting. */
  readonly url: string;
  readonly token: string;
}

export interface CredentialSource {
  /** The credentials to use for the next connection attempt. Never does I/O. */
  current(): Credentials;
  /** Fetch fresh credentials; resolves with what `current()` returns from now on. */
  refresh(reason: string): Promise<Credentials>;
}

export interface ConfigCredentialSourceOptions {
  readonly path?: string;
  /** A function, so a changed environment (or a test's) is seen on every refresh. */
  readonly env: () => NodeJS.ProcessEnv;
  readonly overrides?: object;
  readonly initial: Credentials;
  readonly log: Logger;
  /** Passed through to loadConfig; a seam for tests. */
  readonly defaultPath?: string;
}

export class ConfigCredentialSource implements CredentialSource {
  readonly #o: ConfigCredentialSourceOptions;
  #current: Credentials;

  constructor(options: ConfigCredentialSourceOptions) {
    this.#o = options;
    this.#current = Object.freeze({ url: options.initial.url, token: options.initial.token });
  }

  current(): Credentials {
    return this.#current;
  }

  /**
   * Never rejects: a config made invalid by an edit in progress must not take the connection
   * down, so the previous credentials stay and the reason is logged.
   */
  async refresh(reason: string): Promise<Credentials> {
    const { path, overrides, defaultPath, log } = this.#o;
    const result = loadConfig({ path, env: this.#o.env(), overrides, defaultPath });
    if (!result.ok) {
      log.warn(
        { code: ErrorCode.Credentials, reason, source: result.source, errors: result.errors.map(errorLine) },
        'config invalid on credential refresh; keeping the previous credentials',
      );
      return this.#current;
    }
    const url = result.config.server.websocketUrl;
    if (url === undefined) {
      // The config now says "use OTA"; that takes a restart (a different credential source).
      log.warn(
        { code: ErrorCode.Credentials, reason },
        'server.websocketUrl was removed from the config; keeping the previous credentials until a restart',
      );
      return this.#current;
    }
    const next: Credentials = Object.freeze({ url, token: result.config.server.token });
    const previous = this.#current;
    this.#current = next;
    log.info(
      {
        message_id: MessageId.CredentialsRefreshed,
        reason,
        source: result.source,
        url: redactUrl(next.url),
        url_changed: next.url !== previous.url,
        // Whether it changed is what an operator needs; the token itself never reaches a log.
        token_changed: next.token !== previous.token,
      },
      'credentials refreshed from config',
    );
    return next;
  }
}

function errorLine(e: ConfigError): string {
  return `${e.path}: ${e.message}`;
}
