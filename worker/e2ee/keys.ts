// P-256 key encodings (spec/e2ee-v2.md §1.1, §1.8): the fixed 91-byte SPKI, the scalar inside a
// PKCS#8 key, the SPKI inside an X.509 certificate, fingerprints, and the in-memory key object.

import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, equalBytes, fromBase64, fromHex, toBase64Url, toHex } from './bytes.ts';

/** DER header of every P-256 SPKI with an uncompressed point; the 65-byte point follows. */
export const SPKI_PREFIX = fromHex('3059301306072a8648ce3d020106082a8648ce3d030107034200');
export const SPKI_LENGTH = 91;
/** AlgorithmIdentifier { id-ecPublicKey, prime256v1 }, shared by SPKI and PKCS#8. */
const EC_P256_ALGORITHM = fromHex('301306072a8648ce3d020106082a8648ce3d030107');

/**
 * A P-256 private key as the worker holds it: one object, whatever backs it.
 * - `scalar` (32 bytes, big-endian) is needed for RFC 6979 deterministic signing and for the
 *   pure-noble fallback. Leave it out to keep the secret inside WebCrypto only; signing then uses
 *   WebCrypto's random k, which any verifier accepts (only golden signatures need determinism).
 * - `ecdh` / `ecdsa` are non-extractable WebCrypto handles, preferred when present because native
 *   ECDH and ECDSA are an order of magnitude faster than pure JS.
 * Each operation needs either `scalar` or its handle.
 */
export interface P256PrivateKey {
  readonly publicSpki: Uint8Array;
  readonly scalar?: Uint8Array;
  readonly ecdh?: CryptoKey;
  readonly ecdsa?: CryptoKey;
}

export function spkiFromPoint(point: Uint8Array): Uint8Array {
  if (point.length !== 65 || point[0] !== 0x04) throw new TypeError('expected a 65-byte uncompressed P-256 point');
  return concatBytes(SPKI_PREFIX, point);
}

/** The uncompressed point of a P-256 SPKI, after checking the exact encoding and the curve. */
export function parseSpki(spki: Uint8Array): Uint8Array {
  if (spki.length !== SPKI_LENGTH || !equalBytes(spki.subarray(0, SPKI_PREFIX.length), SPKI_PREFIX)) {
    throw new TypeError('public key is not a 91-byte uncompressed P-256 SPKI');
  }
  const point = spki.slice(SPKI_PREFIX.length);
  p256.Point.fromBytes(point).assertValidity();
  return point;
}

/** `fp()` of §1.8: "sha256:" and the first 16 hex digits of SHA-256(SPKI DER). */
export function fp(spki: Uint8Array): string {
  return 'sha256:' + toHex(sha256(spki)).slice(0, 16);
}

/** §4.7 fingerprint matching: the 16-hex prefix or the full 64 hex, case-insensitive. */
export function fpMatches(spki: Uint8Array, fingerprint: string): boolean {
  const want = fingerprint.trim().toLowerCase().replace(/^sha256:/, '');
  const full = toHex(sha256(spki));
  return want.length === 64 ? want === full : want.length === 16 && want === full.slice(0, 16);
}

/** §1.1: left-pad a short scalar; drop extra leading bytes only when they are zero. */
function normalizeScalar(d: Uint8Array): Uint8Array {
  let out = d;
  if (out.length > 32) {
    if (out.subarray(0, out.length - 32).some((x) => x !== 0)) throw new TypeError('private key longer than 32 bytes');
    out = out.slice(out.length - 32);
  } else if (out.length < 32) {
    out = concatBytes(new Uint8Array(32 - out.length), out);
  }
  if (!p256.utils.isValidSecretKey(out)) throw new TypeError('private key out of range for P-256');
  return out;
}

/** The noble-only form: enough for deterministic signing and ECDH, no WebCrypto handles. */
export function privateKeyFromScalar(scalar: Uint8Array): P256PrivateKey {
  const d = normalizeScalar(scalar);
  return { scalar: d, publicSpki: spkiFromPoint(p256.getPublicKey(d, false)) };
}

