/**
 * One client connection of the dev-server, from the upgrade to the close: acceptance checks and
 * auth (handshake.ts, protocol.md §2.5), hello (§3.2), frame routing, keepalive and xinnan's
 * no-voice timer (§8.1 rows 3–4, no-voice-timer.ts) and the connection-level fault switches. The
 * listen/reply cycle and the farewell live in turn.ts, the MCP client (options.mcp, §5.4) in
 * mcp-client.ts.
 */
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { type RawData, WebSocket } from 'ws';
import { CAPTURE_RATE, FRAME_MS } from '../audio/audio-port.js';
import { OpusDecoder } from '../audio/opus.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { Heartbeat } from '../core/heartbeat.js';
import { StateCell } from '../core/state.js';
import { decodeClientFrame, encodeServerMessage } from '../protocol/codec.js';
import type { ClientMessage, ServerMessage } from '../protocol/messages.js';
import type { Logger } from '../system/logger.js';
import type { TokenCheck } from './auth.js';
import { type DevServerFaults, GARBAGE_AFTER_HELLO, type GarbageKind, garbageFrame } from './faults.js';
import { AUTH_FAILED_TEXT, type Identity, identityOf, NO_DEVICE_ID_TEXT } from './handshake.js';
import { McpClient, volumeForSpeech } from './mcp-client.js';
import { NoVoiceTimer } from './no-voice-timer.js';
import { Turn, type TurnPort } from './turn.js';
import type { DevServerEvents, ResolvedOptions } from './types.js';

export type SessionState =
  | 'connected'
  | 'idle'
  | 'listening'
  | 'speaking'
  | 'answering'
  | 'farewell'
  | 'closing'
  | 'closed';

export interface SessionHost {
  readonly options: ResolvedOptions;
  readonly clock: Clock;
  readonly log: Logger;
  /** Read at each decision, so `setFaults` applies to open connections too. */
  faults(): Readonly<DevServerFaults>;
  /** ok when auth is off or the device is on the allow list. */
  checkAuth(deviceId: string, clientId: string, authorization: string | undefined): TokenCheck;
  /** The session has closed: drop it from the client count before 'closed' is emitted. */
  forget(sessionId: string): void;
  /** Where the session reports what happened (the DevServer itself). */
  readonly events: EventEmitter<DevServerEvents>;
}

function toBuffer(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}

