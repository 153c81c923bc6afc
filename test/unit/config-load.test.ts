import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  type ConfigResult,
  checkConfig,
  deepFreeze,
  EX_CONFIG,
  formatConfigErrors,
  loadConfig,
  redactUrl,
} from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'speakerd-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A fresh config file in the temp dir holding `content` (a string is written verbatim). */
function file(content: unknown): string {
  const p = join(dir, `config-${n++}.json`);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return p;
}

/** A default path that does not exist, so tests never read the machine's /etc/speakerd. */
const noDefault = join(dir, 'absent', 'config.json');

function errorsOf(r: ConfigResult): { path: string; message: string }[] {
  assert.equal(r.ok, false, 'expected an invalid config');
  return r.ok ? [] : r.errors;
}

function configOf(r: ConfigResult) {
  if (!r.ok) assert.fail(`expected a valid config, got ${formatConfigErrors(r.errors, r.source)}`);
  return r.config;
}

test('no file at the default path → all defaults', () => {
  const r = loadConfig({ env: {}, defaultPath: noDefault });
  assert.deepEqual(configOf(r), configSchema.parse({}));
  assert.match(r.source, /^defaults \(.*absent\/config\.json not found\)$/);
});

test('a file is read and merged over the defaults', () => {
  const r = loadConfig({ path: file({ connection: { mode: 'on-demand' } }), env: {} });
  const c = configOf(r);
  assert.equal(c.connection.mode, 'on-demand');
  assert.equal(c.connection.pingIntervalMs, 5000);
  assert.equal(c.stateDir, '/var/lib/speakerd');
});

test('every SPEAKERD_* env override lands on its field', () => {
  const env = {
    SPEAKERD_SERVER_URL: 'wss://example.org/xiaozhi/v1/',
    SPEAKERD_TOKEN: 'secret-token',
    SPEAKERD_STATE_DIR: '/tmp/speakerd-state',
    SPEAKERD_MODE: 'on-demand',
    SPEAKERD_LOG_LEVEL: 'debug',
    SPEAKERD_DEVICE_ID: 'aa:bb:cc:dd:ee:01',
    SPEAKERD_CLIENT_ID: '123e4567-e89b-42d3-a456-426614174000',
  };
  const c = configOf(loadConfig({ path: file({ server: { token: 'from-file' }, logLevel: 'warn' }), env }));
  assert.equal(c.server.websocketUrl, env.SPEAKERD_SERVER_URL);
  assert.equal(c.server.token, env.SPEAKERD_TOKEN);
  assert.equal(c.stateDir, env.SPEAKERD_STATE_DIR);
  assert.equal(c.connection.mode, 'on-demand');
  assert.equal(c.logLevel, 'debug');
  assert.equal(c.identity.deviceId, env.SPEAKERD_DEVICE_ID);
  assert.equal(c.identity.clientId, env.SPEAKERD_CLIENT_ID);
});

test('an empty env var counts as unset', () => {
  const c = configOf(loadConfig({ path: file({ server: { token: 'keep' } }), env: { SPEAKERD_TOKEN: '' } }));
  assert.equal(c.server.token, 'keep');
});

test('SPEAKERD_CONFIG names the file, and a missing one is an error', () => {
  const p = file({ hardware: 'simulated' });
  assert.equal(
    configOf(loadConfig({ env: { SPEAKERD_CONFIG: p }, defaultPath: noDefault })).hardware,
    'simulated',
  );
  const missing = join(dir, 'nope.json');
  const errors = errorsOf(loadConfig({ env: { SPEAKERD_CONFIG: missing }, defaultPath: noDefault }));
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.path, missing);
  assert.match(errors[0]?.message ?? '', /ENOENT/);
});

test('a missing explicit --config file is an error', () => {
  const missing = join(dir, 'missing.json');
  const r = loadConfig({ path: missing, env: {} });
  const errors = errorsOf(r);
  assert.deepEqual(
    errors.map((e) => e.path),
    [missing],
  );
  assert.match(errors[0]?.message ?? '', /cannot read config file: ENOENT/);
  assert.equal(r.source, missing);
});

test('an unreadable file (a directory) is an error', () => {
  const errors = errorsOf(loadConfig({ path: dir, env: {} }));
  assert.equal(errors.length, 1);
  assert.match(errors[0]?.message ?? '', /EISDIR/);
});

