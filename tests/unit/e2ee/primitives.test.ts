import { p256 } from '@noble/curves/nist.js';
import { describe, expect, it } from 'vitest';
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  concatBytes,
  fromBase64,
  fromHex,
  hkdfSha256,
  hmacSha256,
  importPrivateKey,
  signDer,
  signRaw,
  SUITE,
  toBase64,
  toHex,
  unwrapMasterKey,
  utf8,
  verifyDer,
  verifyRaw,
  wrapMasterKey,
  wrapSalt,
} from '../../../worker/e2ee/index.ts';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { ALICE_PRIV, alice, bob } from './fixtures.ts';

const N = p256.Point.CURVE().n;
const message = utf8('hello aun v2');

function toHighS(sig: Uint8Array): Uint8Array {
  const s = BigInt('0x' + toHex(sig.subarray(32)));
  const high = s > N / 2n ? s : N - s;
  return concatBytes(sig.subarray(0, 32), fromHex(high.toString(16).padStart(64, '0')));
}

describe('ECDSA raw', () => {
  it('signs deterministically without low-S normalisation (golden basic_sign)', async () => {
    const sig = await signRaw(alice, message);
    expect(toBase64(sig)).toBe('NXRwQ7VRkDpKnO4MkQN4lX5KrJbv7zENoPrwQMA1Sh0HJUlo+1cc9ncX04QRKjMLHzHUeti7RVvQPzqXwtz0rg==');
    expect(await signRaw(alice, message)).toEqual(sig);
  });

  it('accepts a high-S signature (the golden envelopes carry some)', async () => {
    const high = toHighS(await signRaw(alice, message));
    expect(BigInt('0x' + toHex(high.subarray(32))) > N / 2n).toBe(true);
    expect(await verifyRaw(alice.publicSpki, message, high)).toBe(true);
  });

  it('returns false, never throws, for a bad size, a bad key or a wrong message', async () => {
    const sig = await signRaw(alice, message);
    expect(await verifyRaw(alice.publicSpki, message, sig.subarray(0, 63))).toBe(false);
    expect(await verifyRaw(alice.publicSpki.subarray(1), message, sig)).toBe(false);
    expect(await verifyRaw(bob.publicSpki, message, sig)).toBe(false);
    expect(await verifyRaw(alice.publicSpki, utf8('other'), sig)).toBe(false);
  });

  it('signs with WebCrypto (random k) when the key has no scalar', async () => {
    const handles = await importPrivateKey(ALICE_PRIV, { keepScalar: false });
    const a = await signRaw(handles, message);
    expect(a.length).toBe(64);
    expect(await verifyRaw(alice.publicSpki, message, a)).toBe(true);
  });

  it('DER helpers round-trip and reject garbage', async () => {
    const der = await signDer(alice, message);
    expect(der[0]).toBe(0x30);
    expect(await verifyDer(alice.publicSpki, message, der)).toBe(true);
    expect(await verifyDer(alice.publicSpki, message, der.subarray(1))).toBe(false);
  });

  it('DER encoding matches @noble byte for byte, and only strict DER verifies', async () => {
    for (let i = 0; i < 32; i++) {
      const m = utf8(`message ${i}`);
      const raw = await signRaw(alice, m);
      const der = await signDer(alice, m);
      expect(toHex(der)).toBe(toHex(p256.Signature.fromBytes(raw, 'compact').toBytes('der')));
      expect(await verifyDer(alice.publicSpki, m, der)).toBe(true);
    }
    const der = await signDer(alice, message);
    const rLen = der[3]!;
    // r with a needless leading zero byte: the same numbers, not DER.
    const padded = concatBytes(new Uint8Array([0x30, der[1]! + 1, 0x02, rLen + 1, 0x00]), der.subarray(4));
    expect(await verifyDer(alice.publicSpki, message, padded)).toBe(false);
    const int = (v: bigint) => {
      const hex = v.toString(16).padStart(64, '0');
      const b = fromHex(hex.length % 2 ? '0' + hex : hex);
      const body = b[0]! & 0x80 ? concatBytes(new Uint8Array([0]), b) : b;
      return concatBytes(new Uint8Array([0x02, body.length]), body);
    };
    const seq = (r: bigint, s: bigint) => {
      const body = concatBytes(int(r), int(s));
      return concatBytes(new Uint8Array([0x30, body.length]), body);
    };
    const raw = p256.Signature.fromBytes(der, 'der');
    expect(await verifyDer(alice.publicSpki, message, seq(raw.r, raw.s))).toBe(true);
    expect(await verifyDer(alice.publicSpki, message, seq(raw.r + N, raw.s))).toBe(false);
    expect(await verifyDer(alice.publicSpki, message, seq(raw.r, N))).toBe(false);
  });
});

