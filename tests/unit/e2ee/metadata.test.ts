import { describe, expect, it } from 'vitest';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  canonicalJsonText, concatBytes, E2eeError, normalizeProtectedHeaders, toBase64, utf8, verifyMetadataAuth, withMetadataAuth,
} from '../../../worker/e2ee/index.ts';

const masterKey = new Uint8Array(32).fill(7);

describe('protected header normalisation', () => {
  it('lowercases and trims keys, stringifies values, adds payload_type and forces the SDK fields', () => {
    const headers = { ' Device_ID ': 'd', t: true, n: 1.0, z: null, o: { b: 2, a: 1 }, sdk_version: '9' };
    expect(normalizeProtectedHeaders(headers, { type: 'text' })).toEqual({
      device_id: 'd', t: 'true', n: '1', z: '', o: '{"a":1,"b":2}', payload_type: 'text', sdk_lang: 'typescript', sdk_version: '0.1.0',
    });
  });

  it('keeps a caller payload_type and ignores a non-string payload.type', () => {
    expect(normalizeProtectedHeaders({ payload_type: 'x' }, { type: 'text' }).payload_type).toBe('x');
    expect(normalizeProtectedHeaders({}, { type: 5 }).payload_type).toBeUndefined();
  });

  it('refuses bad and reserved keys', () => {
    expect(() => normalizeProtectedHeaders({ 'a b': 1 }, {})).toThrow('protected header key must match [a-z0-9_-]+');
    expect(() => normalizeProtectedHeaders({ _AUTH: 1 }, {})).toThrow('protected header key is reserved');
  });
});

describe('metadata _auth', () => {
  it('an empty body gets no _auth, and verifies as empty', () => {
    expect(withMetadataAuth(masterKey, 'context', { _auth: { alg: 'x', tag: 'y' } })).toEqual({});
    expect(verifyMetadataAuth(masterKey, 'context', {})).toEqual({});
    expect(verifyMetadataAuth(masterKey, 'context', null)).toBeUndefined();
  });

  it('the tag is HMAC(HMAC(master, label), domain ‖ 0 ‖ canonical body), long and multi-byte bodies included', () => {
    for (const body of [{ a: '1' }, { note: 'ü日😀'.repeat(500), b: 2 }, { a: '1' }]) {
      const signed = withMetadataAuth(masterKey, 'context', body);
      const key = hmac(sha256, masterKey, utf8('aun-envelope-metadata-key-v1'));
      const tag = hmac(sha256, key, concatBytes(utf8('aun-protected-context-v1'), new Uint8Array(1), utf8(canonicalJsonText(body))));
      expect((signed._auth as { tag: string }).tag).toBe(toBase64(tag));
      expect(verifyMetadataAuth(masterKey, 'context', signed)).toEqual(body);
    }
  });

  it('binds the domain: a headers tag does not verify as context', () => {
    const signed = withMetadataAuth(masterKey, 'protected_headers', { a: '1' });
    expect(verifyMetadataAuth(masterKey, 'protected_headers', signed)).toEqual({ a: '1' });
    expect(() => verifyMetadataAuth(masterKey, 'context', signed)).toThrow('context _auth verification failed');
  });

  it('types each failure', () => {
    const signed = withMetadataAuth(masterKey, 'context', { a: 1 });
    const cases: [unknown, string, string][] = [
      ['str', 'malformed', 'context must be an object'],
      [{ a: 1 }, 'context_auth_failed', 'context missing _auth'],
      [{ ...signed, _auth: { alg: 'HMAC-SHA1', tag: 'x' } }, 'context_auth_failed', 'context unsupported _auth alg'],
      [{ ...signed, _auth: { alg: 'HMAC-SHA256', tag: '' } }, 'context_auth_failed', 'context missing _auth tag'],
      [{ ...signed, a: 2 }, 'context_auth_failed', 'context _auth verification failed'],
    ];
    for (const [value, reason, message] of cases) {
      let caught: unknown;
      try {
        verifyMetadataAuth(masterKey, 'context', value);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(E2eeError);
      expect(caught).toMatchObject({ reason, message });
    }
  });
});
