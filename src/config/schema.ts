/**
 * The one config schema (design.md §3.1, §5.9): every field with its type, default, bounds and a
 * one-line doc. The README's config reference is generated from this file (`speakerd config-doc`).
 */
import { z } from 'zod';
import { APA102_PRESETS } from '../hardware/apa102-presets.js';
import { SOUND_LANGUAGES } from '../sounds/clips.js';

const ms = (def: number, min: number, max: number, doc: string) =>
  z.number().int().min(min).max(max).default(def).describe(doc);

const macRe = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const uuidV4Re = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export const serverSchema = z
  .object({
    websocketUrl: z
      .string()
      .regex(/^wss?:\/\/[^\s/]+/, 'must be a ws:// or wss:// URL')
      .optional()
      .describe(
        'xiaozhi WebSocket URL (protocol.md §2.1); set = connect there with `token` and skip OTA; unset = URL and token from OTA',
      ),
    token: z
      .string()
      .default('')
      .describe(
        'access token for an explicit websocketUrl, sent as "Authorization: Bearer <token>"; empty = no header (protocol.md §2.2)',
      ),
    otaUrl: z
      .string()
      .regex(/^https?:\/\/[^\s/]+/, 'must be an http:// or https:// URL')
      .default('https://api.tenclass.net/xiaozhi/ota/')
      .describe(
        'OTA endpoint that hands out the WebSocket URL, the token and activation codes (protocol.md §7)',
      ),
    allowInsecureTls: z
      .boolean()
      .default(false)
      .describe(
        'accept self-signed/invalid TLS certificates for wss:// (explicit opt-in); the OTA request is always verified: for a private CA set NODE_EXTRA_CA_CERTS',
      ),
  })
  .strict();

export const otaSchema = z
  .object({
    timeoutMs: ms(8_000, 1_000, 60_000, 'one OTA or activation request gives up after this'),
    retryBaseMs: ms(2_000, 500, 60_000, 'OTA retries back off with full jitter from this…'),
    retryCapMs: ms(300_000, 1_000, 3_600_000, '…up to this, forever (the cached answer is used meanwhile)'),
    language: z
      .string()
      .min(2)
      .max(16)
      .default('zh-CN')
      .describe('Accept-Language and body language of the OTA request (protocol.md §7.1)'),
  })
  .strict()
  .refine((o) => o.retryCapMs >= o.retryBaseMs, {
    message: 'retryCapMs must be ≥ retryBaseMs',
    path: ['retryCapMs'],
  });

export const identitySchema = z
  .object({
    deviceId: z
      .string()
      .regex(macRe, 'must be a lowercase MAC like aa:bb:cc:dd:ee:ff')
      .optional()
      .describe('Device-Id override; default: MAC of `interface` (protocol.md §2.4)'),
    clientId: z
      .string()
      .regex(uuidV4Re, 'must be a lowercase UUID v4')
      .optional()
      .describe('Client-Id override; default: a UUID v4 created once in stateDir'),
    interface: z
      .string()
      .min(1)
      .optional()
      .describe(
        'network interface whose MAC is the Device-Id; default: first non-loopback with a unicast MAC',
      ),
  })
  .strict();

