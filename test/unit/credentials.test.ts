import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigCredentialSource } from '../../src/session/credentials.js';
import { captureLogger } from '../fakes/capture-logger.js';

const dir = mkdtempSync(join(tmpdir(), 'speakerd-credentials-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function configFile(content: unknown): string {
  const p = join(dir, `config-${n++}.json`);
  writeFileSync(p, JSON.stringify(content));
  return p;
}

const INITIAL = { url: 'ws://old.example:8000/xiaozhi/v1/', token: 'old-secret' };

function setup(path: string, env: NodeJS.ProcessEnv) {
  const { log, lines } = captureLogger();
  const source = new ConfigCredentialSource({ path, env: () => env, initial: INITIAL, log });
  return { source, lines };
}

test('current() returns the initial credentials until a refresh', () => {
  const { source } = setup(configFile({}), {});
  assert.deepEqual(source.current(), INITIAL);
});

test('refresh picks up a changed env token and URL, and never logs the token', async () => {
  const path = configFile({ server: { websocketUrl: INITIAL.url, token: INITIAL.token } });
  const env: NodeJS.ProcessEnv = {};
  const { source, lines } = setup(path, env);

  // Nothing changed yet.
  assert.deepEqual(await source.refresh('test: unchanged'), INITIAL);
  assert.equal(lines.at(-1)?.token_changed, false);
  assert.equal(lines.at(-1)?.url_changed, false);

  env.SPEAKERD_TOKEN = 'new-secret';
  const afterToken = await source.refresh('server refused our credentials');
  assert.deepEqual(afterToken, { url: INITIAL.url, token: 'new-secret' });
  assert.deepEqual(source.current(), afterToken);
  const line = lines.at(-1);
  assert.equal(line?.level, 30);
  assert.equal(line?.msg, 'credentials refreshed from config');
  assert.equal(line?.reason, 'server refused our credentials');
  assert.equal(line?.token_changed, true);
  assert.equal(line?.url_changed, false);

  env.SPEAKERD_SERVER_URL = 'wss://new.example/xiaozhi/v1/?token=url-secret';
  const afterUrl = await source.refresh('again');
  assert.equal(afterUrl.url, 'wss://new.example/xiaozhi/v1/?token=url-secret');
  assert.equal(lines.at(-1)?.url_changed, true);
  assert.equal(lines.at(-1)?.token_changed, false);
  assert.equal(lines.at(-1)?.url, 'wss://new.example/xiaozhi/v1/?token=redacted');

  assert.doesNotMatch(JSON.stringify(lines), /secret/);
});

test('refresh picks up an edited config file', async () => {
  const path = configFile({ server: { websocketUrl: INITIAL.url, token: INITIAL.token } });
  const { source } = setup(path, {});
  writeFileSync(path, JSON.stringify({ server: { websocketUrl: 'ws://edited:8000/x/', token: 't2' } }));
  assert.deepEqual(await source.refresh('edit'), { url: 'ws://edited:8000/x/', token: 't2' });
});

test('a broken config keeps the previous credentials and warns with the errors', async () => {
  const path = configFile({ server: { websocketUrl: INITIAL.url, token: INITIAL.token } });
  const env: NodeJS.ProcessEnv = {};
  const { source, lines } = setup(path, env);

  writeFileSync(path, '{ "server": { "token": "half-edited-secret", }');
  assert.deepEqual(await source.refresh('broken file'), INITIAL);
  const warning = lines.at(-1);
  assert.equal(warning?.level, 40);
  assert.equal(warning?.msg, 'config invalid on credential refresh; keeping the previous credentials');
  assert.ok(Array.isArray(warning?.errors));
  assert.match(String(warning?.errors), /invalid JSON/);

  writeFileSync(path, JSON.stringify({ server: { websocketUrl: INITIAL.url } }));
  env.SPEAKERD_SERVER_URL = 'http://not-a-websocket/';
  assert.deepEqual(await source.refresh('bad env'), INITIAL);
  assert.match(String(lines.at(-1)?.errors), /env SPEAKERD_SERVER_URL \(server\.websocketUrl\)/);
  assert.deepEqual(source.current(), INITIAL);

  assert.doesNotMatch(JSON.stringify(lines), /secret/);
});

test('a config file that disappeared keeps the previous credentials (never throws)', async () => {
  const path = configFile({});
  const { source, lines } = setup(path, {});
  rmSync(path);
  assert.deepEqual(await source.refresh('gone'), INITIAL);
  assert.match(String(lines.at(-1)?.errors), /ENOENT/);
});
