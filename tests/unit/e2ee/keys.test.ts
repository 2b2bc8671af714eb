import { describe, expect, it } from 'vitest';
import {
  concatBytes,
  ecdh,
  fp,
  fpMatches,
  fromBase64,
  fromHex,
  generateEphemeralKey,
  importPrivateKey,
  parseSpki,
  privateKeyFromScalar,
  scalarFromPkcs8,
  spkiFromCertificate,
  spkiFromPoint,
  toBase64,
  toHex,
} from '../../../worker/e2ee/index.ts';
import { p256 } from '@noble/curves/nist.js';
import { sha384 } from '@noble/hashes/sha2.js';
import { ALICE_PRIV, alice, bob } from './fixtures.ts';

const sha384Of = (s: string): Uint8Array => sha384(new TextEncoder().encode(s));

/** √b mod p (p ≡ 3 mod 4), the Y of the curve's points with X = 0. */
function sqrtOfB(): bigint {
  const { p, b } = p256.Point.CURVE();
  return p256.Point.Fp.pow(b, (p + 1n) / 4n);
}

// A self-signed P-256 certificate (CN=alice.aid.com) made with openssl, and its SPKI.
const CERT_PEM = `-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUVyIjw7nah/YVB2rr0o1R3/2C3wQwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNYWxpY2UuYWlkLmNvbTAgFw0yNjExMjcyMjE0NTFaGA8yMTI2
MTEwMzIyMTQ1MVowGDEWMBQGA1UEAwwNYWxpY2UuYWlkLmNvbTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABC4VOrj5I/ag+VDYjIM4RRCQq6IqimAwLr1Qjeg7O8uq
9aFiJUcwAW20gkhIByeLuqlanycy1DITtgmQPYIdSvajUzBRMB0GA1UdDgQWBBSn
+k31S4hBLndXh2hf4JfVLzyFezAfBgNVHSMEGDAWgBSn+k31S4hBLndXh2hf4JfV
LzyFezAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIFmOLjt7VekN
7nJn3My1dCagXajjjPUHT86BcSGQEBArAiEAydMiL+YMyb28FeKeTzoDD5RPSmCT
JCtAWPH+apyjIUc=
-----END CERTIFICATE-----`;
const CERT_SPKI_B64 =
  'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELhU6uPkj9qD5UNiMgzhFEJCroiqKYDAuvVCN6Ds7y6r1oWIlRzABbbSCSEgHJ4u6qVqfJzLUMhO2CZA9gh1K9g==';

// Just enough DER to build PKCS#8 variants around a scalar.
function tlv(tag: number, body: Uint8Array): Uint8Array {
  const len = body.length < 0x80 ? [body.length] : [0x81, body.length];
  return concatBytes(new Uint8Array([tag, ...len]), body);
}
const seq = (...parts: Uint8Array[]): Uint8Array => tlv(0x30, concatBytes(...parts));
const P256_ALG = fromHex('301306072a8648ce3d020106082a8648ce3d030107');
const P384_ALG = fromHex('301006072a8648ce3d020106052b81040022');
function pkcs8(alg: Uint8Array, ecPrivateKey: Uint8Array): Uint8Array {
  return seq(fromHex('020100'), alg, tlv(0x04, ecPrivateKey));
}

