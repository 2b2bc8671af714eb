// `protected_headers` / `context`: unencrypted envelope metadata whose integrity is an HMAC keyed
// from the message's master key (spec/e2ee-v2.md §1.7, §3.7, §6.1 step 7).

import { concatBytes, equalBytes, fromBase64, isBase64, toBase64, utf8, utf8Bound, utf8Into } from '../../protocol/bytes.ts';
import { canonicalJsonText } from '../../protocol/canonical.ts';
import { E2eeError } from './errors.ts';
import { hmacSha256 } from './primitives.ts';

export const METADATA_KEY_LABEL = 'aun-envelope-metadata-key-v1';
export const PROTECTED_HEADERS_DOMAIN = 'aun-protected-headers-v1';
export const CONTEXT_DOMAIN = 'aun-protected-context-v1';
export const METADATA_AUTH_ALG = 'HMAC-SHA256';
/** Forced into every header set, as the reference SDKs do ("javascript"/"python" there). */
export const SDK_LANG = 'typescript';
export const SDK_VERSION = '0.1.0';

export type MetadataField = 'protected_headers' | 'context';
export interface MetadataAuth {
  alg: typeof METADATA_AUTH_ALG;
  tag: string;
}

// Encoded once: every message uses them. A domain is followed by a 0 byte.
const KEY_LABEL_BYTES = utf8(METADATA_KEY_LABEL);
const DOMAIN_BYTES: Record<MetadataField, Uint8Array> = {
  protected_headers: concatBytes(utf8(PROTECTED_HEADERS_DOMAIN), new Uint8Array([0])),
  context: concatBytes(utf8(CONTEXT_DOMAIN), new Uint8Array([0])),
};
const FAILURE = { protected_headers: 'header_auth_failed', context: 'context_auth_failed' } as const;

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function withoutAuth(obj: Record<string, unknown>): Record<string, unknown> {
  const { _auth: _ignored, ...body } = obj;
  return body;
}

// The HMAC's message, domain ‖ canonical(body), is assembled in this reused buffer rather than
// in two new arrays per message; used synchronously only, and it holds public bytes only.
let tagInput = new Uint8Array(1024);

function metadataTag(masterKey: Uint8Array, field: MetadataField, body: Record<string, unknown>): Uint8Array {
  const metadataKey = hmacSha256(masterKey, KEY_LABEL_BYTES);
  const text = canonicalJsonText(body);
  const domain = DOMAIN_BYTES[field];
  if (tagInput.length < domain.length + utf8Bound(text)) tagInput = new Uint8Array(domain.length + utf8Bound(text));
  tagInput.set(domain);
  const end = domain.length + utf8Into(text, tagInput.subarray(domain.length));
  return hmacSha256(metadataKey, tagInput.subarray(0, end));
}

/** The body plus its `_auth`; an empty body (ignoring `_auth`) stays `{}` with no `_auth`. */
export function withMetadataAuth(masterKey: Uint8Array, field: MetadataField, metadata: Record<string, unknown>): Record<string, unknown> {
  const body = withoutAuth(metadata);
  if (Object.keys(body).length === 0) return {};
  const _auth: MetadataAuth = { alg: METADATA_AUTH_ALG, tag: toBase64(metadataTag(masterKey, field, body)) };
  return { ...body, _auth };
}

/**
 * Checks a received field and returns its body without `_auth` (undefined when absent). Error
 * texts are the reference's `<field> …` messages.
 */
export function verifyMetadataAuth(masterKey: Uint8Array, field: MetadataField, value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) throw new E2eeError('malformed', `${field} must be an object`);
  const body = withoutAuth(value);
  if (Object.keys(body).length === 0) return body;
  const fail = (what: string): E2eeError => new E2eeError(FAILURE[field], `${field} ${what}`);
  const auth = value._auth;
  if (!isPlainObject(auth)) throw fail('missing _auth');
  if (auth.alg !== METADATA_AUTH_ALG) throw fail('unsupported _auth alg');
  if (typeof auth.tag !== 'string' || auth.tag.length === 0) throw fail('missing _auth tag');
  let expected: Uint8Array;
  try {
    expected = metadataTag(masterKey, field, body);
  } catch (exc) {
    throw new E2eeError('malformed', `${field} is not canonical JSON`, { cause: exc });
  }
  if (!isBase64(auth.tag) || !equalBytes(fromBase64(auth.tag), expected)) throw fail('_auth verification failed');
  return body;
}

const HEADER_KEY_RE = /^[a-z0-9_-]+$/;

/**
 * Sender-side header normalisation (§3.7): keys trimmed and lowercased, values as strings,
 * `payload_type` from a string `payload.type` unless given, `sdk_lang`/`sdk_version` forced.
 */
export function normalizeProtectedHeaders(headers: Record<string, unknown> | undefined, payload: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [rawKey, value] of Object.entries(headers ?? {})) {
    const key = rawKey.trim().toLowerCase();
    if (!HEADER_KEY_RE.test(key)) throw new E2eeError('malformed', 'protected header key must match [a-z0-9_-]+');
    if (key === '_auth') throw new E2eeError('malformed', 'protected header key is reserved');
    out[key] = value === null || value === undefined ? '' : typeof value === 'string' ? value : canonicalJsonText(value);
  }
  const payloadType = isPlainObject(payload) ? payload.type : undefined;
  if (typeof payloadType === 'string' && payloadType && !('payload_type' in out)) out.payload_type = payloadType;
  out.sdk_lang = SDK_LANG;
  out.sdk_version = SDK_VERSION;
  return out;
}
