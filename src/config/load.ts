/**
 * Config loading (design.md §3.1, §5.9): one JSON file, a few `SPEAKERD_*` env overrides, then
 * CLI overrides; validated once against `configSchema`, every error reported at once with its
 * path, the result deep-frozen. Never throws for an operational problem: a bad file is a value.
 */

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { describeError, errnoCode } from '../core/errors.js';
import { isPlainObject, type Json } from '../core/json.js';
import { type Config, configSchema } from './schema.js';

export const DEFAULT_CONFIG_PATH = '/etc/speakerd/config.json';

/** sysexits(3) EX_CONFIG; the unit has `RestartPreventExitStatus=78` so systemd does not loop on it. */
export const EX_CONFIG = 78;

export interface ConfigError {
  readonly path: string;
  readonly message: string;
}

/** `source` is on both branches so a caller can always say which file it was talking about. */
export type ConfigResult =
  | {
      readonly ok: true;
      readonly config: Readonly<Config>;
      readonly source: string;
      /** Dotted path → where its value came from when not the file (`env SPEAKERD_DEVICE_ID`). */
      readonly origins: ReadonlyMap<string, string>;
    }
  | { readonly ok: false; readonly errors: ConfigError[]; readonly source: string };

export interface LoadConfigOptions {
  /** An explicit file (e.g. `--config F`); missing is an error. */
  readonly path?: string;
  readonly env: NodeJS.ProcessEnv;
  /** Deep-merged last (CLI flags such as `--sim`); validated like everything else. */
  readonly overrides?: object;
  /** The path used when neither `path` nor SPEAKERD_CONFIG is given; a seam for tests. */
  readonly defaultPath?: string;
}

/** Env var → config path. Also read by the config reference generator (doc.ts). */
export const ENV_OVERRIDES: readonly { readonly env: string; readonly path: readonly string[] }[] = [
  { env: 'SPEAKERD_SERVER_URL', path: ['server', 'websocketUrl'] },
  { env: 'SPEAKERD_TOKEN', path: ['server', 'token'] },
  { env: 'SPEAKERD_OTA_URL', path: ['server', 'otaUrl'] },
  { env: 'SPEAKERD_STATE_DIR', path: ['stateDir'] },
  { env: 'SPEAKERD_MODE', path: ['connection', 'mode'] },
  { env: 'SPEAKERD_LOG_LEVEL', path: ['logLevel'] },
  { env: 'SPEAKERD_LOG_TARGET', path: ['logTarget'] },
  { env: 'SPEAKERD_DEVICE_ID', path: ['identity', 'deviceId'] },
  { env: 'SPEAKERD_CLIENT_ID', path: ['identity', 'clientId'] },
];

/**
 * An empty env var counts as unset: systemd `Environment=VAR=` and `docker run -e VAR` leave
 * variables present but empty, and that must neither wipe a configured token nor fail the start.
 */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

export function loadConfig(options: LoadConfigOptions): ConfigResult {
  const explicit = options.path ?? envValue(options.env, 'SPEAKERD_CONFIG');
  const file = resolve(explicit ?? options.defaultPath ?? DEFAULT_CONFIG_PATH);
  const errors: ConfigError[] = [];

  const read = readConfigFile(file, explicit !== undefined);
  let raw: unknown = {};
  let source = file;
  if (read.kind === 'error') {
    // Keep going with an empty file so env/override errors are reported in the same run.
    errors.push(read.error);
  } else if (read.kind === 'missing-default') {
    source = `defaults (${file} not found)`;
  } else {
    raw = read.value;
  }

  // Dotted config path → where the value came from, so an error names the env var, not the file.
  const origins = new Map<string, string>();
  for (const { env, path } of ENV_OVERRIDES) {
    const value = envValue(options.env, env);
    if (value !== undefined && setPath(raw, path, value)) origins.set(path.join('.'), `env ${env}`);
  }
  if (options.overrides !== undefined && isPlainObject(raw)) {
    mergeInto(raw, { ...options.overrides }, [], origins);
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) errors.push(...parsed.error.issues.flatMap((issue) => toConfigErrors(issue, origins)));
  if (errors.length > 0 || !parsed.success) return { ok: false, errors, source };
  return { ok: true, config: deepFreeze(parsed.data), source, origins };
}

type ReadResult =
  | { kind: 'ok'; value: unknown }
  | { kind: 'missing-default' }
  | { kind: 'error'; error: ConfigError };

function readConfigFile(file: string, explicit: boolean): ReadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    // No file at the default path is a dev machine or a fresh install: all defaults.
    if (code === 'ENOENT' && !explicit) return { kind: 'missing-default' };
    const hint = code === 'EACCES' ? ' (run as the speakerd user, or make the file readable by it)' : '';
    return {
      kind: 'error',
      error: { path: file, message: `cannot read config file: ${describeError(err)}${hint}` },
    };
  }
  // Editors on other systems may save a BOM, which JSON.parse rejects.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') return { kind: 'error', error: { path: file, message: 'config file is empty' } };
  try {
    return { kind: 'ok', value: JSON.parse(text) };
  } catch (err) {
    return { kind: 'error', error: jsonError(file, text, err) };
  }
}

