import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configReference } from '../../src/config/doc.js';

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

test('the README config reference is the one generated from the schema', () => {
  const m = /<!-- config-reference[^>]*-->\n([\s\S]*?)\n<!-- \/config-reference -->/.exec(readme);
  assert.ok(m?.[1], 'README has the config-reference markers');
  assert.equal(
    m[1].trim(),
    configReference().trim(),
    'run `node dist/src/main.js config-doc` and paste it into the README',
  );
});

test('the README first screen has the two commands a newcomer runs', () => {
  const firstScreen = readme.split('\n').slice(0, 20).join('\n');
  assert.match(firstScreen, /npm ci && npm run demo/);
  assert.match(firstScreen, /npm test/);
});
