/**
 * The tools of the device-side MCP server (protocol.md §5.4): their shape, the firmware's argument
 * rules, and the two tools every xiaozhi device exposes, under the firmware's names and input
 * schemas (78/xiaozhi-esp32 `main/mcp_server.cc` · AddCommonTools, `main/mcp_server.h` · Property,
 * McpTool::to_json) so server prompts written for ESP32 devices keep working.
 */
import { isPlainObject } from '../core/json.js';
import type { Logger } from '../system/logger.js';
import { type DeviceStatusSource, readDeviceStatus } from './device-status.js';

/** One argument, as the firmware's `Property::to_json` writes it. */
export type PropertySchema =
  | {
      readonly type: 'integer';
      readonly minimum?: number;
      readonly maximum?: number;
      readonly default?: number;
      readonly description?: string;
    }
  | {
      readonly type: 'string';
      readonly maxLength?: number;
      readonly default?: string;
      readonly description?: string;
    }
  | { readonly type: 'boolean'; readonly default?: boolean; readonly description?: string };

/** `inputSchema` of a tool: `required` lists the properties without a default, and is absent when none. */
export interface InputSchema {
  readonly type: 'object';
  readonly properties: Readonly<Record<string, PropertySchema>>;
  readonly required?: readonly string[];
}

export type ArgumentValue = number | string | boolean;
export type ToolArguments = Readonly<Record<string, ArgumentValue>>;

export interface McpTool {
  readonly name: string;
  readonly description: string;
  readonly inputSchema: InputSchema;
  /**
   * Runs the tool with arguments already checked against `inputSchema` (defaults filled in).
   * Returns the result text; booleans, numbers and objects go out as text like the firmware's
   * (`McpTool::Call`). A throw is a tool failure, answered as a JSON-RPC error like the firmware's.
   */
  call(args: ToolArguments): Promise<string> | string;
}

/** Builds an input schema whose `required` follows the firmware's rule (`PropertyList::GetRequired`). */
export function inputSchema(properties: Readonly<Record<string, PropertySchema>>): InputSchema {
  const required = Object.entries(properties)
    .filter(([, p]) => p.default === undefined)
    .map(([name]) => name);
  return required.length > 0 ? { type: 'object', properties, required } : { type: 'object', properties };
}

/**
 * Checks `args` against `schema` like the firmware's DoToolCall, with two strictures of our own:
 * an integer must be an integer (the firmware truncates 50.5 to 50) and a wrong type is reported
 * as such. Arguments the schema does not name are ignored, as the firmware does. Messages reuse
 * the firmware's wording ("Missing valid argument: volume", "Property 'volume': value 150 exceeds
 * maximum 100") so a server's logs read the same.
 */
export function checkArguments(
  schema: InputSchema,
  args: unknown,
): { ok: true; args: ToolArguments } | { ok: false; message: string } {
  const given = isPlainObject(args) ? args : {};
  const out: Record<string, ArgumentValue> = {};
  const required = new Set(schema.required ?? []);
  for (const [name, p] of Object.entries(schema.properties)) {
    const v = Object.hasOwn(given, name) ? given[name] : undefined;
    if (v === undefined) {
      if (p.default !== undefined) out[name] = p.default;
      else if (required.has(name)) return { ok: false, message: `Missing valid argument: ${name}` };
      continue;
    }
    switch (p.type) {
      case 'integer': {
        if (typeof v !== 'number' || !Number.isSafeInteger(v))
          return { ok: false, message: `Missing valid argument: ${name} (expected an integer)` };
        if (p.minimum !== undefined && v < p.minimum)
          return { ok: false, message: `Property '${name}': value ${v} is below minimum ${p.minimum}` };
        if (p.maximum !== undefined && v > p.maximum)
          return { ok: false, message: `Property '${name}': value ${v} exceeds maximum ${p.maximum}` };
        out[name] = v;
        break;
      }
      case 'string': {
        if (typeof v !== 'string')
          return { ok: false, message: `Missing valid argument: ${name} (expected a string)` };
        if (p.maxLength !== undefined && v.length > p.maxLength)
          return {
            ok: false,
            message: `Property '${name}': string length ${v.length} exceeds maximum ${p.maxLength}`,
          };
        out[name] = v;
        break;
      }
      case 'boolean': {
        if (typeof v !== 'boolean')
          return { ok: false, message: `Missing valid argument: ${name} (expected a boolean)` };
        out[name] = v;
        break;
      }
    }
  }
  return { ok: true, args: out };
}

// ---------------------------------------------------------------- the device's tools

export const GET_DEVICE_STATUS = 'self.get_device_status';
export const SET_VOLUME = 'self.audio_speaker.set_volume';

/**
 * What set_volume needs of the speaker volume; `audio/volume.ts` Volume fits as it is (`level`
 * getter; `set()` applies at once, persists, resolves when done, throws RangeError only for an
 * invalid level, which the schema check rules out).
 */
export interface VolumeControl {
  readonly level: number;
  set(level: number): Promise<void> | void;
}

/** `self.get_device_status`: no arguments, JSON text (see device-status.ts for the fields). */
export function deviceStatusTool(source: DeviceStatusSource, log: Logger): McpTool {
  return {
    name: GET_DEVICE_STATUS,
    description:
      'Provides the real-time information of the device, including the current status of the audio ' +
      'speaker, network, uptime, CPU temperature, memory and server connection.\n' +
      'Use this tool for: \n' +
      '1. Answering questions about current condition (e.g. what is the current volume of the audio speaker?)\n' +
      '2. As the first step to control the device (e.g. turn up / down the volume of the audio speaker, etc.)',
    inputSchema: inputSchema({}),
    call: async () => JSON.stringify(await readDeviceStatus(source, log)),
  };
}

/** `self.audio_speaker.set_volume` {volume: integer 0–100}: applied and persisted; answers "true". */
export function setVolumeTool(volume: VolumeControl, log: Logger): McpTool {
  return {
    name: SET_VOLUME,
    description:
      'Set the volume of the audio speaker. If the current volume is unknown, you must call ' +
      '`self.get_device_status` tool first and then call this tool.',
    inputSchema: inputSchema({ volume: { type: 'integer', minimum: 0, maximum: 100 } }),
    call: async (args) => {
      const level = args.volume;
      // checkArguments has run; this only narrows the type.
      if (typeof level !== 'number') throw new TypeError('volume is not a number');
      const from = volume.level;
      await volume.set(level);
      // Debug: the daemon's volume control (audio/controls.ts) logs the change at info, once.
      log.debug({ volume: level, from }, `set_volume: ${from} → ${level}`);
      return 'true';
    },
  };
}

export interface DeviceToolDeps {
  readonly status: DeviceStatusSource;
  readonly volume: VolumeControl;
  readonly log: Logger;
}

/** The common tools, in the firmware's order (get_device_status first, for the prompt cache). */
export function deviceTools(d: DeviceToolDeps): McpTool[] {
  return [deviceStatusTool(d.status, d.log), setVolumeTool(d.volume, d.log)];
}