export const connectionSchema = z
  .object({
    mode: z
      .enum(['persistent', 'on-demand'])
      .default('persistent')
      .describe('persistent: always connected; on-demand: connect on press like the firmware'),
    handshakeTimeoutMs: ms(10_000, 1_000, 120_000, 'TCP+TLS+HTTP upgrade must finish within this time'),
    helloTimeoutMs: ms(10_000, 1_000, 120_000, 'wait this long for the server hello (protocol.md §3.3)'),
    pingIntervalMs: ms(5_000, 500, 120_000, 'send a WebSocket ping this often'),
    pongTimeoutMs: ms(4_000, 500, 120_000, 'no inbound frame or pong this long after a ping → terminate()'),
    backoffBaseMs: ms(500, 10, 60_000, 'first reconnect delay ceiling (full jitter)'),
    backoffCapMs: ms(30_000, 100, 600_000, 'largest reconnect delay ceiling'),
    backoffResetMs: ms(30_000, 1_000, 3_600_000, 'a connection ready this long resets the backoff'),
    // 5.3 s: a fleet of N meets a restarting server at N/5.3 attempts/s and is back within 5.3 s of
    // its return, p90 at 4.8 s (core/backoff.ts; the numbers: bench/fleet.ts, issue 13 §6).
    routineReconnectMs: ms(
      5_300,
      0,
      60_000,
      'after a routine server close (1000/1001/1005/1012) the first attempt comes at a random delay up to this, and while the server refuses connections (restarting) every attempt this long after the last: a fleet of N meets it at N/this per second',
    ),
    restartRetryForMs: ms(
      60_000,
      0,
      600_000,
      'refusals in a row keep the routineReconnectMs period this long, then exponential backoff takes over; 0: exponential from the first refusal',
    ),
    refreshMinIntervalMs: ms(
      10_000,
      0,
      600_000,
      'after a refused token, credentials (OTA) are refreshed at most once per this, whatever the backoff drew',
    ),
    staleSessionMs: ms(
      100_000,
      0,
      3_600_000,
      "a session on which the server has sent no TTS audio for this long since it opened is stale: xinnan's close_connection_no_voice_time (120 s) would answer the next press with a farewell and close (protocol.md §8.1 row 3). Keep it below the server's setting, with room for the silence a press starts with; 0 = off",
    ),
    staleSessionPolicy: z
      .enum(['renew-at-rest', 'reconnect-on-press'])
      .default('renew-at-rest')
      .describe(
        'persistent mode: renew-at-rest replaces a stale session while the device is idle, so no press waits for a handshake; reconnect-on-press keeps it until a press, which then reconnects first (fewer handshakes, one handshake more on that press). On-demand mode closes a stale session at rest either way',
      ),
    reconnectFailingAfterAttempts: z
      .number()
      .int()
      .min(0)
      .max(10_000)
      .default(8)
      .describe(
        'this many connection attempts in a row without a ready session: log once (warning, MESSAGE_ID ReconnectFailing) that reconnecting keeps failing; again only after a ready session; 0 = never by count',
      ),
    reconnectFailingAfterMs: ms(
      60_000,
      0,
      86_400_000,
      'the same, once attempts have been failing this long (from the first failed attempt), whichever comes first; 0 = never by time',
    ),
    authFailureWindowMs: ms(
      3_000,
      100,
      60_000,
      'a close this soon after the upgrade, before the server hello, counts toward re-authentication',
    ),
    maxPayloadBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024)
      .describe('largest inbound WebSocket message; bigger ones close the connection (1009)'),
    maxBufferedBytes: z
      .number()
      .int()
      .min(4 * 1024)
      .max(16 * 1024 * 1024)
      .default(64 * 1024)
      .describe('drop (and count) outgoing audio frames while the socket has more than this queued'),
  })
  .strict()
  .refine((c) => c.backoffCapMs >= c.backoffBaseMs, {
    message: 'backoffCapMs must be ≥ backoffBaseMs',
    path: ['backoffCapMs'],
  });

export const conversationSchema = z
  .object({
    buttonMode: z
      .enum(['toggle', 'push-to-talk'])
      .default('toggle')
      .describe('toggle: click to talk (auto mode); push-to-talk: hold to talk (manual mode)'),
    listenDeadlineMs: ms(30_000, 1_000, 600_000, 'listening with no stt/tts reply this long → idle'),
    replyDeadlineMs: ms(15_000, 1_000, 600_000, 'after listen stop, no tts start this long → idle'),
    speakingDeadlineMs: ms(10_000, 1_000, 600_000, 'speaking with no audio and no tts stop this long → idle'),
    errorDisplayMs: ms(2_000, 100, 10_000, 'how long the error indicator shows before the device recovers'),
    checkInvariants: z
      .boolean()
      .default(false)
      .describe(
        'after every event, check that mic, speaker, turn and deadline agree with the state; a breach is logged as an error (E_INVARIANT) and the daemon goes on (for soaks and bring-up)',
      ),
  })
  .strict();

