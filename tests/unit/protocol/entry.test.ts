// The public entry `aun-worker/protocol` (protocol/index.ts) is an explicit list: what a library
// author needs is there, the tab↔owner handshake and the internal helpers are not.
import { describe, expect, it } from 'vitest';
import * as entry from '../../../protocol/index.ts';

describe('aun-worker/protocol', () => {
  it('exports the errors, the method map, the AID rules, the default deadline and the envelope types', () => {
    for (const name of [
      'AunError', 'ErrorCode', 'CloseCode', 'errorFromRpc', 'errorFromWire', 'errorToWire', 'TimeoutError',
      'METHODS', 'isMethodName', 'AID_PATTERN', 'AID_RULES', 'aidProblem', 'isValidAid', 'classifyServerFrame',
      'DEFAULT_DEADLINE_MS', 'P2P_ENVELOPE_TYPE', 'GROUP_ENVELOPE_TYPE',
    ]) expect(entry, name).toHaveProperty(name);
  });

  it('keeps the handshake internals and the byte helpers out', () => {
    for (const name of [
      'ATTACH', 'CONNECT', 'DRAIN', 'DRAINED', 'TAB_PROTOCOL', 'isNewer', 'NOT_EXECUTED', 'isNotExecuted', 'heldBy',
      'holderOf', 'FACADE_METHODS', 'CHALLENGE_METHOD', 'preAuthId', 'newRpcId', 'pemToDer', 'canonicalJson',
      'recipientsDigest',
    ]) expect(entry, name).not.toHaveProperty(name);
  });

  it('a wire error and back keeps class, code, data and retryable', () => {
    const e = entry.errorFromWire(entry.errorToWire(new entry.TimeoutError('late', entry.ErrorCode.Internal, { a: 1 }, true)));
    expect(e).toBeInstanceOf(entry.TimeoutError);
    expect([e.message, e.code, e.data, e.retryable]).toEqual(['late', entry.ErrorCode.Internal, { a: 1 }, true]);
    expect(entry.errorToWire(new DOMException('stop', 'AbortError'))).toEqual({ name: 'AbortError', code: entry.ErrorCode.Internal, message: 'stop' });
  });
});
