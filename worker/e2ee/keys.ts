// P-256 key encodings (spec/e2ee-v2.md §1.1, §1.8): the fixed 91-byte SPKI, the scalar inside a
// PKCS#8 key, the SPKI inside an X.509 certificate, fingerprints, and the in-memory key object.
// WebCrypto only: keys made from a raw scalar (pure-JS @noble path) come from noble.ts, which the
// worker never imports.

import { sha256 } from '@noble/hashes/sha2.js';
import { parseASN1NoLeftoverBytes, type ASN1Value } from '@oslojs/asn1';
import { oidText, parseCertificate } from '../auth/x509.ts';
import { concatBytes, equalBytes, fromBase64Url, fromHex, P256_SPKI_LENGTH, P256_SPKI_PREFIX, pemToDer, toHex } from '../../protocol/bytes.ts';

/**
 * A P-256 private key as the worker holds it: one object, whatever backs it.
 * - `scalar` (32 bytes, big-endian) with `soft`, its pure-JS operations (noble.ts): needed for
 *   RFC 6979 deterministic signing and the pure-noble path. Leave them out to keep the secret
 *   inside WebCrypto only; signing then uses WebCrypto's random k, which any verifier accepts
 *   (only golden signatures need determinism). The worker's own keys never have them.
 * - `ecdh` / `ecdsa` are non-extractable WebCrypto handles, preferred for ECDH when present
 *   because native ECDH and ECDSA are an order of magnitude faster than pure JS.
 * Each operation needs either `soft` or its handle.
 */
export interface P256PrivateKey {
  readonly publicSpki: Uint8Array;
  readonly scalar?: Uint8Array;
  readonly soft?: SoftP256;
  readonly ecdh?: CryptoKey;
  readonly ecdsa?: CryptoKey;
}

/** Pure-JS operations on a key's scalar, attached by noble.ts so the worker bundle has no curve code. */
export interface SoftP256 {
  /** The 33-byte compressed shared point of scalar·peer (the caller keeps its X coordinate). */
  ecdh(peerPoint: Uint8Array): Uint8Array;
  /** RFC 6979 ECDSA over SHA-256(message), raw r‖s, no low-S normalisation. */
  sign(message: Uint8Array): Uint8Array;
}

// The P-256 field prime, curve constant b (a = −3) and group order n (SEC 2 §2.4.2).
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

const bigOf = (bytes: Uint8Array): bigint => BigInt('0x' + (toHex(bytes) || '0'));

/** Whether an uncompressed point (04 ‖ X ‖ Y) has coordinates in the field and lies on P-256. */
function onCurve(point: Uint8Array): boolean {
  const x = bigOf(point.subarray(1, 33));
  const y = bigOf(point.subarray(33, 65));
  return point[0] === 0x04 && x < P && y < P && (y * y - (x * x * x - 3n * x + B)) % P === 0n;
}

/** 1 ≤ d < n for a 32-byte big-endian scalar. */
export function isValidScalar(d: Uint8Array): boolean {
  const v = bigOf(d);
  return d.length === 32 && v > 0n && v < N;
}

export function spkiFromPoint(point: Uint8Array): Uint8Array {
  if (point.length !== 65 || point[0] !== 0x04) throw new TypeError('expected a 65-byte uncompressed P-256 point');
  return concatBytes(P256_SPKI_PREFIX, point);
}

/** The 91 bytes of a P-256 SPKI with an uncompressed point: prefix and length only, no curve check. */
function isSpkiEncoding(spki: Uint8Array): boolean {
  return spki.length === P256_SPKI_LENGTH && equalBytes(spki.subarray(0, P256_SPKI_PREFIX.length), P256_SPKI_PREFIX);
}

/**
 * The uncompressed point of a P-256 SPKI, after checking the exact encoding and the curve: a view
 * of the SPKI's own bytes (a copy of 65 bytes would be an ArrayBuffer of its own in a worker).
 */
export function parseSpki(spki: Uint8Array): Uint8Array {
  if (!isSpkiEncoding(spki)) throw new TypeError('public key is not a 91-byte uncompressed P-256 SPKI');
  const point = spki.subarray(P256_SPKI_PREFIX.length);
  if (!onCurve(point)) throw new TypeError('public key is not a point on P-256');
  return point;
}

// fp() by SPKI array: the sender's key and cached targets come back with every message. A hit
// still compares the bytes, so an array changed since is hashed afresh. Public keys only.
const fingerprints = new WeakMap<Uint8Array, { bytes: Uint8Array; fp: string }>();

/** `fp()` of §1.8: "sha256:" and the first 16 hex digits of SHA-256(SPKI DER). */
export function fp(spki: Uint8Array): string {
  const hit = fingerprints.get(spki);
  if (hit && equalBytes(hit.bytes, spki)) return hit.fp;
  const value = 'sha256:' + toHex(sha256(spki)).slice(0, 16);
  fingerprints.set(spki, { bytes: spki.slice(), fp: value });
  return value;
}

/** §4.7 fingerprint matching: the 16-hex prefix or the full 64 hex, case-insensitive. */
export function fpMatches(spki: Uint8Array, fingerprint: string): boolean {
  const want = fingerprint.trim().toLowerCase().replace(/^sha256:/, '');
  const full = toHex(sha256(spki));
  return want.length === 64 ? want === full : want.length === 16 && want === full.slice(0, 16);
}

