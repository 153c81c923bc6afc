/**
 * The device-side MCP server (protocol.md §5.4, design.md §3.7): JSON-RPC 2.0 requests from the
 * server's MCP client in, response payloads out. Transport-agnostic: the caller takes the payload
 * of an inbound `mcp` message, passes it to `handle()`, and sends what comes back as the payload of
 * an outbound `mcp` message.
 *
 * Behaviour follows the firmware (78/xiaozhi-esp32 `main/mcp_server.cc` · ParseMessage,
 * GetToolsList, DoToolCall): `initialize`, `tools/list` in pages of at most `maxPageBytes` (8000
 * there) whose `nextCursor` is the name of the first tool left out, `tools/call` answering
 * `{content:[{type:"text",text}],isError:false}`; unknown methods and tools, bad arguments and tool
 * failures are JSON-RPC errors. Where the firmware stays silent or omits the error code we answer
 * with the standard code (its own docs/mcp-protocol.md shows `-32601` for an unknown tool):
 * -32600 invalid request, -32601 unknown method or tool, -32602 bad params, -32603 tool failure.
 * Parse errors (-32700) cannot happen here: the codec has parsed the frame already.
 *
 * Never answered (undefined): notifications (no `id`, or a `notifications/…` method), responses
 * (no `method` but `result`/`error`), anything without a usable id (number or short string), and
 * anything that is not an object. `handle()` never rejects.
 */
import { type Clock, SystemClock } from '../core/clock.js';
import { describeError } from '../core/errors.js';
import { isPlainObject, type Json } from '../core/json.js';
import type { Logger } from '../system/logger.js';
import {
  type Classified,
  classifyRequest,
  clip,
  type McpResponse,
  RpcCode,
  type RpcError,
} from './jsonrpc.js';
import { checkArguments, type McpTool } from './tools.js';

export { type McpResponse, RpcCode, type RpcError } from './jsonrpc.js';

export const MCP_PROTOCOL_VERSION = '2024-11-05';

export interface McpServerOptions {
  readonly tools: readonly McpTool[];
  readonly serverInfo: { readonly name: string; readonly version: string };
  readonly log: Logger;
  /** Upper bound of one `tools/list` result, serialized (the firmware's max_payload_size). */
  readonly maxPageBytes?: number;
  /** Requests larger than this (approximate serialized characters) are refused unread. */
  readonly maxRequestBytes?: number;
  /** Requests nested deeper than this are refused unread. */
  readonly maxDepth?: number;
  /** A tool that has not finished by then is answered -32603 (xinnan itself waits 30 s). */
  readonly toolTimeoutMs?: number;
  readonly clock?: Clock;
}

export const DEFAULT_MAX_PAGE_BYTES = 8000;
export const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024;
export const DEFAULT_MAX_DEPTH = 32;
export const DEFAULT_TOOL_TIMEOUT_MS = 10_000;
/** `{"tools":[]}` */
const EMPTY_PAGE_BYTES = 12;

interface ListedTool {
  readonly tool: McpTool;
  /** What tools/list sends for it. */
  readonly entry: { readonly name: string; readonly description: string; readonly inputSchema: object };
  readonly bytes: number;
  /** `,"nextCursor":"<name>"` */
  readonly cursorBytes: number;
}

class RpcFailure extends Error {
  constructor(readonly error: RpcError) {
    super(error.message);
  }
}

function fail(code: RpcCode, message: string): never {
  throw new RpcFailure({ code, message });
}

export class McpServer {
  readonly #tools: readonly ListedTool[];
  readonly #byName: ReadonlyMap<string, ListedTool>;
  readonly #serverInfo: { readonly name: string; readonly version: string };
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #maxPageBytes: number;
  readonly #maxRequestBytes: number;
  readonly #maxDepth: number;
  readonly #toolTimeoutMs: number;

