import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode } from '../../src/core/errors.js';
import {
  type CloseFacts,
  classifyEnd,
  handshakeHeaders,
  socketErrorCode,
} from '../../src/session/link-policy.js';

const base: CloseFacts = {
  code: 1006,
  reason: '',
  wasReady: false,
  openForMs: undefined,
  preHelloText: [],
  httpStatus: undefined,
  localCause: undefined,
};

test('1000/1001/1005 after a ready session are routine (protocol.md §8.2)', () => {
  for (const code of [1000, 1001, 1005]) {
    assert.deepEqual(classifyEnd({ ...base, code, wasReady: true, openForMs: 5000 }), {
      kind: 'routine',
      code,
      reason: '',
    });
  }
});

test('1006, 1011, 1009 and closes before the hello are faults', () => {
  assert.equal(classifyEnd({ ...base, wasReady: true, openForMs: 10 }).kind, 'fault');
  assert.equal(classifyEnd({ ...base, code: 1011, wasReady: true, openForMs: 10 }).kind, 'fault');
  assert.match(
    JSON.stringify(classifyEnd({ ...base, code: 1009, wasReady: true, openForMs: 10 })),
    /too big/,
  );
  const early = classifyEnd({ ...base, code: 1000, openForMs: 50 });
  assert.deepEqual(early, {
    kind: 'fault',
    code: ErrorCode.ConnectFailed,
    cause: 'server closed 1000 before hello',
    afterUpgrade: true,
  });
  const refused = classifyEnd({ ...base, localCause: 'ECONNREFUSED connect ECONNREFUSED 127.0.0.1:9' });
  assert.deepEqual(refused, {
    kind: 'fault',
    code: ErrorCode.ConnectFailed,
    cause: 'ECONNREFUSED connect ECONNREFUSED 127.0.0.1:9',
    afterUpgrade: false,
  });
});

test('a local cause (timeouts, send failures) wins over the close code', () => {
  const end = classifyEnd({
    ...base,
    code: 1000,
    wasReady: true,
    openForMs: 9000,
    localCause: 'heartbeat timeout',
    localCode: ErrorCode.HeartbeatTimeout,
  });
  assert.deepEqual(end, {
    kind: 'fault',
    code: ErrorCode.HeartbeatTimeout,
    cause: 'heartbeat timeout',
    afterUpgrade: true,
  });
});

test('every fault carries the E_* code its catalog entry explains', () => {
  const code = (f: Partial<CloseFacts>) => {
    const end = classifyEnd({ ...base, ...f });
    return end.kind === 'fault' ? end.code : end.kind;
  };
  assert.equal(code({ wasReady: true, openForMs: 10 }), ErrorCode.ConnectionLost, '1006 after the hello');
  assert.equal(code({ code: 1011, wasReady: true, openForMs: 10 }), ErrorCode.ConnectionLost);
  assert.equal(code({ code: 1009, wasReady: true, openForMs: 10 }), ErrorCode.MessageTooBig);
  for (const c of [1002, 1003, 1007])
    assert.equal(code({ code: c, wasReady: true, openForMs: 10 }), ErrorCode.ProtocolViolation, `close ${c}`);
  assert.equal(code({ code: 1011, openForMs: 10 }), ErrorCode.ConnectFailed, 'closed before the hello');
  assert.equal(code({ httpStatus: 502 }), ErrorCode.ConnectFailed);
  assert.equal(code({ localCause: 'ECONNREFUSED' }), ErrorCode.ConnectFailed, 'never upgraded');
  assert.equal(code({ wasReady: true, openForMs: 9, localCause: 'ECONNRESET' }), ErrorCode.ConnectionLost);
  assert.equal(code({ httpStatus: 401 }), 'auth', 'a refusal is E_AUTH_REJECTED, the supervisor says so');
  // ws's receiver names what it refused (ws lib/receiver.js).
  assert.equal(socketErrorCode('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', true), ErrorCode.MessageTooBig);
  assert.equal(socketErrorCode('WS_ERR_INVALID_UTF8', true), ErrorCode.ProtocolViolation);
  assert.equal(socketErrorCode('ECONNRESET', true), ErrorCode.ConnectionLost);
  assert.equal(socketErrorCode('ECONNRESET', false), ErrorCode.ConnectFailed);
  assert.equal(socketErrorCode(undefined, false), ErrorCode.ConnectFailed);
});

test('auth: HTTP 401/403, or text then close before the hello (xinnan 认证失败)', () => {
  assert.equal(classifyEnd({ ...base, httpStatus: 401 }).kind, 'auth');
  assert.equal(classifyEnd({ ...base, httpStatus: 403 }).kind, 'auth');
  assert.equal(classifyEnd({ ...base, httpStatus: 502 }).kind, 'fault');
  const x = classifyEnd({ ...base, code: 1000, openForMs: 3, preHelloText: ['认证失败'] });
  assert.equal(x.kind, 'auth');
  assert.match(JSON.stringify(x), /认证失败/);
});

test('headers: no Authorization for an empty token; Bearer added only when the token has no space', () => {
  const ids = { deviceId: 'aa:bb:cc:dd:ee:ff', clientId: 'c' };
  assert.equal('Authorization' in handshakeHeaders(ids, ''), false);
  assert.equal('Authorization' in handshakeHeaders(ids, '   '), false);
  assert.equal(handshakeHeaders(ids, 'abc').Authorization, 'Bearer abc');
  assert.equal(handshakeHeaders(ids, 'Bearer abc').Authorization, 'Bearer abc');
  assert.equal(handshakeHeaders(ids, 'x')['Protocol-Version'], '1');
});
