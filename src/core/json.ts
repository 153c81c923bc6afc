/** A parsed JSON object: string keys, values not yet checked. */
export type Json = Record<string, unknown>;

/**
 * Whether a parsed value is a JSON object (not null, not an array): the first check of every
 * reader of outside JSON (config, protocol frames, MCP, log records).
 */
export function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
