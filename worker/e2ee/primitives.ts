// E2EE V2 primitives (spec/e2ee-v2.md §1). WebCrypto does AES-GCM, ECDH and ECDSA natively;
// @noble/hashes' SHA-256 does the synchronous hashes (HKDF, HMAC, SHA-256) that would gain nothing
// from an async round trip. Keys with a scalar bring their own pure-JS operations (noble.ts): RFC 6979
// signing, which WebCrypto cannot do; no curve code is imported here.

import { ASN1EncodableSequence, ASN1Integer, encodeASN1, parseASN1NoLeftoverBytes } from '@oslojs/asn1';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, equalBytes, fromHex, toHex, utf8 } from '../../protocol/bytes.ts';
import { parseSpki, type P256PrivateKey } from './keys.ts';

export const SUITE = 'P256_HKDF_SHA256_AES_256_GCM';
export const INFO_1DH = 'AUN-V2-1DH';
export const INFO_3DH = 'AUN-V2-3DH';
export const AES_KEY_LENGTH = 32;
export const NONCE_LENGTH = 12;
export const TAG_LENGTH = 16;
export const WRAP_SALT_LENGTH = 16;

// Encoded once: every message uses them.
const SUITE_BYTES = utf8(SUITE);
const INFO_1DH_BYTES = utf8(INFO_1DH);
const INFO_3DH_BYTES = utf8(INFO_3DH);

// WebCrypto's types want ArrayBuffer-backed views; ours always are (no SharedArrayBuffer here).
const buf = (b: Uint8Array): Uint8Array<ArrayBuffer> => b as Uint8Array<ArrayBuffer>;

// Imported public keys by use and SPKI bytes, least recently used first: the same identity keys
// and prekeys come back with every message, and an import (with its point check) costs about as
// much as the ECDH it serves. An entry exists only for an SPKI that passed parseSpki.
const PUBLIC_KEYS_MAX = 512;
const publicKeys = new Map<string, Promise<CryptoKey>>();

// In front of it, by array: callers hand in the same SPKI array with every message (cached
// targets, the sender's certificate key), and spelling 91 bytes as a string key costs more than
// the lookup. A hit still compares the bytes, so an array changed since is looked up afresh.
interface ByArray {
  bytes: Uint8Array;
  ECDH?: Promise<CryptoKey>;
  ECDSA?: Promise<CryptoKey>;
  /** 3DH's static-static DH2 with this peer key, by our private key (staticEcdh). */
  dh2?: WeakMap<P256PrivateKey, Promise<Uint8Array>>;
}
const byArray = new WeakMap<Uint8Array, ByArray>();

function entryOf(spki: Uint8Array): ByArray {
  let entry = byArray.get(spki);
  if (!entry || !equalBytes(entry.bytes, spki)) byArray.set(spki, (entry = { bytes: spki.slice() }));
  return entry;
}

function importPublic(spki: Uint8Array, algorithm: 'ECDH' | 'ECDSA'): Promise<CryptoKey> {
  const entry = entryOf(spki);
  const hit = entry[algorithm];
  if (hit) return hit;
  const key = importPublicCached(spki, algorithm);
  entry[algorithm] = key;
  key.catch(() => {
    if (entry[algorithm] === key) delete entry[algorithm];
  });
  return key;
}

function importPublicCached(spki: Uint8Array, algorithm: 'ECDH' | 'ECDSA'): Promise<CryptoKey> {
  const id = algorithm + String.fromCharCode(...spki);
  let key = publicKeys.get(id);
  if (key) {
    publicKeys.delete(id);
  } else {
    parseSpki(spki);
    const usages: KeyUsage[] = algorithm === 'ECDSA' ? ['verify'] : [];
    key = crypto.subtle.importKey('spki', buf(spki), { name: algorithm, namedCurve: 'P-256' }, false, usages);
    key.catch(() => publicKeys.delete(id));
    if (publicKeys.size >= PUBLIC_KEYS_MAX) publicKeys.delete(publicKeys.keys().next().value!);
  }
  publicKeys.set(id, key);
  return key;
}