export const audioSchema = z
  .object({
    captureDevice: z
      .string()
      .min(1)
      .default('default')
      .describe('ALSA capture PCM, e.g. plughw:CARD=Device,DEV=0'),
    playbackDevice: z.string().min(1).default('default').describe('ALSA playback PCM'),
    decodeRate: z
      .union([z.literal(16000), z.literal(24000), z.literal(48000)])
      .default(24000)
      .describe('fixed downlink decode/playback rate, whatever the server hello says (protocol.md §4.3)'),
    prerollMs: ms(
      300,
      0,
      2_000,
      'audio kept from before the press and sent with it, so the first syllable is not lost',
    ),
    captureRestartMaxMs: ms(10_000, 500, 300_000, 'a dead mic is restarted with backoff up to this delay'),
    playbackPrebufferMs: ms(150, 0, 1_000, 'TTS audio gathered before aplay starts playing'),
    playbackMaxQueueMs: ms(300, 60, 5_000, 'at most this much TTS audio is queued ahead of the speaker'),
    defaultVolume: z
      .number()
      .int()
      .min(0)
      .max(100)
      .default(100)
      .describe('speaker volume 0–100 until one is set at runtime (then kept in stateDir)'),
    mixerControl: z
      .string()
      .min(1)
      .optional()
      .describe('ALSA mixer control for the volume (amixer sset), e.g. "PCM"; default: software volume'),
    volumeStep: z
      .number()
      .int()
      .min(1)
      .max(50)
      .default(10)
      .describe(
        'one press of gpio.volumeUp / gpio.volumeDown changes the volume by this much (clamped to 0–100)',
      ),
    opusComplexity: z
      .number()
      .int()
      .min(0)
      .max(10)
      .default(5)
      .describe('uplink Opus encoder complexity 0–10'),
    opusBitrate: z
      .number()
      .int()
      .min(6_000)
      .max(128_000)
      .optional()
      .describe('uplink Opus bitrate in bit/s; default: libopus automatic'),
  })
  .strict();

export const soundsSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'prompt sounds on the speaker: the activation code spoken while activation waits, and earcons (listening, link down, reconnected, error, mute on/off, volume)',
      ),
    language: z
      .enum(SOUND_LANGUAGES)
      .default('zh')
      .describe('language of the spoken activation code digits: zh or en'),
  })
  .strict();

export const metricsSchema = z
  .object({
    textfile: z
      .string()
      .regex(/^\/.*[^/]\.prom$/, 'must be an absolute path ending in .prom (node_exporter reads only *.prom)')
      .optional()
      .describe(
        "Prometheus metrics file for node_exporter's textfile collector, rewritten atomically every intervalMs and at stop, e.g. /var/lib/prometheus/node-exporter/speakerd.prom; unset = no metrics",
      ),
    intervalMs: ms(15_000, 1_000, 3_600_000, 'how often metrics.textfile is rewritten'),
  })
  .strict();

/**
 * The wake word (issue 14): openWakeWord keyword models run on onnxruntime-node. Off by default;
 * while off nothing of it is loaded. The models are the user's (openWakeWord's pre-trained ones are
 * CC BY-NC-SA 4.0 and not shipped).
 */
export const wakeWordModelSchema = z
  .object({
    path: z
      .string()
      .min(1)
      .describe('an openWakeWord keyword model (.onnx), e.g. one trained on your phrase'),
    phrase: z
      .string()
      .min(1)
      .describe('the words it listens for, sent as `listen detect` text (protocol.md §5), e.g. "你好小智"'),
    threshold: z
      .number()
      .gt(0)
      .max(1)
      .default(0.5)
      .describe('score 0–1 at which it fires (tune with `speakerd wakeword score`)'),
  })
  .strict();

