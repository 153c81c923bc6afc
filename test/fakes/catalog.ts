/**
 * Reads systemd/speakerd.catalog the way journalctl's catalog import does (systemd catalog.c): an
 * entry starts at a line `-- <32 hex digits>` (optionally followed by a language), its header is
 * `Key: value` lines up to the first empty line, the text follows up to the next entry. Comments
 * (`#`) between entries are skipped.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const CATALOG_PATH = `${REPO}systemd/speakerd.catalog`;

export interface CatalogEntry {
  readonly id: string;
  readonly line: number;
  readonly headers: ReadonlyArray<readonly [key: string, value: string]>;
  readonly text: string;
}

export function readCatalog(path = CATALOG_PATH): CatalogEntry[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const entries: CatalogEntry[] = [];
  let current: { id: string; line: number; headers: Array<[string, string]>; body: string[] } | undefined;
  let inHeader = false;
  const flush = (): void => {
    if (current)
      entries.push({
        id: current.id,
        line: current.line,
        headers: current.headers,
        text: current.body.join('\n').trim(),
      });
  };
  lines.forEach((raw, i) => {
    if (raw.startsWith('-- ')) {
      flush();
      current = { id: raw.slice(3).trim(), line: i + 1, headers: [], body: [] };
      inHeader = true;
      return;
    }
    if (current === undefined) return; // the file's leading comment
    if (inHeader) {
      if (raw.trim() === '') {
        inHeader = false;
        return;
      }
      const m = /^([A-Za-z][A-Za-z0-9-]*):\s*(.*)$/.exec(raw);
      if (!m?.[1]) throw new Error(`${path}:${i + 1}: not a header line: ${raw}`);
      current.headers.push([m[1], m[2] ?? '']);
      return;
    }
    // A comment line between entries belongs to no text (the section rulers of the file).
    if (raw.startsWith('#')) return;
    current.body.push(raw);
  });
  flush();
  return entries;
}

export function header(e: CatalogEntry, key: string): string[] {
  return e.headers.filter(([k]) => k === key).map(([, v]) => v);
}

/** The @FIELD@ substitutions of an entry, Subject included. */
export function substitutions(e: CatalogEntry): string[] {
  const all = `${header(e, 'Subject').join('\n')}\n${e.text}`;
  return [...all.matchAll(/@([A-Za-z0-9_]+)@/g)].map((m) => m[1] ?? '');
}
