/**
 * systemd/speakerd.catalog parses as journalctl parses it (issue 13 §2): compiled with the real
 * `journalctl --update-catalog` into a scratch root, `--list-catalog` lists every entry with its
 * subject, and `--dump-catalog ID` gives back each entry's text. Needs journalctl (Debian
 * `systemd`, in scripts/test.sh's APT_PACKAGES); no running journald.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CodeMessageId, MessageId } from '../../src/system/message-ids.js';
import { CATALOG_PATH, header, readCatalog } from '../fakes/catalog.js';

let root = '';

function journalctl(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync('journalctl', [`--root=${root}`, ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`journalctl ${args.join(' ')}: ${r.error.message}`);
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'speakerd-catalog-'));
  // Where a packaged catalog lives; journalctl --root reads <root>/usr/lib/systemd/catalog and
  // <root>/usr/local/lib/systemd/catalog and writes <root>/var/lib/systemd/catalog/database.
  const dir = join(root, 'usr/lib/systemd/catalog');
  mkdirSync(dir, { recursive: true });
  copyFileSync(CATALOG_PATH, join(dir, 'speakerd.catalog'));
  const r = journalctl('--update-catalog');
  assert.equal(r.code, 0, `journalctl --update-catalog failed:\n${r.out}${r.err}`);
  // journalctl reports a badly formatted line on stderr and skips it: it must say nothing.
  assert.equal(r.err, '', 'update-catalog complained');
  assert.ok(existsSync(join(root, 'var/lib/systemd/catalog/database')));
});
after(() => rmSync(root, { recursive: true, force: true }));

test('--list-catalog lists every MESSAGE_ID of the code with its subject, and nothing else', () => {
  const r = journalctl('--list-catalog');
  assert.equal(r.code, 0, r.err);
  const listed = new Map<string, string>();
  for (const line of r.out.trim().split('\n')) {
    // "<id> <Defined-By>: <Subject>" (systemd catalog.c, catalog_list)
    const m = /^([0-9a-f]{32}) speakerd: (.*)$/.exec(line);
    assert.ok(m?.[1], `unexpected line: ${line}`);
    listed.set(m[1], m[2] ?? '');
  }
  const ids = [...Object.values(MessageId), ...Object.values(CodeMessageId)].sort();
  assert.deepEqual([...listed.keys()].sort(), ids);
  for (const e of readCatalog()) assert.equal(listed.get(e.id), header(e, 'Subject')[0], e.id);
});

test('--dump-catalog ID gives back the whole entry: headers and text as written', () => {
  const entries = readCatalog();
  // One call with every id: journalctl prints them in the order asked.
  const r = journalctl('--dump-catalog', ...entries.map((e) => e.id));
  assert.equal(r.code, 0, r.err);
  for (const e of entries) {
    const start = r.out.indexOf(`-- ${e.id}\n`);
    assert.ok(start >= 0, `${e.id} not dumped`);
    const next = r.out.indexOf('\n-- ', start + 1);
    const dumped = r.out.slice(start, next < 0 ? undefined : next);
    assert.ok(dumped.includes(`Subject: ${header(e, 'Subject')[0]}`), `${e.id}: subject`);
    assert.ok(dumped.includes('Defined-By: speakerd'), `${e.id}: Defined-By`);
    // The text survives compilation unchanged, @FIELD@ placeholders included (-x fills them).
    assert.ok(dumped.includes(e.text), `${e.id}: text differs after compilation`);
  }
});

test('an entry that is not in the catalog is not listed (the check above can fail)', () => {
  const r = journalctl('--list-catalog', '00000000000000000000000000000001');
  assert.equal(r.out.trim(), '');
});
