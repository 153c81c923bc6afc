import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { configFields, configReference } from '../../src/config/doc.js';
import { configSchema } from '../../src/config/schema.js';

/** Leaf paths found by walking the zod schema itself, independently of doc.ts's JSON Schema walk. */
function leafPaths(schema: z.core.$ZodType, at: string[] = []): string[] {
  let s = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s.unwrap();
  if (s instanceof z.ZodArray && s.element instanceof z.ZodObject) {
    // A list of objects: a row for the list, then one per item field as `list[].field`.
    const list = [...at.slice(0, -1), `${at.at(-1) ?? ''}[]`];
    return [at.join('.'), ...leafPaths(s.element, list)];
  }
  if (!(s instanceof z.ZodObject)) return [at.join('.')];
  return Object.entries(s.shape).flatMap(([key, child]) => leafPaths(child, [...at, key]));
}

test('configReference has one row per leaf field of the schema', () => {
  const doc = configReference();
  const leaves = leafPaths(configSchema);
  assert.ok(leaves.length > 30, `expected many leaves, got ${leaves.length}`);
  for (const path of leaves) assert.ok(doc.includes(`| \`${path}\` |`), `missing row for ${path}`);
  const rows = doc.split('\n').filter((l) => l.startsWith('| `'));
  assert.equal(rows.length, leaves.length);
  assert.deepEqual(
    configFields().map((f) => f.path),
    leaves,
  );
});

test('a row carries type, default, bounds, env var and the .describe() doc', () => {
  const rows = configReference().split('\n');
  assert.ok(rows[0]?.startsWith('| Field | Type | Default | Bounds | Env | Description |'));
  const ping = rows.find((r) => r.startsWith('| `connection.pingIntervalMs` |'));
  assert.equal(
    ping,
    '| `connection.pingIntervalMs` | integer | `5000` | 500–120000 |  | send a WebSocket ping this often |',
  );
  const mode = rows.find((r) => r.startsWith('| `connection.mode` |'));
  assert.match(mode ?? '', /\| "persistent" \\\| "on-demand" \| `"persistent"` \| {2}\| `SPEAKERD_MODE` \|/);
  const rate = rows.find((r) => r.startsWith('| `audio.decodeRate` |'));
  assert.match(rate ?? '', /\| 16000 \\\| 24000 \\\| 48000 \| `24000` \|/);
  const deviceId = rows.find((r) => r.startsWith('| `identity.deviceId` |'));
  assert.match(
    deviceId ?? '',
    /\| string \| — \| matches `.*` \| `SPEAKERD_DEVICE_ID` \| Device-Id override/,
  );
});

test('every row has the same number of cells (no unescaped pipes)', () => {
  const rows = configReference()
    .split('\n')
    .filter((l) => l.startsWith('|'));
  for (const r of rows) assert.equal(r.replace(/\\\|/g, '').split('|').length, 8, r);
});
