// P-256 key encodings (spec/e2ee-v2.md §1.1, §1.8): the fixed 91-byte SPKI, the scalar inside a
// PKCS#8 key, the SPKI inside an X.509 certificate, fingerprints, and the in-memory key object.

import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { parseASN1NoLeftoverBytes, type ASN1Value } from '@oslojs/asn1';
import { oidText, parseCertificate } from '../auth/x509.ts';
import { concatBytes, equalBytes, P256_SPKI_LENGTH, P256_SPKI_PREFIX, pemToDer, toBase64Url, toHex } from '../../protocol/bytes.ts';

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
  return concatBytes(P256_SPKI_PREFIX, point);
}

/** The uncompressed point of a P-256 SPKI, after checking the exact encoding and the curve. */
export function parseSpki(spki: Uint8Array): Uint8Array {
  if (spki.length !== P256_SPKI_LENGTH || !equalBytes(spki.subarray(0, P256_SPKI_PREFIX.length), P256_SPKI_PREFIX)) {
    throw new TypeError('public key is not a 91-byte uncompressed P-256 SPKI');
  }
  const point = spki.slice(P256_SPKI_PREFIX.length);
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
  const point = key.publicSpki.subarray(P256_SPKI_PREFIX.length);
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
