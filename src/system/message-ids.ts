/**
 * MESSAGE_IDs (systemd.journal-fields(7)): one fixed 128-bit id per event an operator acts on, so
 * `journalctl MESSAGE_ID=…` finds it on every device and `journalctl -x` explains it from
 * systemd/speakerd.catalog. Never change an id: fleets query them. A record carries one by its
 * `message_id` field; a record with an error `code` and no `message_id` gets its code's id.
 * New ids: `journalctl --new-id128` (or 32 random hex digits).
 */
import { ErrorCode } from '../core/errors.js';

/** Events that are not an error code of their own. */
export const MessageId = {
  /** The daemon is up and told systemd READY=1 (online or about to be). */
  Ready: '9cf4e8bba7114215806fced2b996dda1',
  /** The link to the server is ready (a session is open). */
  LinkUp: '08c380b575d847edb53ce6a57dc660ee',
  /** The link left ready: the session ended; the cause is in the record. */
  LinkDown: '27bcc2f04e1f431292eac7bf79d49d5f',
  /** Reconnecting keeps failing (after N attempts or T seconds). */
  ReconnectFailing: '22b025ead54f49a99fa16a1e7f75d0d2',
  /** Fresh credentials fetched from the OTA server. */
  CredentialsRefreshed: 'd94db69de4914555a5bd562f9dca3a8b',
  /** The device waits for its activation code to be entered. */
  ActivationWaiting: '1f13434a51684a32a917a35a23986ab3',
  /** The microphone delivers digital silence (a mute or a wrong capture control). */
  MicMuted: '55c10dafcc35459ca04d9bec0ed91b23',
  /** A watchdog health check fails: WATCHDOG=1 is withheld. */
  WatchdogFailing: 'b668471d40384541b029bccdb0b7f9ad',
  /** One conversation turn ended: its outcome and latency timeline. */
  TurnEnded: '623215e3ca9b4daaa570e560648175e9',
  /** The daemon stops on a signal. */
  Stopping: '19c785f910414c13b85617a60723ac7a',
} as const;
export type MessageId = (typeof MessageId)[keyof typeof MessageId];

/** The MESSAGE_ID of every error code of core/errors.ts (each has its catalog entry). */
export const CodeMessageId: Readonly<Record<ErrorCode, string>> = {
  [ErrorCode.ConfigInvalid]: '37fdfd85eb8b41cc818ceeda5db5f01d',
  [ErrorCode.ConnectFailed]: '726b5eb3287c4c13a67be0cf97a863da',
  [ErrorCode.HelloTimeout]: 'a8db02c842ae4b22995ca11a5ff3e03a',
  [ErrorCode.HeartbeatTimeout]: '6b5ddb045ea640d38efa7cd2c9967125',
  [ErrorCode.AuthRejected]: 'bde4867a43d04901a98adad9b35b7c4d',
  [ErrorCode.SendFailed]: '3fd2347bf92c4c6881db2bd52f415697',
  [ErrorCode.ConnectionLost]: '42d957ed599a482dba2adea74dacde86',
  [ErrorCode.MessageTooBig]: 'a04dd7508b6249f8a420cddf9c2513c3',
  [ErrorCode.ProtocolViolation]: '8fbd671ee9634343871644c262bc3874',
  [ErrorCode.ListenDeadline]: 'cff1661bed054de7b8c3cfb9ba86fdb9',
  [ErrorCode.ReplyDeadline]: '8110366e18dc453192e128b830ce07e6',
  [ErrorCode.SpeakingDeadline]: 'f8ea07e2e7e3403196978c0fc492dba2',
  [ErrorCode.AudioSource]: 'd62e1447f5d1436f97c660c5311c12ca',
  [ErrorCode.AudioSink]: 'a47e6b6366cc4d0599da4201d7e4373d',
  [ErrorCode.OpusDecode]: '8787cfb0f96f45f1a3122b42d45dd030',
  [ErrorCode.Identity]: '7b8d74c77c7642d3a9d4b40f70dd7c3b',
  [ErrorCode.Credentials]: 'd2616e72ac544d78b34d7767c9eb2e24',
  [ErrorCode.Gpio]: 'ca53ccbfb19b44269fd32ce620585410',
  [ErrorCode.LedWrite]: 'df31c1654b474268b059eeb3d0bd8dfe',
  [ErrorCode.NotifyUnavailable]: '7a4591a5c1964e95b5f513806bfdb2fd',
  [ErrorCode.Invariant]: '6b63398a001147e582492176170218f3',
  [ErrorCode.OtaUnreachable]: '522b95995a0c4953b3292aae59be5e86',
  [ErrorCode.OtaTimeout]: 'c2b3d6ccd6fc4ae38677c4962402d651',
  [ErrorCode.OtaHttp]: 'c445598d4f7245188a3e48d05b7f1eb4',
  [ErrorCode.OtaInvalid]: 'a6b515543bc14ce8b310c967b8d12941',
  [ErrorCode.OtaRejected]: '679691fc55e64b9085529b19cd2a87f6',
  [ErrorCode.OtaNoWebsocket]: '8a562ee85c0f45fdb0225a1846dd109f',
  [ErrorCode.WakeWord]: '2c2927e0e7f24239ae5a22ef4d531db1',
};
