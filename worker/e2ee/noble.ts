// The pure-JS P-256 path (@noble/curves), for keys given as raw scalars: RFC 6979 deterministic
// signing (golden vectors), scalar ECDH (the bench's pure-@noble rows) and the public point of a
// scalar. WebCrypto cannot sign deterministically, so this stays; the worker never imports this
// module (its keys are WebCrypto handles unwrapped from the keystore), which keeps the curve code
// out of its bundle.

import { p256 } from '@noble/curves/nist.js';
import { P256_SPKI_PREFIX, toBase64Url } from '../../protocol/bytes.ts';
import { normalizeScalar, spkiFromPoint, type P256PrivateKey, type SoftP256 } from './keys.ts';

function softOps(scalar: Uint8Array): SoftP256 {
  return {
    ecdh: (peerPoint) => p256.getSharedSecret(scalar, peerPoint, true),
    sign: (message) => p256.sign(message, scalar, { prehash: true, lowS: false, format: 'compact' }),
  };
}

/** The noble-only form: enough for deterministic signing and ECDH, no WebCrypto handles. */
export function privateKeyFromScalar(scalar: Uint8Array): P256PrivateKey {
  const d = normalizeScalar(scalar);
  return { scalar: d, soft: softOps(d), publicSpki: spkiFromPoint(p256.getPublicKey(d, false)) };
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