describe('SPKI', () => {
  it('round-trips the 91-byte form and fixes the fingerprint format', () => {
    const point = parseSpki(alice.publicSpki);
    expect(point.length).toBe(65);
    expect(spkiFromPoint(point)).toEqual(alice.publicSpki);
    expect(toBase64(alice.publicSpki).startsWith('MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE')).toBe(true);
    expect(fp(alice.publicSpki)).toBe('sha256:6bf6b248a19e5777');
  });

  it('rejects a wrong prefix, a wrong length and a point off the curve', () => {
    const badPrefix = alice.publicSpki.slice();
    badPrefix[3]! ^= 1;
    expect(() => parseSpki(badPrefix)).toThrow(/91-byte/);
    expect(() => parseSpki(alice.publicSpki.slice(0, 90))).toThrow(/91-byte/);
    const offCurve = alice.publicSpki.slice();
    offCurve[90]! ^= 1;
    expect(() => parseSpki(offCurve)).toThrow(/not a point on P-256/);
    // X = p: the same point as X = 0 modulo p, but not a field element.
    const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
    const xZero = p256.Point.fromAffine({ x: 0n, y: sqrtOfB() }).toBytes(false);
    expect(parseSpki(spkiFromPoint(xZero))).toEqual(xZero);
    const xIsP = concatBytes(new Uint8Array([4]), fromHex(P.toString(16)), xZero.subarray(33));
    expect(() => parseSpki(spkiFromPoint(xIsP))).toThrow(/not a point on P-256/);
  });

  it('a random hook maps its 48 bytes to the scalar and point @noble would', async () => {
    for (const seed of [new Uint8Array(48), new Uint8Array(48).fill(0xff), sha384Of('seed')]) {
      const eph = await generateEphemeralKey(() => seed.slice());
      const scalar = p256.utils.randomSecretKey(seed);
      expect(eph.scalar).toEqual(scalar);
      expect(eph.publicSpki).toEqual(spkiFromPoint(p256.getPublicKey(scalar, false)));
      expect(eph.ecdh?.extractable).toBe(false);
      expect(await ecdh(eph, bob.publicSpki)).toEqual(await ecdh(bob, eph.publicSpki));
    }
  });

  it('fingerprints an SPKI array changed in place afresh (the cache compares the bytes)', () => {
    const spki = privateKeyFromScalar(new Uint8Array(32).fill(3)).publicSpki.slice();
    const other = privateKeyFromScalar(new Uint8Array(32).fill(4)).publicSpki;
    const first = fp(spki);
    expect(fp(spki)).toBe(first);
    spki.set(other);
    expect(fp(spki)).toBe(fp(other.slice()));
    expect(fp(spki)).not.toBe(first);
  });

  it('matches fingerprints by 16 or 64 hex digits, case-insensitively', () => {
    expect(fpMatches(alice.publicSpki, 'sha256:6BF6B248A19E5777')).toBe(true);
    expect(fpMatches(alice.publicSpki, fp(bob.publicSpki))).toBe(false);
    expect(fpMatches(alice.publicSpki, '6bf6b248a19e57')).toBe(false);
  });

  it('takes the SPKI out of an X.509 certificate (PEM or DER)', () => {
    expect(toBase64(spkiFromCertificate(CERT_PEM))).toBe(CERT_SPKI_B64);
    const der = fromBase64(CERT_PEM.replace(/-----[^-]+-----|\s/g, ''));
    expect(toBase64(spkiFromCertificate(der))).toBe(CERT_SPKI_B64);
    expect(() => spkiFromCertificate(der.slice(0, 100))).toThrow();
  });
});

describe('private keys', () => {
  it('parses the PKCS#8 layouts in use: with public key, without, with [0] parameters', async () => {
    const d = ALICE_PRIV;
    const pub = tlv(0xa1, tlv(0x03, concatBytes(new Uint8Array([0]), parseSpki(alice.publicSpki))));
    const params = tlv(0xa0, fromHex('06082a8648ce3d030107'));
    const version = fromHex('020101');
    for (const inner of [seq(version, tlv(0x04, d), pub), seq(version, tlv(0x04, d)), seq(version, tlv(0x04, d), params, pub)]) {
      expect(scalarFromPkcs8(pkcs8(P256_ALG, inner))).toEqual(d);
    }
    const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign'])) as CryptoKeyPair;
    const der = new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
    const pem = `-----BEGIN PRIVATE KEY-----\n${toBase64(der)}\n-----END PRIVATE KEY-----\n`;
    const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
    expect(privateKeyFromScalar(scalarFromPkcs8(pem)).publicSpki).toEqual(spki);
  });

  it('rejects other curves and out-of-range scalars', () => {
    expect(() => scalarFromPkcs8(pkcs8(P384_ALG, seq(fromHex('020101'), tlv(0x04, ALICE_PRIV))))).toThrow(/not P-256/);
    expect(() => privateKeyFromScalar(new Uint8Array(32))).toThrow(/out of range/);
    expect(() => privateKeyFromScalar(new Uint8Array(32).fill(0xff))).toThrow(/out of range/);
  });

  it('pads a short scalar and drops zero bytes from a long one, as §1.1 says', () => {
    const short = ALICE_PRIV.slice(1);
    const expected = concatBytes(new Uint8Array([0]), short);
    expect(privateKeyFromScalar(short).scalar).toEqual(expected);
    expect(privateKeyFromScalar(concatBytes(new Uint8Array(2), ALICE_PRIV)).scalar).toEqual(ALICE_PRIV);
    expect(() => privateKeyFromScalar(concatBytes(new Uint8Array([1]), ALICE_PRIV))).toThrow(/longer/);
  });

  it('WebCrypto handles and the noble path agree on ECDH; ephemeral keys stay non-extractable', async () => {
    const handles = await importPrivateKey(ALICE_PRIV, { keepScalar: false });
    expect(handles.scalar).toBeUndefined();
    expect(handles.ecdh?.extractable).toBe(false);
    expect(toHex(await ecdh(handles, bob.publicSpki))).toBe(toHex(await ecdh(alice, bob.publicSpki)));
    const eph = await generateEphemeralKey();
    expect(eph.scalar).toBeUndefined();
    expect(eph.ecdh?.extractable).toBe(false);
    expect(await ecdh(eph, bob.publicSpki)).toEqual(await ecdh(bob, eph.publicSpki));
  });
});