/** Adds non-extractable WebCrypto handles; `keepScalar: false` leaves no raw secret in the object. */
export async function importPrivateKey(scalar: Uint8Array, opts: { keepScalar?: boolean } = {}): Promise<P256PrivateKey> {
  const key = privateKeyFromScalar(scalar);
  const point = key.publicSpki.subarray(SPKI_PREFIX.length);
  const jwk: JsonWebKey = {
    kty: 'EC',
    crv: 'P-256',
    d: toBase64Url(key.scalar!),
    x: toBase64Url(point.subarray(1, 33)),
    y: toBase64Url(point.subarray(33, 65)),
  };
  const [ecdh, ecdsa] = await Promise.all([
    crypto.subtle.importKey('jwk', jwk, { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']),
    crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']),
  ]);
  return opts.keepScalar === false ? { publicSpki: key.publicSpki, ecdh, ecdsa } : { ...key, ecdh, ecdsa };
}

/** A fresh key that can be persisted (it keeps its scalar), e.g. a signed prekey. */
export function generatePrivateKey(): Promise<P256PrivateKey> {
  return importPrivateKey(p256.utils.randomSecretKey());
}

/**
 * The per-message sender session key: ECDH only, never leaves WebCrypto. A `random` source (a test
 * hook for reproducible vectors) derives it with noble instead.
 */
export async function generateEphemeralKey(random?: (n: number) => Uint8Array): Promise<P256PrivateKey> {
  if (random) return privateKeyFromScalar(p256.utils.randomSecretKey(random(48)));
  const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
  const publicSpki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
  parseSpki(publicSpki);
  return { publicSpki, ecdh: pair.privateKey };
}

// ---- minimal DER: only what the fixed PKCS#8 and X.509 layouts below need ----

interface Tlv { tag: number; start: number; end: number }

function readTlv(der: Uint8Array, pos: number, limit = der.length): Tlv {
  const tag = der[pos];
  let len = der[pos + 1];
  if (tag === undefined || len === undefined) throw new TypeError('truncated DER');
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 3) throw new TypeError('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | (der[start + i] ?? 0);
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new TypeError('truncated DER');
  return { tag, start, end };
}

function expectTlv(der: Uint8Array, pos: number, tag: number, limit?: number): Tlv {
  const tlv = readTlv(der, pos, limit);
  if (tlv.tag !== tag) throw new TypeError(`unexpected DER tag 0x${tlv.tag.toString(16)}`);
  return tlv;
}

/** DER bytes of a PEM block (any label) or of base64 text; bytes pass through. */
export function pemToDer(input: string | Uint8Array): Uint8Array {
  if (typeof input !== 'string') return input;
  return fromBase64(input.replace(/-----(BEGIN|END) [^-]+-----/g, '').replace(/\s+/g, ''));
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const OCTET_STRING = 0x04;

/**
 * The 32-byte scalar of a P-256 PKCS#8 key (PEM or DER): PrivateKeyInfo { 0, ecP256Alg,
 * OCTET STRING { ECPrivateKey { 1, OCTET STRING d, … } } }. Optional trailing fields are ignored.
 */
export function scalarFromPkcs8(pkcs8: string | Uint8Array): Uint8Array {
  const der = pemToDer(pkcs8);
  const outer = expectTlv(der, 0, SEQUENCE);
  const version = expectTlv(der, outer.start, INTEGER, outer.end);
  if (version.end - version.start !== 1 || der[version.start] !== 0) throw new TypeError('unsupported PKCS#8 version');
  const alg = expectTlv(der, version.end, SEQUENCE, outer.end);
  if (!equalBytes(der.subarray(version.end, alg.end), EC_P256_ALGORITHM)) throw new TypeError('PKCS#8 key is not P-256');
  const wrapped = expectTlv(der, alg.end, OCTET_STRING, outer.end);
  const ecKey = expectTlv(der, wrapped.start, SEQUENCE, wrapped.end);
  const ecVersion = expectTlv(der, ecKey.start, INTEGER, ecKey.end);
  if (ecVersion.end - ecVersion.start !== 1 || der[ecVersion.start] !== 1) throw new TypeError('unsupported ECPrivateKey version');
  const d = expectTlv(der, ecVersion.end, OCTET_STRING, ecKey.end);
  return normalizeScalar(der.slice(d.start, d.end));
}

/**
 * The SPKI of an X.509 certificate (PEM or DER), checked to be a P-256 key. Walks Certificate →
 * TBSCertificate → [0] version?, serial, signature, issuer, validity, subject → SPKI; the
 * certificate's own validity is the caller's business (auth/ verifies the chain).
 */
export function spkiFromCertificate(cert: string | Uint8Array): Uint8Array {
  const der = pemToDer(cert);
  const certificate = expectTlv(der, 0, SEQUENCE);
  const tbs = expectTlv(der, certificate.start, SEQUENCE, certificate.end);
  let pos = tbs.start;
  if (der[pos] === 0xa0) pos = readTlv(der, pos, tbs.end).end;
  for (let i = 0; i < 5; i++) pos = readTlv(der, pos, tbs.end).end;
  const spki = expectTlv(der, pos, SEQUENCE, tbs.end);
  const out = der.slice(pos, spki.end);
  parseSpki(out);
  return out;
}