export const wakeWordSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe('listen for the wake word (needs a 64-bit OS: onnxruntime-node has no 32-bit ARM build)'),
    models: z
      .array(wakeWordModelSchema)
      .max(8)
      .default([])
      .describe('keyword models, each with its phrase and threshold; at least one when enabled'),
    featureModelDir: z
      .string()
      .min(1)
      .optional()
      .describe(
        "directory with openWakeWord's melspectrogram.onnx and embedding_model.onnx; default: the first model's directory",
      ),
    refractoryMs: ms(2_000, 0, 60_000, 'after a detection, the same model does not fire again for this long'),
    duringSpeech: z
      .boolean()
      .default(false)
      .describe(
        'also listen while the device speaks: the wake word then interrupts the reply (abort, listen); only with echo cancellation, or its own voice can wake it',
      ),
  })
  .strict()
  .refine((w) => !w.enabled || w.models.length > 0, {
    message: 'wakeWord.enabled needs at least one entry in wakeWord.models',
    path: ['models'],
  });

/** A BCM GPIO number as printed on Raspberry Pi pinouts (not a sysfs number: see hardware/gpio.ts). */
const bcmLine = (def: number, doc: string) => z.number().int().min(0).max(63).default(def).describe(doc);

export const LED_ROLES = ['red', 'green', 'blue', 'status'] as const;
export type LedRole = (typeof LED_ROLES)[number];

export const ledSchema = z
  .object({
    line: z.number().int().min(0).max(63).describe('BCM GPIO number of this LED'),
    role: z
      .enum(LED_ROLES)
      .describe(
        'red/green/blue: one channel of an RGB LED or a mono LED of that colour; status: a mono LED lit for every colour',
      ),
    activeLow: z
      .boolean()
      .default(false)
      .describe('true when the LED lights on a low level (common-anode RGB)'),
  })
  .strict();

export const buttonSchema = z
  .object({
    line: bcmLine(
      17,
      'BCM GPIO number of the button (wired to GND; pull-up via gpio=17=ip,pu in config.txt)',
    ),
    activeLow: z
      .boolean()
      .default(true)
      .describe('true when a press reads low (button to GND with a pull-up)'),
    debounceMs: ms(30, 0, 500, 'a level must hold this long before it counts as an edge'),
    longPressMs: ms(
      3_000,
      500,
      30_000,
      'held this long: long press (reconnect; skip activation); not in push-to-talk mode',
    ),
    doubleClickMs: ms(
      0,
      0,
      1_000,
      'two clicks within this are a double click (stop: abort the reply, back to idle); 0 = off, else a click waits this long',
    ),
  })
  .strict();

/**
 * The privacy mute (issue 15 §3): a switch (its level says muted or not) or a button (each press
 * toggles). Wiring: hardware.md §2.1.
 */
export const muteSchema = z
  .object({
    line: z
      .number()
      .int()
      .min(0)
      .max(63)
      .describe('BCM GPIO number of the mute switch or button (to GND with a pull-up, like the button)'),
    kind: z
      .enum(['switch', 'button'])
      .default('switch')
      .describe(
        'switch: its position says muted or not, read at start and on every change, and it wins over the saved state; button: each press toggles',
      ),
    activeLow: z
      .boolean()
      .default(true)
      .describe('true when the switch closed / the button pressed reads low (to GND with a pull-up)'),
    mutedWhen: z
      .enum(['active', 'inactive'])
      .default('active')
      .describe(
        'switch only: muted while the line is active (closed, with activeLow matching the wiring) or inactive (open)',
      ),
    debounceMs: ms(30, 0, 500, 'a level must hold this long before it counts'),
  })
  .strict();

export const volumeButtonSchema = z
  .object({
    line: z.number().int().min(0).max(63).describe('BCM GPIO number of the button'),
    activeLow: z
      .boolean()
      .default(true)
      .describe('true when a press reads low (button to GND with a pull-up)'),
    debounceMs: ms(30, 0, 500, 'a level must hold this long before it counts as a press'),
  })
  .strict();

export const DEFAULT_LEDS = [
  { line: 22, role: 'red', activeLow: false },
  { line: 23, role: 'green', activeLow: false },
  { line: 24, role: 'blue', activeLow: false },
] as const;