/**
 * §1.2: the 32-byte X coordinate of priv·Pub, no prefix byte, no hashing. `peerKey` imports the
 * peer's key when WebCrypto needs it; by default through the cache of long-lived keys.
 */
export async function ecdh(
  priv: P256PrivateKey,
  peerSpki: Uint8Array,
  peerKey: () => Promise<CryptoKey> = () => importPublic(peerSpki, 'ECDH'),
): Promise<Uint8Array> {
  let shared: Uint8Array;
  if (priv.ecdh) {
    const pub = await peerKey();
    shared = new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: pub }, priv.ecdh, 256));
  } else if (priv.soft) {
    shared = priv.soft.ecdh(parseSpki(peerSpki)).slice(1);
  } else {
    throw new TypeError('private key has neither a scalar nor an ECDH handle');
  }
  if (shared.length !== 32) throw new Error(`ECDH output must be 32 bytes, got ${shared.length}`);
  return shared;
}

/**
 * §1.4's DH2 of 3DH is static-static: the sender's identity key with the recipient's signed
 * prekey. It is the same for every message between those two keys, so each side computes it once
 * and keeps it while both its private key object and the peer's SPKI array live (weakly held by
 * both: a rotated prekey, a removed identity or a dropped target takes its entries with it). It
 * saves one ECDH of the three per 3DH row. What it keeps is no more than the worker could derive
 * at any moment with the keys it holds, and DH2 alone opens nothing: every wrap key also needs
 * DH1 and DH3, which take the message's ephemeral key. Callers only read the bytes.
 */
function staticEcdh(priv: P256PrivateKey, peerSpki: Uint8Array): Promise<Uint8Array> {
  const cache = (entryOf(peerSpki).dh2 ??= new WeakMap());
  const hit = cache.get(priv);
  if (hit) return hit;
  const dh = ecdh(priv, peerSpki);
  cache.set(priv, dh);
  dh.catch(() => {
    if (cache.get(priv) === dh) cache.delete(priv);
  });
  return dh;
}

// HMAC, HKDF and the wrap salt restart reused SHA-256 states from a blank one instead of building
// @noble's HMAC and hash objects: each of those holds a 64-byte buffer and a DataView over it,
// which in a browser worker is an ArrayBuffer of its own, about ten per HKDF and five per metadata
// tag. Synchronous only. The keys they take are the ones the spec puts in JS memory (ECDH outputs,
// the master key and what derives from it); every pad, intermediate MAC and state holding them is
// wiped before returning, as @noble's HMAC wipes its own.
const BLOCK = 64;
const HASH_LENGTH = 32;
const blank = sha256.create();
const inner = sha256.create();
const outer = sha256.create();
const keyPad = new Uint8Array(BLOCK);
// Views of off-heap buffers made once: the hash writes its output through a DataView of it.
const innerMac = new Uint8Array(BLOCK).subarray(0, HASH_LENGTH);
const macOut = new Uint8Array(BLOCK).subarray(0, HASH_LENGTH);
const prk = new Uint8Array(BLOCK).subarray(0, HASH_LENGTH);
const counter = new Uint8Array(1);
const EMPTY = new Uint8Array(0);

/** HMAC-SHA256(key, a ‖ b ‖ c) into `out` (RFC 2104). */
function hmacInto(key: Uint8Array, a: Uint8Array, b: Uint8Array, c: Uint8Array, out: Uint8Array): void {
  keyPad.fill(0);
  keyPad.set(key.length > BLOCK ? sha256(key) : key);
  for (let i = 0; i < BLOCK; i++) keyPad[i]! ^= 0x36;
  blank._cloneInto(inner).update(keyPad).update(a).update(b).update(c).digestInto(innerMac);
  for (let i = 0; i < BLOCK; i++) keyPad[i]! ^= 0x36 ^ 0x5c;
  blank._cloneInto(outer).update(keyPad).update(innerMac).digestInto(out);
  keyPad.fill(0);
  innerMac.fill(0);
  inner.destroy();
  outer.destroy();
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  hmacInto(key, data, EMPTY, EMPTY, macOut);
  const mac = macOut.slice();
  macOut.fill(0);
  return mac;
}

