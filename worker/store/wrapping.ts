// Private keys at rest. A per-database AES-GCM-256 wrapping key, generated non-extractable on the
// first open and stored as a CryptoKey, wraps each PKCS#8 key with a fresh 12-byte IV and AAD
// binding the AID, the keyId and the public SPKI. Wrapping and unwrapping run inside WebCrypto
// (wrapKey / unwrapKey), so the PKCS#8 plaintext never exists as a JS buffer on either path.

import { fromBase64Url, P256_SPKI_LENGTH, P256_SPKI_PREFIX, utf8 } from '../../protocol/bytes.ts';
import { StoreError } from './errors.ts';

export interface WrappingKey {
  /** Random; stamped on every key record so a replaced wrapping key is told apart from tampering. */
  id: string;
  key: CryptoKey;
  createdAt: number;
}

export interface WrappedKey {
  iv: Uint8Array;
  ct: Uint8Array;
  spki: Uint8Array;
}

export const IV_LENGTH = 12;
const AAD_LABEL = 'aun-worker/store/key/v1';
const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDH_P256 = { name: 'ECDH', namedCurve: 'P-256' } as const;

/** Usages are wrapKey/unwrapKey only: the key cannot be used as a general-purpose decrypt oracle. */
export async function newWrappingKey(): Promise<WrappingKey> {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['wrapKey', 'unwrapKey']);
  return { id: crypto.randomUUID(), key, createdAt: Date.now() };
}

export function isWrappingKey(v: unknown): v is WrappingKey {
  if (typeof v !== 'object' || v === null) return false;
  const { id, key, createdAt } = v as Partial<WrappingKey>;
  return (
    typeof id === 'string' &&
    id !== '' &&
    typeof createdAt === 'number' &&
    key instanceof CryptoKey &&
    key.type === 'secret' &&
    key.algorithm.name === 'AES-GCM' &&
    !key.extractable &&
    key.usages.includes('wrapKey') &&
    key.usages.includes('unwrapKey')
  );
}

export function isP256Spki(v: unknown): v is Uint8Array {
  return (
    v instanceof Uint8Array &&
    v.length === P256_SPKI_LENGTH &&
    P256_SPKI_PREFIX.every((b, i) => v[i] === b) &&
    v[P256_SPKI_PREFIX.length] === 0x04
  );
}

/**
 * The SPKI comes from an extractable copy imported once here, at put time, through its JWK x/y;
 * it is stored next to the ciphertext (public, and bound by the AAD), so `load` never needs an
 * extractable key. The JWK also carries `d` as a string, which cannot be zeroed: the reference
 * is dropped at once and the copy lives only until garbage collection.
 */
export async function wrapPrivateKey(wk: WrappingKey, aid: string, keyId: string, pkcs8: Uint8Array): Promise<WrappedKey> {
  let extractable: CryptoKey;
  try {
    extractable = await crypto.subtle.importKey('pkcs8', source(pkcs8), ECDSA_P256, true, ['sign']);
  } catch (err) {
    const e = new StoreError(`keys.put(${JSON.stringify(aid)}, ${JSON.stringify(keyId)}): not a P-256 PKCS#8 private key`);
    e.cause = err;
    throw e;
  }
  const jwk: JsonWebKey = await crypto.subtle.exportKey('jwk', extractable);
  delete jwk.d;
  const spki = spkiFromJwk(jwk);
  const iv = crypto.getRandomValues(new Uint8Array(IV_LENGTH));
  const ct = await crypto.subtle.wrapKey('pkcs8', extractable, wk.key, {
    name: 'AES-GCM',
    iv,
    additionalData: keyAad(aid, keyId, spki),
  });
  return { iv, ct: new Uint8Array(ct), spki };
}

/** Rejects (OperationError) when the tag does not verify: altered bytes, or a different aid/keyId/SPKI. */
export async function unwrapPrivateKey(
  wk: WrappingKey,
  aid: string,
  keyId: string,
  w: WrappedKey,
): Promise<{ ecdsa: CryptoKey; ecdh: CryptoKey }> {
  const params: AesGcmParams = { name: 'AES-GCM', iv: source(w.iv), additionalData: keyAad(aid, keyId, w.spki) };
  const [ecdsa, ecdh] = await Promise.all([
    crypto.subtle.unwrapKey('pkcs8', source(w.ct), wk.key, params, ECDSA_P256, false, ['sign']),
    crypto.subtle.unwrapKey('pkcs8', source(w.ct), wk.key, params, ECDH_P256, false, ['deriveBits']),
  ]);
  return { ecdsa, ecdh };
}

/** Length-prefixed (u32 big-endian) label, aid, keyId and SPKI: no two inputs share an encoding. */
export function keyAad(aid: string, keyId: string, spki: Uint8Array): Uint8Array<ArrayBuffer> {
  const parts = [utf8(AAD_LABEL), utf8(aid), utf8(keyId), spki];
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let off = 0;
  for (const p of parts) {
    view.setUint32(off, p.length);
    out.set(p, off + 4);
    off += 4 + p.length;
  }
  return out;
}

function spkiFromJwk(jwk: JsonWebKey): Uint8Array {
  const x = fromBase64Url(jwk.x ?? '');
  const y = fromBase64Url(jwk.y ?? '');
  if (jwk.crv !== 'P-256' || x.length !== 32 || y.length !== 32) throw new StoreError('WebCrypto exported an unexpected P-256 public key');
  const spki = new Uint8Array(P256_SPKI_LENGTH);
  spki.set(P256_SPKI_PREFIX);
  spki[P256_SPKI_PREFIX.length] = 0x04;
  spki.set(x, P256_SPKI_PREFIX.length + 1);
  spki.set(y, P256_SPKI_PREFIX.length + 33);
  return spki;
}

/** WebCrypto's typings want ArrayBuffer-backed views; ours always are. */
function source(u: Uint8Array): Uint8Array<ArrayBuffer> {
  return u as Uint8Array<ArrayBuffer>;
}