/** §1.1: left-pad a short scalar; drop extra leading bytes only when they are zero. */
export function normalizeScalar(d: Uint8Array): Uint8Array {
  let out = d;
  if (out.length > 32) {
    if (out.subarray(0, out.length - 32).some((x) => x !== 0)) throw new TypeError('private key longer than 32 bytes');
    out = out.slice(out.length - 32);
  } else if (out.length < 32) {
    out = concatBytes(new Uint8Array(32 - out.length), out);
  }
  if (!isValidScalar(out)) throw new TypeError('private key out of range for P-256');
  return out;
}

/** PKCS#8 { 0, ecP256Alg, ECPrivateKey { 1, d } } before the 32 bytes of d (no public key field). */
const PKCS8_P256_PREFIX = fromHex('308141020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420');

/**
 * The scalar a `random` hook's 48 bytes map to, as @noble's randomSecretKey maps them (FIPS
 * 186-5 A.2.1: seed mod (n − 1) + 1), so reproducible vectors keep their bytes.
 */
function scalarFromSeed(seed: Uint8Array): Uint8Array {
  return fromHex(((bigOf(seed) % (N - 1n)) + 1n).toString(16).padStart(64, '0'));
}

/**
 * The per-message sender session key: ECDH only, never leaves WebCrypto. A `random` source (a test
 * hook for reproducible vectors) derives its scalar from 48 drawn bytes; WebCrypto computes the
 * public point (a PKCS#8 import without one) and does the ECDH.
 */
export async function generateEphemeralKey(random?: (n: number) => Uint8Array): Promise<P256PrivateKey> {
  if (random) {
    const scalar = scalarFromSeed(random(48));
    const alg = { name: 'ECDH', namedCurve: 'P-256' };
    const pkcs8 = concatBytes(PKCS8_P256_PREFIX, scalar) as Uint8Array<ArrayBuffer>;
    const jwk = await crypto.subtle.exportKey('jwk', await crypto.subtle.importKey('pkcs8', pkcs8, alg, true, ['deriveBits']));
    const ecdh = await crypto.subtle.importKey('jwk', jwk, alg, false, ['deriveBits']);
    const publicSpki = spkiFromPoint(concatBytes(new Uint8Array([4]), fromBase64Url(jwk.x!), fromBase64Url(jwk.y!)));
    return { publicSpki, scalar, ecdh };
  }
  const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
  const publicSpki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
  // WebCrypto made the point, so no curve check; the wire wants this exact encoding, though.
  if (!isSpkiEncoding(publicSpki)) throw new TypeError('WebCrypto exported an ephemeral key that is not a 91-byte uncompressed P-256 SPKI');
  return { publicSpki, ecdh: pair.privateKey };
}

/** DER as given, or the first block of a PEM text. */
function derOf(input: string | Uint8Array): Uint8Array {
  return typeof input === 'string' ? pemToDer(input) : input;
}

const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_P256 = '1.2.840.10045.3.1.7';

/** The elements of a DER SEQUENCE (bytes or already decoded by @oslojs/asn1). */
function sequenceOf(der: Uint8Array | ASN1Value | undefined, what: string): ASN1Value[] {
  try {
    return (der instanceof Uint8Array ? parseASN1NoLeftoverBytes(der) : der!).sequence().elements;
  } catch (err) {
    throw new TypeError(`not a DER ${what}`, { cause: err });
  }
}

function integerOf(v: ASN1Value | undefined): bigint | undefined {
  try {
    return v?.integer().value;
  } catch {
    return undefined;
  }
}

function oidOf(v: ASN1Value | undefined): string | undefined {
  try {
    return v && oidText(v);
  } catch {
    return undefined;
  }
}

function octetsOf(v: ASN1Value | undefined, what: string): Uint8Array {
  try {
    return v!.octetString().value;
  } catch (err) {
    throw new TypeError(`${what} is not an OCTET STRING`, { cause: err });
  }
}

/**
 * The 32-byte scalar of a P-256 PKCS#8 key (PEM or DER): PrivateKeyInfo { 0, ecP256Alg,
 * OCTET STRING { ECPrivateKey { 1, OCTET STRING d, … } } }. Optional trailing fields are ignored.
 */
export function scalarFromPkcs8(pkcs8: string | Uint8Array): Uint8Array {
  const [version, alg, privateKey] = sequenceOf(derOf(pkcs8), 'PKCS#8 PrivateKeyInfo');
  if (integerOf(version) !== 0n) throw new TypeError('unsupported PKCS#8 version');
  const [kind, curve] = sequenceOf(alg, 'AlgorithmIdentifier');
  if (oidOf(kind) !== OID_EC_PUBLIC_KEY || oidOf(curve) !== OID_P256) throw new TypeError('PKCS#8 key is not P-256');
  const [ecVersion, d] = sequenceOf(octetsOf(privateKey, 'PKCS#8 privateKey'), 'ECPrivateKey');
  if (integerOf(ecVersion) !== 1n) throw new TypeError('unsupported ECPrivateKey version');
  return normalizeScalar(octetsOf(d, 'ECPrivateKey privateKey'));
}

/**
 * The SPKI of an X.509 certificate (PEM or DER), checked to be a P-256 key. The certificate's own
 * validity is the caller's business (auth/ verifies the chain).
 */
export function spkiFromCertificate(cert: string | Uint8Array): Uint8Array {
  let spki: Uint8Array;
  try {
    spki = parseCertificate(derOf(cert)).spki;
  } catch (err) {
    throw new TypeError('not an X.509 certificate (PEM or DER)', { cause: err });
  }
  parseSpki(spki);
  return spki;
}