/** HKDF-SHA256 (RFC 5869); an empty salt means HashLen zero bytes, as the RFC says. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array | string, length = 32): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_LENGTH) throw new RangeError(`HKDF length out of range: ${length}`);
  return hkdfInto(ikm, EMPTY, EMPTY, salt, typeof info === 'string' ? utf8(info) : info, new Uint8Array(length));
}

/**
 * HKDF-SHA256 with IKM = a ‖ b ‖ c (3DH's three DH outputs, never joined in an array of their
 * own), filling `okm`, which it returns. A wrap key goes into a view of an existing buffer: a new
 * 32-byte array would be copied into an ArrayBuffer of its own when WebCrypto imports it.
 */
function hkdfInto(a: Uint8Array, b: Uint8Array, c: Uint8Array, salt: Uint8Array, info: Uint8Array, okm: Uint8Array): Uint8Array {
  hmacInto(salt.length ? salt : prk.fill(0), a, b, c, prk);
  for (let i = 0, t = EMPTY; i * HASH_LENGTH < okm.length; i++) {
    counter[0] = i + 1;
    hmacInto(prk, t, info, counter, macOut);
    okm.set(macOut.subarray(0, Math.min(HASH_LENGTH, okm.length - i * HASH_LENGTH)), i * HASH_LENGTH);
    t = macOut;
  }
  prk.fill(0);
  macOut.fill(0);
  return okm;
}

/** §1.3: one salt for every row of a message; the receiver passes the envelope's top-level suite. */
export function wrapSalt(aadBytes: Uint8Array, senderSessionPkDer: Uint8Array, suite: string = SUITE): Uint8Array {
  const hash = blank._cloneInto(inner).update(aadBytes).update(senderSessionPkDer);
  hash.update(suite === SUITE ? SUITE_BYTES : utf8(suite)).digestInto(macOut);
  return macOut.slice(0, WRAP_SALT_LENGTH);
}

// §1.4. The DH order is part of the wire format: IKM = DH1 ‖ DH2 ‖ DH3 on both sides.
// The sender's ephemeral key and the salt (which hashes its SPKI) may still be on their way: a
// sender starts its static-static DH2 while WebCrypto generates the ephemeral key.

export async function senderWrapKey1DH(
  eph: P256PrivateKey | PromiseLike<P256PrivateKey>,
  recvIkSpki: Uint8Array,
  salt: Uint8Array | PromiseLike<Uint8Array>,
  out: Uint8Array = new Uint8Array(AES_KEY_LENGTH),
): Promise<Uint8Array> {
  const shared = await ecdh(await eph, recvIkSpki);
  return hkdfInto(shared, EMPTY, EMPTY, await salt, INFO_1DH_BYTES, out);
}

export async function senderWrapKey3DH(
  eph: P256PrivateKey | PromiseLike<P256PrivateKey>,
  senderIk: P256PrivateKey,
  recvIkSpki: Uint8Array,
  recvSpkSpki: Uint8Array,
  salt: Uint8Array | PromiseLike<Uint8Array>,
  out: Uint8Array = new Uint8Array(AES_KEY_LENGTH),
): Promise<Uint8Array> {
  const dh2 = staticEcdh(senderIk, recvSpkSpki);
  dh2.catch(() => undefined);
  const e = await eph;
  const [dh1, dh3] = await Promise.all([ecdh(e, recvIkSpki), ecdh(e, recvSpkSpki)]);
  return hkdfInto(dh1, await dh2, dh3, await salt, INFO_3DH_BYTES, out);
}

/**
 * The sender's ephemeral key serves one message: checked on the curve now (throws a TypeError),
 * imported at most once, when a DH first needs it, shared by its DHs, and kept out of the cache,
 * where it would only push out identity keys and prekeys.
 */