  /** Throws (a programmer error) on duplicate tool names or a tool too big for a page on its own. */
  constructor(o: McpServerOptions) {
    this.#serverInfo = { name: o.serverInfo.name, version: o.serverInfo.version };
    this.#log = o.log;
    this.#clock = o.clock ?? new SystemClock();
    this.#maxPageBytes = o.maxPageBytes ?? DEFAULT_MAX_PAGE_BYTES;
    this.#maxRequestBytes = o.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.#maxDepth = o.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.#toolTimeoutMs = o.toolTimeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS;
    const listed = o.tools.map((tool): ListedTool => {
      const entry = { name: tool.name, description: tool.description, inputSchema: tool.inputSchema };
      return {
        tool,
        entry,
        bytes: Buffer.byteLength(JSON.stringify(entry)),
        cursorBytes: Buffer.byteLength(`,"nextCursor":${JSON.stringify(tool.name)}`),
      };
    });
    const byName = new Map<string, ListedTool>();
    listed.forEach((t, i) => {
      if (t.tool.name === '') throw new RangeError('MCP tool without a name');
      if (byName.has(t.tool.name)) throw new RangeError(`MCP tool ${t.tool.name} added twice`);
      byName.set(t.tool.name, t);
      const reserve = listed[i + 1]?.cursorBytes ?? 0;
      if (EMPTY_PAGE_BYTES + t.bytes + reserve > this.#maxPageBytes)
        throw new RangeError(`MCP tool ${t.tool.name} does not fit a ${this.#maxPageBytes}-byte page`);
    });
    this.#tools = listed;
    this.#byName = byName;
  }

  /** Tool names in listing order. */
  get toolNames(): readonly string[] {
    return this.#tools.map((t) => t.tool.name);
  }

  /** The response payload to send back, or undefined when nothing must be sent. Never rejects. */
  async handle(payload: unknown): Promise<McpResponse | undefined> {
    const started = this.#clock.now();
    let c: Classified;
    try {
      c = classifyRequest(payload, { maxRequestBytes: this.#maxRequestBytes, maxDepth: this.#maxDepth });
    } catch (err) {
      this.#log.warn({ err: describeError(err) }, 'mcp: unreadable message ignored');
      return undefined;
    }
    if (c.kind === 'ignore') {
      this.#log[c.level](`mcp: ${c.why}, not answered`);
      return undefined;
    }
    const { id, method } = c;
    let response: McpResponse;
    if (c.kind === 'error') {
      response = { jsonrpc: '2.0', id, error: c.error };
    } else {
      try {
        response = { jsonrpc: '2.0', id, result: await this.#dispatch(c.method, c.params) };
      } catch (err) {
        const error: RpcError =
          err instanceof RpcFailure
            ? err.error
            : { code: RpcCode.InternalError, message: describeError(err) };
        response = { jsonrpc: '2.0', id, error };
      }
    }
    const ms = Math.round(this.#clock.now() - started);
    const tool = c.kind === 'request' && method === 'tools/call' ? this.#toolNameOf(c.params) : undefined;
    if ('error' in response) {
      this.#log.warn(
        { method: clip(method), id, tool, code: response.error.code, err: response.error.message, ms },
        `mcp ${clip(method)} failed: ${response.error.message}`,
      );
    } else {
      this.#log.debug({ method: clip(method), id, tool, ms }, `mcp ${clip(method)} answered`);
    }
    return response;
  }

  #toolNameOf(params: Json | undefined): string | undefined {
    return typeof params?.name === 'string' ? clip(params.name) : undefined;
  }

  async #dispatch(method: string, params: Json | undefined): Promise<object> {
    switch (method) {
      case 'initialize':
        // The firmware keeps params.capabilities.vision for its camera; we have none.
        return {
          protocolVersion: MCP_PROTOCOL_VERSION,
          capabilities: { tools: {} },
          serverInfo: this.#serverInfo,
        };
      case 'tools/list':
        return this.#list(params?.cursor);
      case 'tools/call':
        return this.#call(params);
      default:
        return fail(RpcCode.MethodNotFound, `Method not implemented: ${clip(method)}`);
    }
  }

  /**
   * One page: as many tools from the cursor on as fit `maxPageBytes` serialized, keeping room for
   * the `nextCursor` naming the first tool left out (the firmware's GetToolsList). An empty cursor
   * starts at the top (xinnan's docs send `cursor: ""`); an unknown one is bad params. The
   * firmware's `withUserTools` needs no handling: we have no user-only tools.
   */
  #list(cursor: unknown): object {
    if (cursor !== undefined && typeof cursor !== 'string')
      fail(RpcCode.InvalidParams, 'cursor must be a string');
    let start = 0;
    if (cursor !== undefined && cursor !== '') {
      start = this.#tools.findIndex((t) => t.tool.name === cursor);
      if (start < 0) fail(RpcCode.InvalidParams, `Unknown cursor: ${clip(cursor)}`);
    }
    const tools = this.#tools;
    let size = EMPTY_PAGE_BYTES;
    let end = start;
    while (end < tools.length) {
      const t = tools[end];
      if (t === undefined) break;
      const add = t.bytes + (end > start ? 1 : 0);
      const reserve = tools[end + 1]?.cursorBytes ?? 0;
      if (size + add + reserve > this.#maxPageBytes) break;
      size += add;
      end++;
    }
    // Cannot happen: the constructor checked that every tool fits a page on its own.
    if (end === start && start < tools.length) fail(RpcCode.InternalError, 'tool too large for a page');
    const next = tools[end];
    return {
      tools: tools.slice(start, end).map((t) => t.entry),
      ...(next === undefined ? {} : { nextCursor: next.tool.name }),
    };
  }

  async #call(params: Json | undefined): Promise<object> {
    // The firmware's wording for each refusal (ParseMessage / DoToolCall).
    if (params === undefined) return fail(RpcCode.InvalidParams, 'Missing params');
    const { name, arguments: args } = params;
    if (typeof name !== 'string') return fail(RpcCode.InvalidParams, 'Missing name');
    if (args !== undefined && !isPlainObject(args)) return fail(RpcCode.InvalidParams, 'Invalid arguments');
    const listed = this.#byName.get(name);
    if (!listed) return fail(RpcCode.MethodNotFound, `Unknown tool: ${clip(name)}`);
    const checked = checkArguments(listed.tool.inputSchema, args);
    if (!checked.ok) return fail(RpcCode.InvalidParams, checked.message);
    const text = await this.#withTimeout(listed.tool, checked.args);
    return { content: [{ type: 'text', text }], isError: false };
  }

  #withTimeout(tool: McpTool, args: Parameters<McpTool['call']>[0]): Promise<string> {
    const ms = this.#toolTimeoutMs;
    return new Promise<string>((resolve, reject) => {
      const timer = this.#clock.setTimeout(
        () =>
          reject(
            new RpcFailure({ code: RpcCode.InternalError, message: `${tool.name} timed out after ${ms} ms` }),
          ),
        ms,
      );
      Promise.resolve()
        .then(() => tool.call(args))
        .then(
          (text) => {
            this.#clock.clearTimeout(timer);
            resolve(text);
          },
          (err: unknown) => {
            this.#clock.clearTimeout(timer);
            reject(err);
          },
        );
    });
  }
}