export class Session {
  readonly id = randomUUID();
  /** Resolves after the socket has closed and every timer of this session is gone. */
  readonly closed: Promise<void>;
  readonly #log: Logger;
  readonly #state: StateCell<SessionState>;
  readonly #identity: Identity;
  readonly #turn: Turn;
  /** xinnan's library keepalive: a ping every 20 s, 20 s to answer (protocol.md §8.4); none when the interval is 0. */
  readonly #keepalive: Heartbeat | undefined;
  readonly #noVoice: NoVoiceTimer;
  #decoder: OpusDecoder | undefined = new OpusDecoder(CAPTURE_RATE);
  /** Only once the client's hello advertised `features.mcp` (protocol.md §5.4) and options.mcp is on. */
  #mcp: McpClient | undefined;
  #grace: TimerHandle | undefined;
  /** A close due shortly after a last `tts stop` (the farewell, fault close-after-reply). */
  #closeSoon: TimerHandle | undefined;
  #resolveClosed: () => void = () => undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly req: IncomingMessage,
    private readonly host: SessionHost,
  ) {
    const { clock, options } = host;
    this.#identity = identityOf(req);
    this.#log = host.log.child({ session_id: this.id, device: this.#identity.deviceId });
    this.#state = new StateCell<SessionState>('connected', this.#log, 'devserver_session');
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    // The turn's events go out unchanged; an ended utterance may also trigger an MCP volume call.
    const events: TurnPort['events'] = {
      emit: (event: keyof DevServerEvents, ...args: DevServerEvents[keyof DevServerEvents]): boolean => {
        const delivered = host.events.emit(event, ...args);
        const e = args[0];
        if (event === 'utterance' && typeof e === 'object' && 'speechMs' in e)
          this.#afterUtterance(e.speechMs);
        return delivered;
      },
    };
    this.#turn = new Turn({
      sessionId: this.id,
      options,
      clock,
      log: this.#log,
      events,
      faults: () => host.faults(),
      send: (message) => this.#send(message),
      sendAudio: (packet) => this.#sendRaw(packet, true),
      activity: () => this.#noVoice.activity(),
      farewellDue: (voiced) => this.#noVoice.frame(voiced),
      closeSoon: (code, ms) => this.#scheduleClose(code, ms),
      enter: (phase, reason) => this.#state.transition(phase, reason),
      phase: () => this.#state.value,
      close: (code) => this.close(code),
    });
    this.#keepalive =
      options.pingIntervalMs > 0
        ? new Heartbeat(
            clock,
            options.pingIntervalMs,
            options.pingTimeoutMs,
            () => this.#ping(),
            () => {
              this.#log.warn(
                { timeout_ms: options.pingTimeoutMs },
                'dev-server: no pong in time, closing 1011',
              );
              this.close(1011, 'keepalive ping timeout');
            },
          )
        : undefined;
    this.#noVoice = new NoVoiceTimer(
      clock,
      this.#log,
      { closeMs: options.noVoiceCloseMs, checkMs: options.noVoiceCheckMs },
      (silentFor) => {
        this.#log.info(
          { silent_ms: Math.round(silentFor), timeout_ms: options.noVoiceCloseMs },
          "dev-server: no activity past the no-voice timeout + 60 s, closing 1000 like xinnan's backstop",
        );
        this.close(1000);
      },
    );
  }

  get state(): SessionState {
    return this.#state.value;
  }

  start(): void {
    const ws = this.ws;
    ws.on('close', (code, reason) => this.#onClose(code, reason.toString('utf8')));
    ws.on('error', (err) => this.#log.warn({ err: err.message }, 'dev-server: WebSocket error'));
    const { deviceId, clientId, authorization } = this.#identity;
    this.host.events.emit('connection', { sessionId: this.id, headers: this.req.headers, deviceId });
    if (deviceId === undefined) {
      this.#log.warn('dev-server: no Device-Id header or query, rejecting like xinnan');
      this.#sendRaw(NO_DEVICE_ID_TEXT, false);
      this.close(1000);
      return;
    }
    const auth = this.host.checkAuth(deviceId, clientId ?? '', authorization);
    if (!auth.ok) {
      this.#log.warn({ client: clientId, reason: auth.reason }, 'dev-server: authentication failed');
      this.#sendRaw(AUTH_FAILED_TEXT, false);
      this.close(1000);
      return;
    }
    ws.on('message', (data, isBinary) => this.#onFrame(toBuffer(data), isBinary));
    // The server runs with autoPong off so that the ignorePings switch can stay silent.
    ws.on('ping', (data) => {
      if (this.host.faults().ignorePings) this.#log.debug('dev-server: fault ignore-pings, ping unanswered');
      else if (ws.readyState === WebSocket.OPEN) ws.pong(data);
    });
    ws.on('pong', () => this.#keepalive?.alive());
    this.#keepalive?.start();
    // xinnan's clock starts with the connection, not at the hello [SRV core/connection.py · handle_connection].
    this.#noVoice.start();
    this.#log.info(
      { client: clientId, auth: authorization ? 'token' : 'none' },
      'dev-server: client connected',
    );
  }

  /** Close frame with `code`; with no code an empty close frame (the client reports 1005). */
  close(code?: number, reason = ''): void {
    const state = this.#state.value;
    if (state === 'closing' || state === 'closed') return;
    this.#quiesce();
    this.#state.transition('closing', code === undefined ? 'close without status' : `close ${code}`);
    if (code === undefined) this.ws.close();
    else this.ws.close(code, reason);
    // A client that never answers the close frame (hung, blackholed) must not keep us waiting.
    this.#grace = this.host.clock.setTimeout(() => {
      this.#grace = undefined;
      this.#log.warn('dev-server: client did not complete the close handshake, terminating');
      this.ws.terminate();
    }, this.host.options.closeGraceMs);
  }

  #scheduleClose(code: number, ms: number): void {
    if (this.#closeSoon) return;
    this.#closeSoon = this.host.clock.setTimeout(() => {
      this.#closeSoon = undefined;
      this.close(code);
    }, ms);
  }

  sendGarbage(kind: GarbageKind): boolean {
    const frame = garbageFrame(kind, this.host.options.random);
    this.#log.warn(
      { kind, bytes: frame.data.length },
      'dev-server: fault garbage, sending a malformed frame',
    );
    return this.#sendRaw(frame.data, frame.binary);
  }

  // ---------------------------------------------------------------- inbound

  #onFrame(data: Buffer, isBinary: boolean): void {
    const state = this.#state.value;
    if (state === 'closing' || state === 'closed') {
      // Frames still in flight when we closed: acting on them would reopen a finished session.
      this.#log.debug({ bytes: data.length, binary: isBinary }, 'dev-server: frame after close ignored');
      return;
    }
    const frame = decodeClientFrame(data, isBinary);
    switch (frame.kind) {
      case 'audio':
        this.#onAudio(frame.opus);
        return;
      case 'text':
        // xinnan echoes non-JSON text verbatim (protocol.md §10.1); the codec's copy is clipped.
        this.#log.warn({ text: frame.text }, 'dev-server: non-JSON text, echoing it back like xinnan');
        this.#sendRaw(data.toString('utf8'), false);
        return;
      case 'unknown':
        this.#log.info({ type: frame.type }, 'dev-server: unknown message type ignored');
        return;
      case 'invalid':
        this.#log.warn({ reason: frame.reason }, 'dev-server: invalid message ignored');
        return;
      case 'message':
        this.#onMessage(frame.message);
        return;
    }
  }

  #onMessage(m: ClientMessage): void {
    const sessionId = this.id;
    switch (m.type) {
      case 'hello':
        this.host.events.emit('hello', { sessionId, hello: m });
        this.#onHello(m.features.mcp === true);
        return;
      case 'listen':
        if (m.state === 'start') {
          this.host.events.emit('listen', { sessionId, state: m.state, mode: m.mode });
          this.#turn.listenStart(m.mode);
        } else if (m.state === 'stop') {
          this.host.events.emit('listen', { sessionId, state: m.state });
          this.#turn.listenStop();
        } else {
          this.host.events.emit('listen', { sessionId, state: m.state, text: m.text });
          this.#turn.detect(m.text);
        }
        return;
      case 'abort':
        this.host.events.emit('abort', { sessionId, reason: m.reason });
        this.#turn.abort();
        return;
      case 'mcp':
        if (this.#mcp) this.#mcp.onMessage(m.payload);
        else this.#log.debug('dev-server: mcp message ignored (MCP client off or not advertised)');
        return;
      case 'iot':
      case 'goodbye':
      case 'ping':
        // No LLM, and xinnan's JSON ping is off by default (protocol.md §5.1).
        this.#log.debug({ type: m.type }, 'dev-server: message not handled by the dev-server, ignored');
        return;
    }
  }

  #onHello(clientMcp: boolean): void {
    const faults = this.host.faults();
    if (faults.noHello) {
      this.#log.warn('dev-server: fault no-hello, not answering the hello');
      return;
    }
    // The real downlink rate, not an echo of the client's (xinnan's echo is a bug, protocol.md §4.3).
    const rate = this.host.options.ttsRate;
    const audio_params = {
      format: 'opus',
      sample_rate: rate,
      channels: 1,
      frame_duration: FRAME_MS,
    } as const;
    this.#send({ type: 'hello', version: 1, transport: 'websocket', audio_params, session_id: this.id });
    if (this.#state.value === 'connected') this.#state.transition('idle', 'hello');
    if (faults.closeAfterHello) {
      this.#log.warn('dev-server: fault close-after-hello, empty close frame (client sees 1005)');
      this.close();
      return;
    }
    if (faults.garbage) for (const kind of GARBAGE_AFTER_HELLO) this.sendGarbage(kind);
    if (faults.oversize) this.sendGarbage('oversize');
    if (clientMcp) this.#startMcp();
  }

  /** xinnan sends `initialize` right after the hello; never `mcp` to a client that did not advertise it. */
  #startMcp(): void {
    if (!this.host.options.mcp || this.#mcp) return;
    const mcp = new McpClient({
      send: (payload) => this.#send({ type: 'mcp', payload }),
      clock: this.host.clock,
      log: this.#log,
    });
    this.#mcp = mcp;
    void mcp.start();
  }

  /** mcpVolumeFromSpeech: the dev-server has no ASR, so the level comes from the speech length. */
  #afterUtterance(speechMs: number): void {
    if (!this.host.options.mcpVolumeFromSpeech || !this.#mcp) return;
    if (speechMs <= 0) {
      this.#log.debug('dev-server: no speech in the utterance, volume left alone');
      return;
    }
    void this.#mcp.setVolume(volumeForSpeech(speechMs));
  }

  #onAudio(opus: Buffer): void {
    const pcm = this.#decoder?.decode(opus);
    if (pcm === undefined) return; // closing: the decoder is gone
    if (!Buffer.isBuffer(pcm)) {
      // Never fatal, like xinnan (protocol.md §4.1).
      this.#log.debug(
        { bytes: opus.length, err: pcm.message },
        'dev-server: undecodable uplink packet dropped',
      );
      return;
    }
    this.host.events.emit('audio', { sessionId: this.id, pcm });
    this.#turn.audio(pcm);
  }

  // ---------------------------------------------------------------- outbound

  #send(message: ServerMessage): boolean {
    return this.#sendRaw(encodeServerMessage(message), false);
  }

  /** Guarded: a frame for a socket that is no longer open is dropped, never thrown (design.md §1). */
  #sendRaw(data: string | Buffer, binary: boolean): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(data, { binary }, (err) => {
      if (err) this.#log.debug({ err: err.message }, 'dev-server: send failed');
    });
    return true;
  }

  #ping(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.ping(undefined, undefined, (err) => {
      if (err) this.#log.debug({ err: err.message }, 'dev-server: ping failed');
    });
  }

  // ---------------------------------------------------------------- teardown

  /** Stops everything that could still send or fire. */
  #quiesce(): void {
    this.#turn.cancel();
    this.#mcp?.close();
    this.#keepalive?.stop();
    this.#noVoice.stop();
    this.host.clock.clearTimeout(this.#closeSoon);
    this.#closeSoon = undefined;
  }

  #onClose(code: number, reason: string): void {
    this.#quiesce();
    this.host.clock.clearTimeout(this.#grace);
    this.#grace = undefined;
    this.#decoder?.delete();
    this.#decoder = undefined;
    this.#state.transition('closed', `WebSocket closed ${code}`);
    this.host.forget(this.id);
    this.host.events.emit('closed', { sessionId: this.id, code, reason });
    this.#resolveClosed();
  }
}
