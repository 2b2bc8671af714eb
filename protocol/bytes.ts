// Byte, text, base64, hex and PEM helpers without Node's Buffer: this code also runs in a browser
// worker. Binary fields on the wire are standard base64 with `=` padding; base64url exists only
// for JWKs.

// client-stub imports protocol/, so module-level values are marked pure for the tab bundle to
// drop them when it uses none of these helpers.
const encoder = /* @__PURE__ */ new TextEncoder();
const decoder = /* @__PURE__ */ new TextDecoder('utf-8', { fatal: true });

// With isBase64's length check (a multiple of 4), at most two trailing `=` can only be the padding
// of the last group: the same strings as /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/,
// which a regex engine walks in several times the time.
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL_RE = /^[A-Za-z0-9_-]*$/;
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const PEM_BLOCK = /-----BEGIN [^-]+-----([\s\S]+?)-----END [^-]+-----/;

/** DER header of every P-256 SPKI with an uncompressed point (spec/e2ee-v2.md §1.1); the 65-byte point follows. */
export const P256_SPKI_PREFIX = /* @__PURE__ */ new Uint8Array([
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
  0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
]);
/** The prefix and the 65-byte point. */
export const P256_SPKI_LENGTH = 91;

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

const NON_ASCII = /[^\u0000-\u007f]/;

/** Room that utf8(s) surely fits in: s.length for ASCII text, else 3 bytes a UTF-16 unit. */
export function utf8Bound(s: string): number {
  return NON_ASCII.test(s) ? 3 * s.length : s.length;
}

/** Up to this length, ASCII text is copied by a loop: cheaper than a call into the encoder. */
const SHORT_TEXT = 512;

/** utf8(s) written into `dest` (utf8Bound(s) bytes always suffice); returns the byte count. */
export function utf8Into(s: string, dest: Uint8Array): number {
  if (s.length <= SHORT_TEXT && s.length <= dest.length) {
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      dest[i] = c;
    }
    if (i === s.length) return i;
  }
  return encoder.encodeInto(s, dest).written;
}

/**
 * utf8(s) into `dest` when all of it fits there: its byte count, else undefined (`dest` then holds
 * part of it). For a writer that tries room for ASCII text first instead of scanning for a bound.
 */
export function utf8Fit(s: string, dest: Uint8Array): number | undefined {
  if (s.length > dest.length) return undefined;
  const { read, written } = encoder.encodeInto(s, dest);
  return read === s.length ? written : undefined;
}