describe('HKDF, salt and wraps', () => {
  const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

  it('HKDF-SHA256 is RFC 5869 test case 1 and @noble\'s hkdf for every length, salt and info size', () => {
    const okm = hkdfSha256(fromHex('0b'.repeat(22)), fromHex('000102030405060708090a0b0c'), fromHex('f0f1f2f3f4f5f6f7f8f9'), 42);
    expect(toHex(okm)).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
    for (const length of [0, 1, 16, 31, 32, 33, 64, 65, 100]) {
      for (const [ikm, salt, info] of [[32, 16, 10], [32, 0, 0], [96, 65, 200], [1, 64, 1]] as const) {
        const args = [bytes(ikm, 1), bytes(salt, 2), bytes(info, 3)] as const;
        expect(toHex(hkdfSha256(...args, length)), `L=${length} ikm=${ikm} salt=${salt} info=${info}`).toBe(toHex(hkdf(sha256, ...args, length)));
      }
    }
  });

  it('HMAC-SHA256 is @noble\'s hmac for short, block-sized and hashed keys, and calls leave no trace in the next', () => {
    const results = [0, 1, 32, 64, 65, 200].flatMap((k) => [0, 55, 56, 64, 300].map((d) => [bytes(k, k), bytes(d, d)] as const));
    const first = results.map(([key, data]) => hmacSha256(key, data));
    results.forEach(([key, data], i) => expect(toHex(first[i]!)).toBe(toHex(hmac(sha256, key, data))));
    // Backwards, so each call follows a different key and message than the first time.
    for (let i = results.length - 1; i >= 0; i--) expect(hmacSha256(...results[i]!)).toEqual(first[i]);
    expect(new Set(first.map((m) => m.buffer)).size).toBe(first.length);
  });

  it('an empty salt is HashLen zero bytes (RFC 5869)', () => {
    const ikm = new Uint8Array(32).fill(1);
    expect(hkdfSha256(ikm, new Uint8Array(0), 'AUN-V2-1DH')).toEqual(hkdfSha256(ikm, new Uint8Array(32), 'AUN-V2-1DH'));
  });

  it('wrap_salt = SHA-256(aad ‖ session pk ‖ suite)[0:16]', () => {
    const aad = utf8('{"a":1}');
    expect(wrapSalt(aad, alice.publicSpki)).toEqual(sha256(concatBytes(aad, alice.publicSpki, utf8(SUITE))).slice(0, 16));
    expect(wrapSalt(aad, alice.publicSpki, 'other')).not.toEqual(wrapSalt(aad, alice.publicSpki));
  });

  it('a wrap is 48 bytes and unwraps; a short one is refused', async () => {
    const key = fromBase64('zc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc3Nzc0=');
    const nonce = new Uint8Array(12).fill(0xef);
    const master = new Uint8Array(32).fill(0xab);
    const wrapped = await wrapMasterKey(key, nonce, master);
    expect(wrapped.length).toBe(48);
    expect(await unwrapMasterKey(key, nonce, wrapped)).toEqual(master);
    expect(() => unwrapMasterKey(key, nonce, wrapped.subarray(0, 15))).toThrow('wrapped_key too short: 15');
  });

  it('AES-GCM opens ct and tag given apart or side by side in one buffer, and only with the AAD sealed', async () => {
    const key = new Uint8Array(32).fill(0x11);
    const nonce = new Uint8Array(12).fill(0x22);
    const aad = utf8('{"x":1}');
    const plain = utf8('x'.repeat(100));
    const { ciphertext, tag } = await aesGcmEncrypt(key, nonce, plain, aad);
    const joined = concatBytes(new Uint8Array(3), ciphertext, tag, new Uint8Array(5));
    const ct = joined.subarray(3, 3 + ciphertext.length);
    const t = joined.subarray(3 + ciphertext.length, 3 + ciphertext.length + 16);
    expect(await aesGcmDecrypt(key, nonce, ct, t, aad)).toEqual(plain);
    expect(await aesGcmDecrypt(key, nonce, ciphertext.slice(), tag.slice(), aad)).toEqual(plain);
    await expect(aesGcmDecrypt(key, nonce, ct, t, utf8('{"x":2}'))).rejects.toThrow();
    // A tag that only looks adjacent (another buffer) is not read from the ciphertext's buffer.
    await expect(aesGcmDecrypt(key, nonce, ct, new Uint8Array(16), aad)).rejects.toThrow();
  });
});