function jsonError(file: string, text: string, err: unknown): ConfigError {
  const raw = err instanceof Error ? err.message : String(err);
  const m = /\s*in JSON at position (\d+)/.exec(raw);
  const pos = m?.[1] !== undefined ? Number(m[1]) : /end of JSON input/.test(raw) ? text.length : undefined;
  // Node ≥ 21 appends its own "(line L column C)"; ours is in the path, so drop it.
  const message = `invalid JSON: ${raw.replace(/\s*in JSON at position \d+.*$/, '')}`;
  if (pos === undefined) return { path: file, message };
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return { path: `${file}:${line}:${column}`, message };
}

/**
 * Sets `path` inside `root`, creating missing objects. Returns false without touching anything
 * when something in the way is not an object, so the file's own type error is reported instead
 * of being papered over by the env value.
 */
function setPath(root: unknown, path: readonly string[], value: unknown): boolean {
  if (!isPlainObject(root)) return false;
  let node: Json = root;
  for (const [i, key] of path.entries()) {
    if (i === path.length - 1) {
      node[key] = value;
      return true;
    }
    const next = node[key];
    if (next === undefined) {
      const created: Json = {};
      node[key] = created;
      node = created;
    } else if (isPlainObject(next)) {
      node = next;
    } else {
      return false;
    }
  }
  return false;
}

function mergeInto(target: Json, source: Json, at: readonly string[], origins: Map<string, string>): void {
  for (const [key, value] of Object.entries(source)) {
    const path = [...at, key];
    const existing = target[key];
    if (isPlainObject(value) && isPlainObject(existing)) {
      mergeInto(existing, value, path, origins);
    } else {
      target[key] = isPlainObject(value) ? structuredClone(value) : value;
      origins.set(path.join('.'), 'override');
    }
  }
}

function dotted(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

function label(path: readonly PropertyKey[], origins: ReadonlyMap<string, string>): string {
  const p = dotted(path);
  // An override of a whole object (e.g. overrides {server: {...}}) is the origin of its children too.
  for (let n = path.length; n > 0; n--) {
    const origin = origins.get(path.slice(0, n).map(String).join('.'));
    if (origin !== undefined) return `${origin} (${p})`;
  }
  return p;
}

function toConfigErrors(issue: z.core.$ZodIssue, origins: ReadonlyMap<string, string>): ConfigError[] {
  if (issue.code !== 'unrecognized_keys')
    return [{ path: label(issue.path, origins), message: issue.message }];
  // zod reports unknown keys on the parent; one line per key, at the key itself, reads better.
  const known = knownKeys(issue.path);
  return issue.keys.map((key) => ({
    path: label([...issue.path, key], origins),
    message: `unknown key${suggestion(key, known)}`,
  }));
}

function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  let s = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s.unwrap();
  return s;
}

function knownKeys(path: readonly PropertyKey[]): string[] {
  let s = unwrap(configSchema);
  for (const key of path) {
    if (!(s instanceof z.ZodObject) || typeof key !== 'string') return [];
    const child: z.core.$ZodType | undefined = s.shape[key];
    if (child === undefined) return [];
    s = unwrap(child);
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function suggestion(key: string, known: readonly string[]): string {
  const close = known.find((k) => k.toLowerCase() === key.toLowerCase() || editDistance(k, key) <= 2);
  if (close !== undefined) return ` (did you mean "${close}"?)`;
  return known.length > 0 ? ` (known keys: ${known.join(', ')})` : '';
}

/** Levenshtein distance; keys are short, so the O(n·m) table is fine. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** Freezes objects and arrays all the way down; the config is validated once and never edited. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    // Freeze before descending so a cycle ends at an already-frozen node.
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export function formatConfigErrors(errors: readonly ConfigError[], source: string): string {
  const n = errors.length;
  const lines = errors.map((e) => `  - ${e.path}: ${e.message}`);
  return [`config ${source} is invalid (${n} error${n === 1 ? '' : 's'}):`, ...lines].join('\n');
}

/** Query parameters that may carry a credential in a server URL; their values never get printed. */
const SECRET_PARAM = /token|auth|key|secret|pass|sig/i;

/** A URL safe for logs and terminals: password and credential-like query values replaced. */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    // Not parseable, so we cannot tell where a secret might sit: print the part before any query.
    return `${url.split('?')[0] ?? ''}${url.includes('?') ? '?[redacted]' : ''} (${describeError(err)})`;
  }
  if (u.password !== '') u.password = 'redacted';
  for (const key of [...u.searchParams.keys()]) {
    if (SECRET_PARAM.test(key)) u.searchParams.set(key, 'redacted');
  }
  return u.toString();
}

/** One line for `check-config`: what the daemon would connect to and how, never the token. */
export function summarizeConfig(config: Readonly<Config>): string {
  const token = config.server.token === '' ? 'none' : '[redacted]';
  const { websocketUrl } = config.server;
  const server =
    websocketUrl === undefined
      ? `ota=${redactUrl(config.server.otaUrl)}`
      : `server=${redactUrl(websocketUrl)} token=${token}`;
  return `${server} mode=${config.connection.mode} hardware=${config.hardware}`;
}

export interface CheckConfigOptions {
  readonly path?: string;
  readonly env: NodeJS.ProcessEnv;
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  readonly defaultPath?: string;
}

/** `speakerd check-config [--config F]`: validates without starting anything; the exit code. */
export function checkConfig(args: CheckConfigOptions): number {
  const result = loadConfig({ path: args.path, env: args.env, defaultPath: args.defaultPath });
  if (!result.ok) {
    args.err(formatConfigErrors(result.errors, result.source));
    return EX_CONFIG;
  }
  args.out(`config OK (${result.source})`);
  args.out(summarizeConfig(result.config));
  return 0;
}