export function ephemeralKey(ephSpki: Uint8Array): () => Promise<CryptoKey> {
  parseSpki(ephSpki);
  let key: Promise<CryptoKey> | undefined;
  return () => (key ??= crypto.subtle.importKey('spki', buf(ephSpki), { name: 'ECDH', namedCurve: 'P-256' }, false, []));
}

/**
 * `eph`: the ephemeral key from ephemeralKey(ephSpki), when the caller already checked it; `out`:
 * where the 32-byte wrap key goes (the array returned).
 */
export async function receiverWrapKey1DH(
  recvIk: P256PrivateKey,
  ephSpki: Uint8Array,
  salt: Uint8Array,
  eph: () => Promise<CryptoKey> = ephemeralKey(ephSpki),
  out: Uint8Array = new Uint8Array(AES_KEY_LENGTH),
): Promise<Uint8Array> {
  return hkdfInto(await ecdh(recvIk, ephSpki, eph), EMPTY, EMPTY, salt, INFO_1DH_BYTES, out);
}

export async function receiverWrapKey3DH(
  recvIk: P256PrivateKey,
  recvSpk: P256PrivateKey,
  senderIkSpki: Uint8Array,
  ephSpki: Uint8Array,
  salt: Uint8Array,
  eph: () => Promise<CryptoKey> = ephemeralKey(ephSpki),
  out: Uint8Array = new Uint8Array(AES_KEY_LENGTH),
): Promise<Uint8Array> {
  const [dh1, dh2, dh3] = await Promise.all([ecdh(recvIk, ephSpki, eph), staticEcdh(recvSpk, senderIkSpki), ecdh(recvSpk, ephSpki, eph)]);
  return hkdfInto(dh1, dh2, dh3, salt, INFO_3DH_BYTES, out);
}

// §1.5 AES-256-GCM. WebCrypto works on ct‖tag; the envelope body carries them apart.

function aesKey(key: Uint8Array, usage: 'encrypt' | 'decrypt'): Promise<CryptoKey> {
  if (key.length !== AES_KEY_LENGTH) throw new TypeError(`AES key must be ${AES_KEY_LENGTH} bytes, got ${key.length}`);
  return crypto.subtle.importKey('raw', buf(key), 'AES-GCM', false, [usage]);
}

function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== NONCE_LENGTH) throw new TypeError(`nonce must be ${NONCE_LENGTH} bytes, got ${nonce.length}`);
}

/** ct ‖ tag, as WebCrypto returns them. */
async function aesGcmSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  checkNonce(nonce);
  const params = { name: 'AES-GCM', iv: buf(nonce), additionalData: buf(aad), tagLength: TAG_LENGTH * 8 };
  return new Uint8Array(await crypto.subtle.encrypt(params, await aesKey(key, 'encrypt'), buf(plaintext)));
}

/** `ciphertext` and `tag` are views of one buffer (no copy). */
export async function aesGcmEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Promise<{ ciphertext: Uint8Array; tag: Uint8Array }> {
  const out = await aesGcmSeal(key, nonce, plaintext, aad);
  return { ciphertext: out.subarray(0, out.length - TAG_LENGTH), tag: out.subarray(out.length - TAG_LENGTH) };
}

/** Throws (WebCrypto's OperationError) when authentication fails. */
export async function aesGcmDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
  aad: Uint8Array,
): Promise<Uint8Array> {
  checkNonce(nonce);
  if (tag.length !== TAG_LENGTH) throw new TypeError(`tag must be ${TAG_LENGTH} bytes, got ${tag.length}`);
  const params = { name: 'AES-GCM', iv: buf(nonce), additionalData: buf(aad), tagLength: TAG_LENGTH * 8 };
  // ct and tag side by side in one buffer (a wrap, or a body decoded in place) need no copy.
  const adjacent = tag.buffer === ciphertext.buffer && tag.byteOffset === ciphertext.byteOffset + ciphertext.length;
  const sealed = adjacent ? new Uint8Array(ciphertext.buffer, ciphertext.byteOffset, ciphertext.length + TAG_LENGTH) : concatBytes(ciphertext, tag);
  const cryptoKey = await aesKey(key, 'decrypt');
  return new Uint8Array(await crypto.subtle.decrypt(params, cryptoKey, buf(sealed)));
}