export const gpioSchema = z
  .object({
    chipLabel: z
      .string()
      .min(1)
      .optional()
      .describe(
        'label of the GPIO chip the BCM numbers belong to; default: pinctrl-bcm2835, pinctrl-bcm2711 or pinctrl-rp1 (Raspberry Pi)',
      ),
    button: buttonSchema.default(buttonSchema.parse({})),
    leds: z
      .array(ledSchema)
      .max(3)
      .default(DEFAULT_LEDS.map((led) => ({ ...led })))
      .describe('up to three LED lines by role: one RGB LED (red, green, blue) or mono LEDs; [] = no LEDs'),
    mute: muteSchema.optional().describe('a privacy mute switch or button; unset = none (hardware.md §2.1)'),
    volumeUp: volumeButtonSchema.optional().describe('a volume-up button; unset = none'),
    volumeDown: volumeButtonSchema.optional().describe('a volume-down button; unset = none'),
  })
  .strict()
  .superRefine((g, ctx) => {
    const roles = new Set<string>();
    const lines = new Map<number, string>([[g.button.line, 'button.line']]);
    for (const name of ['mute', 'volumeUp', 'volumeDown'] as const) {
      const control = g[name];
      if (control === undefined) continue;
      const other = lines.get(control.line);
      if (other !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [name, 'line'],
          message: `GPIO${control.line} is already ${other}`,
        });
      lines.set(control.line, `${name}.line`);
    }
    g.leds.forEach((led, i) => {
      if (roles.has(led.role))
        ctx.addIssue({
          code: 'custom',
          path: ['leds', i, 'role'],
          message: `role "${led.role}" is given twice`,
        });
      roles.add(led.role);
      const other = lines.get(led.line);
      if (other !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['leds', i, 'line'],
          message: `GPIO${led.line} is already ${other}`,
        });
      lines.set(led.line, `leds.${i}.line`);
    });
  });

export const APA102_PRESET_NAMES = [
  'respeaker-2mic',
  'respeaker-4mic',
  'respeaker-6mic',
  'voice-bonnet',
] as const;
export type Apa102PresetName = (typeof APA102_PRESET_NAMES)[number];
/** The order of the three colour bytes after an LED's brightness byte, as sent on the wire. */
export const COLOR_ORDERS = ['bgr', 'brg', 'gbr', 'grb', 'rbg', 'rgb'] as const;
export type ColorOrder = (typeof COLOR_ORDERS)[number];

export const ledsSchema = z
  .object({
    type: z
      .enum(['gpio', 'apa102'])
      .default('gpio')
      .describe(
        'gpio: the LEDs of gpio.leds; apa102: APA102/DotStar RGB LEDs on an SPI bus (the voice HATs; hardware.md §6.1), gpio.leds then unused',
      ),
    preset: z
      .enum(APA102_PRESET_NAMES)
      .optional()
      .describe(
        'apa102: a board whose facts (device, count, powerLine; hardware.md §6.1) fill the fields left unset',
      ),
    device: z
      .string()
      .regex(/^\/dev\/spidev\d+\.\d+$/, 'must be a spidev device like /dev/spidev0.0')
      .optional()
      .describe(
        "apa102: the spidev device (SPI bus B, chip select C); default: the preset's, else /dev/spidev0.0",
      ),
    count: z
      .number()
      .int()
      .min(1)
      .max(256)
      .optional()
      .describe("apa102: LEDs in the chain; default: the preset's (without a preset it must be set)"),
    brightness: z
      .number()
      .int()
      .min(0)
      .max(31)
      .default(8)
      .describe("apa102: the chips' 5-bit global brightness, 0 (dark) to 31 (full current)"),
    colorOrder: z
      .enum(COLOR_ORDERS)
      .default('bgr')
      .describe(
        'apa102: the order of the colour bytes after the brightness byte (APA102 datasheet: blue, green, red); change it if red shows as another colour',
      ),
    speedHz: z
      .number()
      .int()
      .min(100_000)
      .max(20_000_000)
      .default(8_000_000)
      .describe("apa102: SPI clock in Hz (Seeed's driver uses 8 MHz); lower it if the LEDs flicker"),
    powerLine: z
      .number()
      .int()
      .min(0)
      .max(63)
      .optional()
      .describe(
        "apa102: BCM GPIO that powers the LEDs, driven high while running (ReSpeaker 4-Mic: 5); default: the preset's",
      ),
    maxFps: z
      .number()
      .int()
      .min(1)
      .max(60)
      .default(30)
      .describe(
        'apa102: most frames per second an animation (breathing, spinner) draws; a still picture draws none',
      ),
  })
  .strict();

