// ECDSA signatures as AUN puts them on the wire: DER (WebCrypto speaks raw r‖s, "P1363"), the
// certificate fingerprint, and the client_signature of signed methods (spec §10.2).

import { buf, pemToDer, toBase64, toHex, utf8 } from '../../protocol/bytes.ts';
import { stableJson } from '../../protocol/canonical.ts';
import { type ClientSignature } from '../../protocol/wire-common.ts';

/** Raw r‖s (two big-endian halves) → DER `SEQUENCE { INTEGER r, INTEGER s }`. */
export function p1363ToDer(raw: Uint8Array): Uint8Array {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new TypeError('raw ECDSA signature must be r‖s of equal halves');
  const half = raw.length / 2;
  const r = derInteger(raw.subarray(0, half));
  const s = derInteger(raw.subarray(half));
  return new Uint8Array([0x30, ...derLength(r.length + s.length), ...r, ...s]);
}

function derInteger(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const body = bytes.subarray(i);
  // A set top bit would read as negative: DER needs a 0x00 in front.
  const pad = body[0]! & 0x80 ? [0] : [];
  return new Uint8Array([0x02, ...derLength(body.length + pad.length), ...pad, ...body]);
}

function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  if (n <= 0xff) return [0x81, n];
  throw new RangeError('DER length too large for an ECDSA signature');
}

/**
 * DER → raw r‖s with each half `size` bytes (32 for P-256, 48 for P-384). Strict: wrong tags,
 * lengths, trailing bytes or oversized integers throw, so a mangled signature never verifies.
 */
export function derToP1363(der: Uint8Array, size: number): Uint8Array {
  let pos = 0;
  const byte = (): number => {
    if (pos >= der.length) throw new TypeError('DER signature truncated');
    return der[pos++]!;
  };
  const length = (): number => {
    const first = byte();
    if (first < 0x80) return first;
    if (first === 0x81) {
      const n = byte();
      if (n < 0x80) throw new TypeError('DER length not minimal');
      return n;
    }
    throw new TypeError('DER length form not allowed in an ECDSA signature');
  };
  const integer = (): Uint8Array => {
    if (byte() !== 0x02) throw new TypeError('DER signature: expected INTEGER');
    const len = length();
    if (len === 0 || pos + len > der.length) throw new TypeError('DER signature: bad INTEGER length');
    let body = der.subarray(pos, pos + len);
    pos += len;
    if (body[0]! & 0x80) throw new TypeError('DER signature: negative INTEGER');
    if (body.length > 1 && body[0] === 0 && !(body[1]! & 0x80)) throw new TypeError('DER signature: INTEGER not minimal');
    if (body[0] === 0 && body.length > 1) body = body.subarray(1);
    if (body.length > size) throw new TypeError('DER signature: INTEGER larger than the curve order');
    const out = new Uint8Array(size);
    out.set(body, size - body.length);
    return out;
  };
  if (byte() !== 0x30) throw new TypeError('DER signature: expected SEQUENCE');
  if (length() !== der.length - pos) throw new TypeError('DER signature: SEQUENCE length mismatch');
  const r = integer();
  const s = integer();
  if (pos !== der.length) throw new TypeError('DER signature: trailing bytes');
  const out = new Uint8Array(size * 2);
  out.set(r);
  out.set(s, size);
  return out;
}

/** ECDSA-SHA256 with a (non-extractable) P-256 private key, DER-encoded. */
export async function signDer(privateKey: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  const raw = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, buf(data));
  return p1363ToDer(new Uint8Array(raw));
}

const CURVE_PARAMS: Record<string, { hash: string; size: number }> = {
  'P-256': { hash: 'SHA-256', size: 32 },
  'P-384': { hash: 'SHA-384', size: 48 },
};

/** Verifies a DER ECDSA signature; the hash follows the key's curve (spec §3.2 step 5). */
export async function verifyDer(publicKey: CryptoKey, data: Uint8Array, der: Uint8Array): Promise<boolean> {
  const curve = (publicKey.algorithm as EcKeyAlgorithm).namedCurve;
  const params = CURVE_PARAMS[curve];
  if (!params) throw new TypeError(`unsupported ECDSA curve ${curve}`);
  let raw: Uint8Array;
  try {
    raw = derToP1363(der, params.size);
  } catch {
    return false;
  }
  return crypto.subtle.verify({ name: 'ECDSA', hash: params.hash }, publicKey, buf(raw), buf(data));
}

export async function sha256Hex(data: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', buf(data))));
}

/** `"sha256:"` + 64 hex of SHA-256 over the certificate DER (spec §4.3). */
export async function certFingerprint(certPem: string): Promise<string> {
  return 'sha256:' + (await sha256Hex(pemToDer(certPem)));
}

/** SHA-256 hex of the stable JSON of `params` minus `client_signature` and `_`-prefixed keys. */
export async function paramsHash(params: object): Promise<string> {
  const hashed: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) {
    if (k !== 'client_signature' && !k.startsWith('_')) hashed[k] = v;
  }
  return sha256Hex(utf8(stableJson(hashed)));
}

/**
 * Returns `params` plus a `client_signature` (spec §10.2): DER ECDSA-SHA256 over
 * `"<method>|<aid>|<ts>|<params_hash>"`, ts in Unix seconds. Params must be final: the hash
 * covers them as sent.
 */
export async function signClientCall<P extends object>(
  method: string,
  params: P,
  aid: string,
  fingerprint: string,
  privateKey: CryptoKey,
  nowMs: number = Date.now(),
): Promise<P & { client_signature: ClientSignature }> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const hash = await paramsHash(params);
  const signature = await signDer(privateKey, utf8(`${method}|${aid}|${timestamp}|${hash}`));
  const client_signature: ClientSignature = { aid, cert_fingerprint: fingerprint, timestamp, params_hash: hash, signature: toBase64(signature) };
  return { ...params, client_signature };
}
