/**
 * The README's config reference, generated from `configSchema` (design.md §5.9) so the docs
 * cannot drift from the validator. Walks zod's JSON Schema export (a public API) rather than
 * zod internals; the cross-field refinement (backoffCapMs ≥ backoffBaseMs) is not in JSON
 * Schema and is listed in a note below the table.
 */

import { z } from 'zod';
import { isPlainObject, type Json } from '../core/json.js';
import { ENV_OVERRIDES } from './load.js';
import { configSchema } from './schema.js';

export interface ConfigField {
  /** Dotted path, e.g. `connection.pingIntervalMs`. */
  readonly path: string;
  readonly type: string;
  /** JSON of the default, or '' when the field has none (optional). */
  readonly default: string;
  readonly bounds: string;
  readonly doc: string;
  /** The env var that overrides it, or ''. */
  readonly env: string;
}

/** Every leaf field of the config, in schema order. */
export function configFields(): ConfigField[] {
  // io 'input' describes what may be written in the file: fields with defaults are optional there.
  const root: unknown = z.toJSONSchema(configSchema, { io: 'input' });
  const out: ConfigField[] = [];
  walk(root, [], out);
  return out;
}

function walk(node: unknown, at: readonly string[], out: ConfigField[]): void {
  if (!isPlainObject(node)) return;
  const props = node.properties;
  if (node.type === 'object' && isPlainObject(props)) {
    for (const [key, child] of Object.entries(props)) walk(child, [...at, key], out);
    return;
  }
  const path = at.join('.');
  const items = node.items;
  if (
    node.type === 'array' &&
    isPlainObject(items) &&
    items.type === 'object' &&
    isPlainObject(items.properties)
  ) {
    // A list of objects (gpio.leds): the list itself, then each item field as `list[].field`.
    out.push(leaf(node, path));
    for (const [key, child] of Object.entries(items.properties))
      walk(child, [...at.slice(0, -1), `${at.at(-1) ?? ''}[]`, key], out);
    return;
  }
  out.push(leaf(node, path));
}

function leaf(node: Json, path: string): ConfigField {
  return {
    path,
    type: typeOf(node),
    default: 'default' in node ? JSON.stringify(node.default) : '',
    bounds: boundsOf(node),
    doc: typeof node.description === 'string' ? node.description : '',
    env: ENV_OVERRIDES.find((o) => o.path.join('.') === path)?.env ?? '',
  };
}

function typeOf(node: Json): string {
  if (Array.isArray(node.enum)) return node.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (Array.isArray(node.anyOf)) {
    return node.anyOf
      .map((alt) =>
        !isPlainObject(alt) ? 'unknown' : 'const' in alt ? JSON.stringify(alt.const) : typeOf(alt),
      )
      .join(' | ');
  }
  return typeof node.type === 'string' ? node.type : 'unknown';
}

function boundsOf(node: Json): string {
  const parts: string[] = [];
  // zod writes Number.MAX_SAFE_INTEGER as the max of every int(); it is not a real bound.
  const num = (v: unknown): v is number => typeof v === 'number' && Math.abs(v) < Number.MAX_SAFE_INTEGER;
  if (num(node.minimum) && num(node.maximum)) parts.push(`${node.minimum}–${node.maximum}`);
  else if (num(node.minimum)) parts.push(`≥ ${node.minimum}`);
  else if (num(node.maximum)) parts.push(`≤ ${node.maximum}`);
  if (typeof node.minLength === 'number') parts.push(`length ≥ ${node.minLength}`);
  if (typeof node.maxItems === 'number') parts.push(`≤ ${node.maxItems} items`);
  if (typeof node.pattern === 'string') parts.push(`matches \`${node.pattern}\``);
  return parts.join(', ');
}

/** Escapes what would break a Markdown table cell. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Docs mention placeholders like `<token>`, which Markdown renderers would drop as HTML tags. */
function html(text: string): string {
  return text.replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A Markdown table of every config field, for the README (`speakerd config-doc`). */
export function configReference(): string {
  const rows = configFields().map((f) =>
    [
      `\`${f.path}\``,
      f.type,
      f.default === '' ? '—' : `\`${f.default}\``,
      f.bounds,
      f.env ? `\`${f.env}\`` : '',
      html(f.doc),
    ]
      .map(cell)
      .join(' | '),
  );
  return [
    '| Field | Type | Default | Bounds | Env | Description |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r} |`),
    '',
    'Also checked: `connection.backoffCapMs` ≥ `connection.backoffBaseMs`; `wakeWord.models` is not ' +
      'empty when `wakeWord.enabled`. Unknown keys are errors. ' +
      'Env overrides apply after the file (an empty variable counts as unset); the file path is ' +
      '`/etc/speakerd/config.json` unless `--config F` or `SPEAKERD_CONFIG` says otherwise.',
    '',
  ].join('\n');
}