test('env values are validated by the schema and errors name the env var', () => {
  const errors = errorsOf(
    loadConfig({
      env: {
        SPEAKERD_SERVER_URL: 'http://example.org/',
        SPEAKERD_MODE: 'sometimes',
        SPEAKERD_DEVICE_ID: 'AA-BB',
      },
      defaultPath: noDefault,
    }),
  );
  assert.deepEqual(errors.map((e) => e.path).sort(), [
    'env SPEAKERD_DEVICE_ID (identity.deviceId)',
    'env SPEAKERD_MODE (connection.mode)',
    'env SPEAKERD_SERVER_URL (server.websocketUrl)',
  ]);
  const url = errors.find((e) => e.path.includes('SERVER_URL'));
  assert.equal(url?.message, 'must be a ws:// or wss:// URL');
});

test('four broken fields → four errors, each with its dotted path', () => {
  const errors = errorsOf(
    loadConfig({
      path: file({
        server: { websocketUrl: 'http://nope' },
        connection: { pingIntervalMs: 100 },
        audio: { decodeRate: 44100 },
        logLevel: 'loud',
      }),
      env: {},
    }),
  );
  assert.equal(errors.length, 4);
  assert.deepEqual(errors.map((e) => e.path).sort(), [
    'audio.decodeRate',
    'connection.pingIntervalMs',
    'logLevel',
    'server.websocketUrl',
  ]);
  const ping = errors.find((e) => e.path === 'connection.pingIntervalMs');
  assert.equal(ping?.message, 'Too small: expected number to be >=500');
});

test('the cross-field rule (backoffCapMs ≥ backoffBaseMs) is reported at its path', () => {
  const errors = errorsOf(
    loadConfig({ path: file({ connection: { backoffBaseMs: 5000, backoffCapMs: 1000 } }), env: {} }),
  );
  assert.deepEqual(
    errors.map((e) => e.path),
    ['connection.backoffCapMs'],
  );
});

test('unknown keys are errors at their own path, with a suggestion for a typo', () => {
  const errors = errorsOf(loadConfig({ path: file({ server: { tokne: 'x' }, colour: 'red' }), env: {} }));
  const byPath = new Map(errors.map((e) => [e.path, e.message]));
  assert.equal(errors.length, 2);
  assert.equal(byPath.get('server.tokne'), 'unknown key (did you mean "token"?)');
  assert.match(byPath.get('colour') ?? '', /^unknown key \(known keys: server, identity, stateDir/);
});

test('a wrong type at the root is reported as (root)', () => {
  const errors = errorsOf(loadConfig({ path: file('[1, 2]'), env: {} }));
  assert.equal(errors[0]?.path, '(root)');
});

test('invalid JSON is reported with file:line:column', () => {
  const p = file('{\n  "logLevel": "info"\n  "hardware": "gpio"\n}\n');
  const errors = errorsOf(loadConfig({ path: p, env: {} }));
  assert.equal(errors.length, 1);
  assert.equal(errors[0]?.path, `${p}:3:3`);
  assert.match(errors[0]?.message ?? '', /^invalid JSON: Expected ',' or '}' after property value$/);
});

test('truncated JSON points at the end; an empty file says so; a BOM is accepted', () => {
  const truncated = file('{\n  "logLevel": ');
  assert.equal(errorsOf(loadConfig({ path: truncated, env: {} }))[0]?.path, `${truncated}:2:15`);
  assert.equal(errorsOf(loadConfig({ path: file('  \n'), env: {} }))[0]?.message, 'config file is empty');
  assert.equal(configOf(loadConfig({ path: file('\ufeff{"logLevel":"warn"}'), env: {} })).logLevel, 'warn');
});

test('a JSON error and a bad env value are reported together', () => {
  const errors = errorsOf(loadConfig({ path: file('{'), env: { SPEAKERD_LOG_LEVEL: 'chatty' } }));
  assert.equal(errors.length, 2);
  assert.equal(errors[1]?.path, 'env SPEAKERD_LOG_LEVEL (logLevel)');
});

test('overrides are merged last and validated', () => {
  const p = file({ hardware: 'gpio', server: { token: 't' } });
  const c = configOf(loadConfig({ path: p, env: {}, overrides: { hardware: 'simulated' } }));
  assert.equal(c.hardware, 'simulated');
  assert.equal(c.server.token, 't');
  const nested = configOf(loadConfig({ path: p, env: {}, overrides: { connection: { mode: 'on-demand' } } }));
  assert.equal(nested.connection.mode, 'on-demand');
  assert.equal(nested.connection.pingIntervalMs, 5000);
  const errors = errorsOf(loadConfig({ path: p, env: {}, overrides: { hardware: 'emulated' } }));
  assert.equal(errors[0]?.path, 'override (hardware)');
});

test('the result is deep-frozen: assignment throws', () => {
  const c = configOf(loadConfig({ env: {}, defaultPath: noDefault }));
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.connection) && Object.isFrozen(c.server));
  // Object.assign performs ordinary [[Set]]s with strict-mode semantics, like `c.x = …` in this
  // ESM (always strict) file, without a cast to get around the readonly types.
  assert.throws(() => Object.assign(c.connection, { pingIntervalMs: 1 }), TypeError);
  assert.throws(() => Object.assign(c, { logLevel: 'trace' }), TypeError);
  assert.equal(Reflect.set(c.server, 'token', 'x'), false);
  assert.equal(c.connection.pingIntervalMs, 5000);
});

