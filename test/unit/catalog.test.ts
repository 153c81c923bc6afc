/**
 * systemd/speakerd.catalog against the code, both directions (issue 13 §2): every MESSAGE_ID the
 * daemon can write has an entry, every entry is one of them and is emitted by a log call in src/.
 * (That journalctl parses the file: test/integration/catalog.test.ts.)
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { ErrorCode } from '../../src/core/errors.js';
import { CodeMessageId, MessageId } from '../../src/system/message-ids.js';
import { type CatalogEntry, header, REPO, readCatalog, substitutions } from '../fakes/catalog.js';

const entries = readCatalog();
const byId = new Map(entries.map((e) => [e.id, e]));

/** Every .ts file of src/, with its text. */
function sources(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (d.name.endsWith('.ts')) out.set(relative(REPO, p), readFileSync(p, 'utf8'));
    }
  };
  walk(join(REPO, 'src'));
  return out;
}

const src = sources();
/** The definitions themselves do not count as a use. */
const DEFINITIONS = new Set(['src/system/message-ids.ts', 'src/core/errors.ts']);
const uses = (re: RegExp): string[] =>
  [...src].filter(([path, text]) => !DEFINITIONS.has(path) && re.test(text)).map(([path]) => path);

const emitted = new Map<string, string>([
  ...Object.entries(MessageId).map(([k, id]): [string, string] => [id, `MessageId.${k}`]),
  ...Object.entries(CodeMessageId).map(([code, id]): [string, string] => [id, `CodeMessageId[${code}]`]),
]);

test('ids: 32 lowercase hex digits, unique in the code and in the catalog', () => {
  const ids = [...Object.values(MessageId), ...Object.values(CodeMessageId)];
  assert.equal(new Set(ids).size, ids.length, 'an id used twice in message-ids.ts');
  for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/, id);
  const catalogIds = entries.map((e) => e.id);
  assert.equal(new Set(catalogIds).size, catalogIds.length, 'an id with two catalog entries');
  for (const e of entries) assert.match(e.id, /^[0-9a-f]{32}$/, `line ${e.line}: ${e.id}`);
  // Every code of errors.ts has its id (the Record type says so; this says it at run time too).
  assert.deepEqual(Object.keys(CodeMessageId).sort(), Object.values(ErrorCode).sort());
});

test('every MESSAGE_ID the code can emit has a catalog entry', () => {
  const missing = [...emitted].filter(([id]) => !byId.has(id)).map(([id, what]) => `${what} ${id}`);
  assert.deepEqual(missing, []);
});

test('every catalog entry is a MESSAGE_ID of the code', () => {
  const unknown = entries.filter((e) => !emitted.has(e.id)).map((e) => `line ${e.line}: ${e.id}`);
  assert.deepEqual(unknown, []);
});

test('every event id is put on a log record in src/ (message_id: MessageId.X)', () => {
  const unused = Object.keys(MessageId).filter(
    (k) => uses(new RegExp(`message_id:\\s*MessageId\\.${k}\\b`)).length === 0,
  );
  assert.deepEqual(unused, [], 'events no code emits');
});

// Where each code is logged with `code` is listed in the issue-13 report; the link's codes are
// checked on real records in supervisor-journal.test.ts and link-policy.test.ts.
test('every error code is used in src/ beyond its definition', () => {
  const unused = Object.entries(ErrorCode)
    .filter(([k]) => uses(new RegExp(`ErrorCode\\.${k}\\b`)).length === 0)
    .map(([, code]) => code);
  assert.deepEqual(unused, [], 'codes no code uses');
});

test('entries: Subject, Defined-By: speakerd, Documentation, and a text that says what to do', () => {
  for (const e of entries) {
    const where = `entry ${e.id} (line ${e.line})`;
    assert.equal(header(e, 'Subject').length, 1, `${where}: one Subject`);
    assert.deepEqual(header(e, 'Defined-By'), ['speakerd'], where);
    const docs = header(e, 'Documentation');
    assert.ok(docs.length > 0, `${where}: Documentation`);
    for (const d of docs.join(' ').split(/\s+/))
      assert.match(
        d,
        /^(file:\/\/\/opt\/speakerd\/(README|hardware)\.md(#[a-z0-9-]+)?|man:[a-z_.-]+\(\d\))$/,
        where,
      );
    assert.ok(
      e.text.split('\n\n').length >= 3,
      `${where}: what happened, what the device does, what to check`,
    );
  }
});

/** UPPER_SNAKE of a camelCase or snake_case name, as the journal writer maps fields (contract). */
const upperSnake = (name: string): string => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

test('@FIELD@ substitutions are journal fields the records carry', () => {
  // Every identifier of src/, as a journal field name; a nested field is two of them joined
  // (`turn.durationMs` → TURN_DURATION_MS). A typo in the catalog would match neither.
  const names = new Set<string>();
  for (const text of src.values())
    for (const m of text.matchAll(/\b[a-z][A-Za-z0-9_]*\b/g)) names.add(upperSnake(m[0]));
  const known = (field: string): boolean => {
    if (field === 'DEVICE_ID') return true;
    if (!field.startsWith('SPEAKERD_')) return false;
    const f = field.slice('SPEAKERD_'.length);
    if (names.has(f)) return true;
    const parts = f.split('_');
    for (let i = 1; i < parts.length; i++)
      if (names.has(parts.slice(0, i).join('_')) && names.has(parts.slice(i).join('_'))) return true;
    return false;
  };
  const bad: string[] = [];
  for (const e of entries) for (const f of substitutions(e)) if (!known(f)) bad.push(`${e.id}: @${f}@`);
  assert.deepEqual(bad, []);
  // The fields the link records carry, named as the contract maps them (journal-contract.md).
  const fields = (e: CatalogEntry | undefined) => (e ? substitutions(e) : []);
  assert.ok(fields(byId.get(MessageId.LinkDown)).includes('SPEAKERD_REASON'), 'LinkDown says the cause');
  assert.ok(fields(byId.get(MessageId.ActivationWaiting)).includes('SPEAKERD_ACTIVATION_CODE'));
  assert.ok(fields(byId.get(MessageId.ReconnectFailing)).includes('SPEAKERD_URL'));
  // A record without a Device-Id yet (config, identity: before it is known) gets no @DEVICE_ID@.
  for (const code of [ErrorCode.ConfigInvalid, ErrorCode.Identity])
    assert.ok(!fields(byId.get(CodeMessageId[code])).includes('DEVICE_ID'), code);
});