/** Strict UTF-8 decoding: malformed input throws instead of turning into U+FFFD. */
export function fromUtf8(b: Uint8Array): string {
  return decoder.decode(b);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Constant time over the contents (lengths are public), for MAC and key comparisons. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** A fresh ArrayBuffer copy, the argument type WebCrypto wants under TS 5.9's typed-array rules. */
export function buf(b: Uint8Array): ArrayBuffer {
  return b.slice().buffer as ArrayBuffer;
}

export function isBase64(s: string): boolean {
  return s.length % 4 === 0 && BASE64_RE.test(s);
}

// The native codec (Uint8Array.prototype.toBase64 / setFromBase64) where the engine has it: a 1 KB
// body costs a hundred microseconds through a binary string.
type NativeBase64 = { toBase64?: (this: Uint8Array) => string };
const nativeToBase64 = /* @__PURE__ */ (() => (Uint8Array.prototype as NativeBase64).toBase64)();

export function toBase64(b: Uint8Array): string {
  if (nativeToBase64) return nativeToBase64.call(b);
  let bin = '';
  for (let i = 0; i < b.length; i += 0x8000) bin += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(bin);
}

function fromBinary(bin: string, out: Uint8Array = new Uint8Array(bin.length)): Uint8Array {
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

type NativeSetBase64 = { setFromBase64?: (this: Uint8Array, s: string) => { read: number; written: number } };
const nativeSetFromBase64 = /* @__PURE__ */ (() => (Uint8Array.prototype as NativeSetBase64).setFromBase64)();

/** The byte length of a string isBase64 accepts, without decoding it. */
export function base64Length(s: string): number {
  return (s.length / 4) * 3 - (s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0);
}

/**
 * A string isBase64 already accepted, decoded into `dest` (at least base64Length(s) long) without
 * checking it again; returns the byte count. The engine's in-place decoder where it has one.
 */
export function decodeBase64Into(s: string, dest: Uint8Array): number {
  if (nativeSetFromBase64) return nativeSetFromBase64.call(dest, s).written;
  const bin = atob(s);
  fromBinary(bin, dest);
  return bin.length;
}

/**
 * Strict standard base64 (padding required, no whitespace), so one value has one encoding.
 * Decoded into an array of the right size: one of 64 bytes or less lives in the JS heap, where
 * the engine's own Uint8Array.fromBase64 would give it an ArrayBuffer of its own.
 */
export function fromBase64(s: string): Uint8Array {
  if (!isBase64(s)) throw new TypeError('invalid base64');
  const out = new Uint8Array(base64Length(s));
  decodeBase64Into(s, out);
  return out;
}

export function toBase64Url(b: Uint8Array): string {
  return toBase64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Unpadded base64url, as JWK members are written (RFC 7518 §2). */
export function fromBase64Url(s: string): Uint8Array {
  if (!BASE64URL_RE.test(s) || s.length % 4 === 1) throw new TypeError('invalid base64url');
  return fromBinary(atob(s.replace(/-/g, '+').replace(/_/g, '/')));
}

// Every byte's two digits, made on first use (a tab that never writes hex never builds it).
let hexPairs: string[] | undefined;

export function toHex(b: Uint8Array): string {
  const pairs = (hexPairs ??= Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0')));
  let s = '';
  for (let i = 0; i < b.length; i++) s += pairs[b[i]!];
  return s;
}

/** Whether `s` is toHex(b), without building that text (a digest compared with every message). */
export function isHexOf(b: Uint8Array, s: string): boolean {
  if (s.length !== 2 * b.length) return false;
  for (let i = 0; i < b.length; i++) if (s.charCodeAt(2 * i) !== lowerHexCode(b[i]! >> 4) || s.charCodeAt(2 * i + 1) !== lowerHexCode(b[i]! & 15)) return false;
  return true;
}

/** The character code of a lowercase hex digit's value (0-15). */
function lowerHexCode(v: number): number {
  return v < 10 ? 0x30 + v : 0x57 + v;
}

/** `n` random bytes as lowercase hex (ids, incarnations). */
export function randomHex(n: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(n)));
}

/** Error texts are the reference's, which callers may match on. */
export function fromHex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >> 1);
  hexInto(s, out);
  return out;
}

/** fromHex(s) written into `dest` (at least s.length / 2 long), with its checks and errors; returns the byte count. */
export function hexInto(s: string, dest: Uint8Array): number {
  if (s.length % 2 !== 0) throw new TypeError('hex length must be even');
  if (!/^[0-9a-fA-F]*$/.test(s)) throw new TypeError('invalid hex char');
  const n = s.length / 2;
  for (let i = 0; i < n; i++) dest[i] = (hexDigit(s.charCodeAt(2 * i)) << 4) | hexDigit(s.charCodeAt(2 * i + 1));
  return n;
}

/** The value of a character code the hex check accepted: 0-9, A-F or a-f. */
function hexDigit(c: number): number {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
}

/** Every certificate PEM block of a bundle, in order. */
export function splitPemBundle(bundle: string): string[] {
  return bundle.match(PEM_CERT) ?? [];
}

/** DER bytes of the first PEM block (any label); its body must be strict base64 once whitespace is removed. */
export function pemToDer(pem: string): Uint8Array {
  const m = PEM_BLOCK.exec(pem);
  if (!m) throw new TypeError('not a PEM block');
  return fromBase64(m[1]!.replace(/\s+/g, ''));
}