test('deepFreeze handles cycles and arrays', () => {
  const a: { self?: unknown; list: number[][] } = { list: [[1]] };
  a.self = a;
  deepFreeze(a);
  assert.ok(Object.isFrozen(a.list) && Object.isFrozen(a.list[0]));
});

test('formatConfigErrors lists every error with its path', () => {
  const text = formatConfigErrors(
    [
      { path: 'connection.pingIntervalMs', message: 'Too small: expected number to be >=500' },
      { path: 'logLevel', message: 'Invalid option' },
    ],
    '/etc/speakerd/config.json',
  );
  assert.equal(
    text,
    'config /etc/speakerd/config.json is invalid (2 errors):\n' +
      '  - connection.pingIntervalMs: Too small: expected number to be >=500\n' +
      '  - logLevel: Invalid option',
  );
  assert.match(formatConfigErrors([{ path: 'x', message: 'y' }], 's'), /\(1 error\):/);
});

test('checkConfig: valid → 0, "config OK" and a summary without the token', () => {
  const p = file({
    server: { websocketUrl: 'wss://h.example/xiaozhi/v1/?token=urlsecret', token: 'hdrsecret' },
  });
  const out: string[] = [];
  const err: string[] = [];
  const code = checkConfig({ path: p, env: {}, out: (s) => out.push(s), err: (s) => err.push(s) });
  assert.equal(code, 0);
  assert.deepEqual(err, []);
  assert.equal(out[0], `config OK (${p})`);
  assert.match(out[1] ?? '', /^server=wss:\/\/h\.example\/xiaozhi\/v1\/\?token=redacted token=\[redacted\] /);
  assert.match(out[1] ?? '', /mode=persistent hardware=gpio$/);
  assert.doesNotMatch(out.join('\n'), /secret/);
});

test('checkConfig: invalid → EX_CONFIG (78) and the error list on err', () => {
  const p = file({ connection: { pingIntervalMs: 1 }, logLevel: 'x', stateDir: '' });
  const out: string[] = [];
  const err: string[] = [];
  const code = checkConfig({ path: p, env: {}, out: (s) => out.push(s), err: (s) => err.push(s) });
  assert.equal(code, EX_CONFIG);
  assert.equal(EX_CONFIG, 78);
  assert.deepEqual(out, []);
  assert.match(err.join('\n'), new RegExp(`^config ${p} is invalid \\(3 errors\\):\\n  - `));
  assert.match(err.join('\n'), / {2}- connection\.pingIntervalMs: Too small/);
});

test('redactUrl hides passwords and credential-like query values', () => {
  assert.equal(
    redactUrl('ws://u:pw@h:8000/x?access_token=a&v=1'),
    'ws://u:redacted@h:8000/x?access_token=redacted&v=1',
  );
  assert.equal(redactUrl('ws://h/xiaozhi/v1/'), 'ws://h/xiaozhi/v1/');
  assert.doesNotMatch(redactUrl('ws://[bad/?token=s3'), /s3/);
});