/** `wrapped_key` = ct(32) ‖ tag(16) of the master key under the wrap key, empty AAD. */
export function wrapMasterKey(wrapKey: Uint8Array, wrapNonce: Uint8Array, masterKey: Uint8Array): Promise<Uint8Array> {
  return aesGcmSeal(wrapKey, wrapNonce, masterKey, EMPTY);
}

/** The last 16 bytes are the tag (JS reference); fewer than 16 bytes cannot be a wrap. */
export function unwrapMasterKey(wrapKey: Uint8Array, wrapNonce: Uint8Array, wrapped: Uint8Array): Promise<Uint8Array> {
  if (wrapped.length < TAG_LENGTH) throw new TypeError(`wrapped_key too short: ${wrapped.length}`);
  const cut = wrapped.length - TAG_LENGTH;
  return aesGcmDecrypt(wrapKey, wrapNonce, wrapped.subarray(0, cut), wrapped.subarray(cut), EMPTY);
}

// §1.6 ECDSA P-256 / SHA-256 over the raw message.

/**
 * Raw r‖s (64 bytes). With a scalar: RFC 6979 and no low-S normalisation, which reproduces the
 * reference byte for byte. Without one: WebCrypto, random k, equally valid on the wire.
 */
export async function signRaw(priv: P256PrivateKey, message: Uint8Array): Promise<Uint8Array> {
  if (priv.soft) return priv.soft.sign(message);
  if (!priv.ecdsa) throw new TypeError('private key has neither a scalar nor an ECDSA handle');
  return new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, priv.ecdsa, buf(message)));
}

/**
 * Accepts high-S signatures (the golden envelopes contain some); WebCrypto does. Returns false
 * rather than throwing for a signature of the wrong size or an unusable key, like the reference.
 */
export async function verifyRaw(publicSpki: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (signature.length !== 64) return false;
  let key: CryptoKey;
  try {
    key = await importPublic(publicSpki, 'ECDSA');
  } catch {
    return false;
  }
  return crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, buf(signature), buf(message));
}

// The P-256 group order: r and s of a signature lie in [1, n).
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** SEQUENCE { INTEGER r, INTEGER s } of a raw r‖s, integers in their minimal encoding. */
function derOfRaw(raw: Uint8Array): Uint8Array {
  const int = (b: Uint8Array) => new ASN1Integer(BigInt('0x' + toHex(b)));
  return encodeASN1(new ASN1EncodableSequence([int(raw.subarray(0, 32)), int(raw.subarray(32))]));
}

/** r‖s of a strict DER signature (canonical encoding, 1 ≤ r, s < n), or undefined. */
function rawOfDer(der: Uint8Array): Uint8Array | undefined {
  try {
    const parts = parseASN1NoLeftoverBytes(der).sequence().elements.map((e) => e.integer().value);
    if (parts.length !== 2 || parts.some((v) => v < 1n || v >= N)) return undefined;
    const raw = concatBytes(...parts.map((v) => fromHex(v.toString(16).padStart(64, '0'))));
    return equalBytes(derOfRaw(raw), der) ? raw : undefined;
  } catch {
    return undefined;
  }
}

/** DER-encoded ECDSA, used only by group-state signatures (§1.6, §5.2); never mix with raw. */
export async function signDer(priv: P256PrivateKey, message: Uint8Array): Promise<Uint8Array> {
  return derOfRaw(await signRaw(priv, message));
}

export async function verifyDer(publicSpki: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const raw = rawOfDer(signature);
  return raw ? verifyRaw(publicSpki, message, raw) : false;
}
