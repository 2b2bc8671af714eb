// Two JSON serialisers the protocol depends on byte for byte (spec/e2ee-v2.md §2):
// - canonicalJson: E2EE AAD, plaintext, metadata HMAC, state commitment;
// - stableJson: client_signature params_hash and group-state signatures.
// Pure functions; the gateway and the worker share them.

import { utf8 } from './bytes.ts';

const CONTROL_ESCAPES: Record<number, string> = {
  0x08: '\\b',
  0x09: '\\t',
  0x0a: '\\n',
  0x0c: '\\f',
  0x0d: '\\r',
};

/** A string needs escaping only for these; anything else is written as it is. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

function canonicalString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"';
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20) out += CONTROL_ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return out + '"';
}

/** Writes a finite float's shortest round-trip digits with any exponent expanded. */
function expandExponent(repr: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(repr);
  if (!m) return repr;
  const [, sign, intPart, frac = '', expText] = m;
  const exp = Number(expText);
  const digits = (intPart ?? '') + frac;
  const point = (intPart ?? '').length + exp;
  let body: string;
  if (point <= 0) body = '0.' + '0'.repeat(-point) + digits;
  else if (point >= digits.length) body = digits + '0'.repeat(point - digits.length);
  else body = digits.slice(0, point) + '.' + digits.slice(point);
  body = body.replace(/^0+(?=\d)/, '');
  if (body.includes('.')) body = body.replace(/\.?0+$/, '');
  return (sign ?? '') + body;
}

function canonicalNumber(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError('canonicalJson: NaN and Infinity are not allowed');
  if (Number.isInteger(n)) {
    if (Math.abs(n) > Number.MAX_SAFE_INTEGER) throw new RangeError('canonicalJson: integer outside safe range');
    return Object.is(n, -0) ? '0' : String(n);
  }
  return expandExponent(String(n));
}

/** Code point order by the strings' own iterators: exact for lone surrogates too, and slow. */
function compareByCodePoint(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done) return y.done ? 0 : -1;
    if (y.done) return 1;
    const cx = x.value.codePointAt(0)!;
    const cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx - cy;
  }
}

/**
 * Code point order of two strings (keys are sorted by it): the first UTF-16 units that differ
 * decide when either is below 0xD800, where unit and code point order agree; the rare keys that
 * differ first at two units from 0xD800 up (surrogates, U+E000 and above) go through the iterators.
 */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    return x >= 0xd800 && y >= 0xd800 ? compareByCodePoint(a, b) : x - y;
  }
  return a.length - b.length;
}

function canonicalValue(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      return canonicalNumber(v);
    case 'string':
      return canonicalString(v);
    case 'object': {
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) out += (i ? ',' : '') + canonicalValue(v[i]);
        return out + ']';
      }
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).sort(compareCodePoints);
      let out = '{';
      for (let i = 0; i < keys.length; i++) out += (i ? ',' : '') + canonicalString(keys[i]!) + ':' + canonicalValue(obj[keys[i]!]);
      return out + '}';
    }
    default:
      throw new TypeError(`canonicalJson: unsupported value of type ${typeof v}`);
  }
}

/** Canonical JSON text (spec/e2ee-v2.md §2). Throws on values the rules do not allow. */
export function canonicalJsonText(value: unknown): string {
  return canonicalValue(value);
}

/** Canonical JSON as UTF-8 bytes. */
export function canonicalJson(value: unknown): Uint8Array {
  return utf8(canonicalValue(value));
}

/**
 * The reference's `stableStringify`: keys sorted with the default (UTF-16) order, members whose
 * value is undefined dropped, scalars formatted by JSON.stringify.
 */
export function stableJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return '[' + value.map((x) => (x === undefined ? 'null' : stableJson(x))).join(',') + ']';
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(obj).sort()) {
    if (obj[k] === undefined) continue;
    parts.push(JSON.stringify(k) + ':' + stableJson(obj[k]));
  }
  return '{' + parts.join(',') + '}';
}