export const configSchema = z
  .object({
    server: serverSchema.default(serverSchema.parse({})),
    identity: identitySchema.default({}),
    stateDir: z.string().min(1).default('/var/lib/speakerd').describe('where Client-Id and caches are kept'),
    connection: connectionSchema.default(connectionSchema.parse({})),
    ota: otaSchema.default(otaSchema.parse({})),
    conversation: conversationSchema.default(conversationSchema.parse({})),
    audio: audioSchema.default(audioSchema.parse({})),
    sounds: soundsSchema.default(soundsSchema.parse({})),
    metrics: metricsSchema.default(metricsSchema.parse({})),
    wakeWord: wakeWordSchema.default(wakeWordSchema.parse({})),
    hardware: z
      .enum(['gpio', 'simulated'])
      .default('gpio')
      .describe('simulated: keyboard button and terminal LEDs (also --sim); never a silent fallback'),
    gpio: gpioSchema.default(gpioSchema.parse({})),
    leds: ledsSchema.default(ledsSchema.parse({})),
    logLevel: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])
      .default('info')
      .describe('log level'),
    logTarget: z
      .enum(['auto', 'journal', 'stdout'])
      .default('auto')
      .describe(
        'auto: native journal entries with fields under a systemd unit (JOURNAL_STREAM set and /run/systemd/journal/socket there), else pretty on a terminal and JSON lines otherwise; journal: native entries whenever /run/systemd/journal/socket exists; stdout: never native',
      ),
  })
  .strict()
  .superRefine((c, ctx) => {
    const leds = c.leds;
    if (leds.type !== 'apa102') return;
    const preset = leds.preset === undefined ? undefined : APA102_PRESETS[leds.preset];
    if (leds.count === undefined && preset === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['leds', 'count'],
        message: 'an apa102 chain needs its LED count: set leds.count or leds.preset',
      });
    if (leds.device === undefined && preset !== undefined && preset.device === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['leds', 'device'],
        message: preset.whyNoDevice ?? `preset ${leds.preset} names no SPI device: set leds.device`,
      });
    const power = leds.powerLine ?? preset?.powerLine;
    if (power === undefined) return;
    const taken: ReadonlyArray<readonly [string, number | undefined]> = [
      ['gpio.button.line', c.gpio.button.line],
      ['gpio.mute.line', c.gpio.mute?.line],
      ['gpio.volumeUp.line', c.gpio.volumeUp?.line],
      ['gpio.volumeDown.line', c.gpio.volumeDown?.line],
    ];
    for (const [what, line] of taken)
      if (power === line)
        ctx.addIssue({
          code: 'custom',
          path: ['leds', 'powerLine'],
          message: `GPIO${power} is already ${what}`,
        });
  });

export type Config = z.infer<typeof configSchema>;
export type ConnectionConfig = Config['connection'];
export type ConversationConfig = Config['conversation'];
export type AudioConfig = Config['audio'];
export type SoundsConfig = Config['sounds'];
export type MetricsConfig = Config['metrics'];
export type WakeWordConfig = Config['wakeWord'];
export type OtaConfig = Config['ota'];
export type GpioConfig = Config['gpio'];
export type ButtonConfig = GpioConfig['button'];
export type LedConfig = GpioConfig['leds'][number];
export type MuteConfig = NonNullable<GpioConfig['mute']>;
export type VolumeButtonConfig = NonNullable<GpioConfig['volumeUp']>;
export type LedsConfig = Config['leds'];
