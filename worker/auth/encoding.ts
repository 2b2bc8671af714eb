// Byte and text helpers without Node's Buffer: this code runs in a browser worker too.

const encoder = new TextEncoder();

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

export function toBase64(b: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < b.length; i += 0x8000) bin += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** Standard base64; throws a TypeError on anything else (atob accepts some junk, so check first). */
export function fromBase64(s: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new TypeError('invalid base64');
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toHex(b: Uint8Array): string {
  let hex = '';
  for (const x of b) hex += x.toString(16).padStart(2, '0');
  return hex;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate PEM block of a bundle, in order. */
export function splitPemBundle(bundle: string): string[] {
  return bundle.match(PEM_CERT) ?? [];
}

/** DER bytes of the first PEM block. */
export function pemToDer(pem: string): Uint8Array {
  const m = /-----BEGIN [^-]+-----([\s\S]+?)-----END [^-]+-----/.exec(pem);
  if (!m) throw new TypeError('not a PEM block');
  return fromBase64(m[1]!.replace(/\s+/g, ''));
}

/** A fresh ArrayBuffer copy, the argument type WebCrypto wants under TS 5.9's typed-array rules. */
export function buf(b: Uint8Array): ArrayBuffer {
  return b.slice().buffer as ArrayBuffer;
}
