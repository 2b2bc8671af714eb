// Checks at the two edges of the store: what callers hand in (StoreError, naming the operation)
// and what comes back out of IndexedDB (StoreCorruptError, naming the record). Reads return fresh
// objects holding exactly the declared fields.

import { corrupt, StoreCorruptError, StoreError } from './errors.ts';
import type { IdentityRecord, LogEntry, LogInput, OutboxItem, TokenRecord } from './types.ts';
import { isP256Spki, isWrappingKey, IV_LENGTH, type WrappedKey, type WrappingKey } from './wrapping.ts';

const DEVICE_ID = /^[A-Za-z0-9._-]{1,128}$/;

export interface KeyRow extends WrappedKey {
  aid: string;
  keyId: string;
  alg: 'P-256';
  wrapKeyId: string;
  createdAt: number;
}

type Fields = Record<string, unknown>;

// ---- caller input ----------------------------------------------------------------------------

export function requireId(op: string, field: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new StoreError(`${op}: ${field} must be a non-empty string, got ${show(v)}`);
  return v;
}

function requireString(op: string, field: string, v: unknown): string {
  if (typeof v !== 'string') throw new StoreError(`${op}: ${field} must be a string, got ${show(v)}`);
  return v;
}

function requireTime(op: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new StoreError(`${op}: ${field} must be a finite number (ms), got ${show(v)}`);
  return v;
}

/** A safe integer >= `min` (0 or 1). */
export function requireInt(op: string, field: string, v: unknown, min: 0 | 1 = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new StoreError(`${op}: ${field} must be a ${min === 0 ? 'non-negative' : 'positive'} safe integer, got ${show(v)}`);
  }
  return v;
}

export function requireSeq(op: string, v: unknown): number {
  return requireInt(op, 'seq', v);
}

export function checkIdentity(op: string, rec: unknown): IdentityRecord {
  if (typeof rec !== 'object' || rec === null) throw new StoreError(`${op}: expected an identity record, got ${show(rec)}`);
  const r = rec as Fields;
  return {
    aid: requireId(op, 'aid', r.aid),
    certPem: requireString(op, 'certPem', r.certPem),
    gatewayUrl: requireString(op, 'gatewayUrl', r.gatewayUrl),
    createdAt: requireTime(op, 'createdAt', r.createdAt),
    updatedAt: requireTime(op, 'updatedAt', r.updatedAt),
  };
}

export function checkToken(op: string, t: unknown): TokenRecord {
  if (typeof t !== 'object' || t === null) throw new StoreError(`${op}: expected a token record, got ${show(t)}`);
  const r = t as Fields;
  return {
    accessToken: requireId(op, 'accessToken', r.accessToken),
    accessExpiresAt: requireTime(op, 'accessExpiresAt', r.accessExpiresAt),
    refreshToken: requireString(op, 'refreshToken', r.refreshToken),
    obtainedAt: requireTime(op, 'obtainedAt', r.obtainedAt),
  };
}

/** null, one `{ ns, seq }`, or several (a batch moving several namespaces at once). */
export function checkCursorInput(op: string, c: unknown): { ns: string; seq: number }[] {
  if (c === null) return [];
  const list = Array.isArray(c) ? c : [c];
  return list.map((one: unknown) => {
    if (typeof one !== 'object' || one === null) throw new StoreError(`${op}: cursor must be { ns, seq }, an array of them, or null, got ${show(one)}`);
    const r = one as Fields;
    return { ns: requireId(op, 'cursor.ns', r.ns), seq: requireInt(op, 'cursor.seq', r.seq) };
  });
}

export function checkLogInputs(op: string, inputs: unknown): LogInput[] {
  if (!Array.isArray(inputs)) throw new StoreError(`${op}: inputs must be an array, got ${show(inputs)}`);
  return inputs.map((input: unknown, i) => {
    if (typeof input !== 'object' || input === null) throw new StoreError(`${op}: inputs[${i}] must be { key, kind, data }, got ${show(input)}`);
    const r = input as Fields;
    return { key: requireId(op, `inputs[${i}].key`, r.key), kind: requireId(op, `inputs[${i}].kind`, r.kind), data: r.data };
  });
}

export function checkOutboxItem(op: string, item: unknown): OutboxItem {
  if (typeof item !== 'object' || item === null) throw new StoreError(`${op}: expected an outbox item, got ${show(item)}`);
  const r = item as Fields;
  if (r.body === undefined) throw new StoreError(`${op}: body is undefined; an outbox item carries what it will send`);
  return {
    id: requireId(op, 'id', r.id),
    kind: requireId(op, 'kind', r.kind),
    body: r.body,
    createdAt: requireTime(op, 'createdAt', r.createdAt),
    attempts: requireInt(op, 'attempts', r.attempts),
    ...(r.seq === undefined ? {} : { seq: requireInt(op, 'seq', r.seq) }),
  };
}

// ---- stored rows -----------------------------------------------------------------------------

function fields(store: string, key: string[], row: unknown): Fields {
  if (typeof row !== 'object' || row === null) throw corrupt(store, key, `expected an object, found ${show(row)}`);
  return row as Fields;
}

function want<T>(store: string, key: string[], row: Fields, field: string, ok: (v: unknown) => v is T, what: string): T {
  const v = row[field];
  if (!ok(v)) throw corrupt(store, key, `field ${field} should be ${what}, found ${show(v)}`);
  return v;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isId = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isIv = (v: unknown): v is Uint8Array => v instanceof Uint8Array && v.length === IV_LENGTH;
const isCiphertext = (v: unknown): v is Uint8Array => v instanceof Uint8Array && v.length > 16;

export function parseIdentity(row: unknown, aid: string): IdentityRecord {
  const key = [aid];
  const r = fields('identities', key, row);
  const rec: IdentityRecord = {
    aid: want('identities', key, r, 'aid', isId, 'a non-empty string'),
    certPem: want('identities', key, r, 'certPem', isString, 'a string'),
    gatewayUrl: want('identities', key, r, 'gatewayUrl', isString, 'a string'),
    createdAt: want('identities', key, r, 'createdAt', isTime, 'a finite number'),
    updatedAt: want('identities', key, r, 'updatedAt', isTime, 'a finite number'),
  };
  if (rec.aid !== aid) throw corrupt('identities', key, `holds the record of ${JSON.stringify(rec.aid)}`);
  return rec;
}

export function parseToken(row: unknown, aid: string): TokenRecord {
  const key = [aid];
  const r = fields('tokens', key, row);
  return {
    accessToken: want('tokens', key, r, 'accessToken', isId, 'a non-empty string'),
    accessExpiresAt: want('tokens', key, r, 'accessExpiresAt', isTime, 'a finite number'),
    refreshToken: want('tokens', key, r, 'refreshToken', isString, 'a string'),
    obtainedAt: want('tokens', key, r, 'obtainedAt', isTime, 'a finite number'),
  };
}

/** `ns` names the record when known; rows read through the by_aid index carry their own. */
export function parseCursor(row: unknown, aid: string, ns?: string): { ns: string; seq: number } {
  const guess = ns ?? (typeof row === 'object' && row !== null && typeof (row as Fields).ns === 'string' ? ((row as Fields).ns as string) : '?');
  const key = [aid, guess];
  const r = fields('cursors', key, row);
  return {
    ns: want('cursors', key, r, 'ns', isId, 'a non-empty string'),
    seq: want('cursors', key, r, 'seq', isSeq, 'a non-negative safe integer'),
  };
}

export function parseKeyRow(row: unknown, aid: string, keyId: string): KeyRow {
  const key = [aid, keyId];
  const r = fields('keys', key, row);
  if (r.alg !== 'P-256') throw corrupt('keys', key, `unknown algorithm ${show(r.alg)}`);
  return {
    aid: want('keys', key, r, 'aid', isId, 'a non-empty string'),
    keyId: want('keys', key, r, 'keyId', isId, 'a non-empty string'),
    alg: 'P-256',
    wrapKeyId: want('keys', key, r, 'wrapKeyId', isId, 'a non-empty string'),
    iv: want('keys', key, r, 'iv', isIv, `${IV_LENGTH} bytes`),
    ct: want('keys', key, r, 'ct', isCiphertext, 'a ciphertext longer than its 16-byte tag'),
    spki: want('keys', key, r, 'spki', isP256Spki, 'a 91-byte P-256 SPKI'),
    createdAt: want('keys', key, r, 'createdAt', isTime, 'a finite number'),
  };
}

export function parseKv(row: unknown, aid: string, k: string): unknown {
  const key = [aid, k];
  const r = fields('kv', key, row);
  if (!('value' in r)) throw corrupt('kv', key, 'no value field');
  return r.value;
}

const isLsn = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;

/** The lsn out of a log primary key `[aid, lsn]`, as a key cursor hands it. */
export function parseLogKey(primaryKey: unknown, aid: string): number {
  const lsn = Array.isArray(primaryKey) ? (primaryKey[1] as unknown) : undefined;
  if (!isLsn(lsn)) throw corrupt('log', [aid, String(lsn)], `lsn should be a positive safe integer, found ${show(lsn)}`);
  return lsn;
}

/**
 * A stored log row: consecutive entries, lsn `lsn - entries.length + 1` to `lsn`, usually one
 * commit's. An entry carries its own `at` only when it differs from the row's (rows that v4 made
 * out of several v3 rows).
 */
export interface LogRun {
  aid: string;
  /** The lsn of the last entry: the row's primary key is [aid, lsn]. */
  lsn: number;
  at: number;
  /** [aid, key] per entry, for the unique multiEntry index by_key. */
  keys: [string, string][];
  entries: { key: string; kind: string; data: unknown; at?: number }[];
}

/** The row holding `entries`, which have consecutive lsn. */
export function logRun(aid: string, entries: readonly LogEntry[]): LogRun {
  const at = entries[0]!.at;
  return {
    aid,
    lsn: entries[entries.length - 1]!.lsn,
    at,
    keys: entries.map((e): [string, string] => [aid, e.key]),
    entries: entries.map((e) => (e.at === at ? { key: e.key, kind: e.kind, data: e.data } : { key: e.key, kind: e.kind, data: e.data, at: e.at })),
  };
}

/** The entries of a log row read under `primaryKey`, each named by its own lsn when corrupt. */
export function parseLogRun(row: unknown, aid: string, primaryKey: unknown): LogEntry[] {
  const last = parseLogKey(primaryKey, aid);
  const rowKey = [aid, String(last)];
  const r = fields('log', rowKey, row);
  const entries = r.entries;
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > last) {
    throw corrupt('log', rowKey, `field entries should be 1 to ${last} entries ending at lsn ${last}, found ${show(entries)}`);
  }
  const first = last - entries.length + 1;
  return entries.map((entry: unknown, i): LogEntry => {
    const key = [aid, String(first + i)];
    const e = fields('log', key, entry);
    if (!('data' in e)) throw corrupt('log', key, 'no data field');
    return {
      lsn: first + i,
      key: want('log', key, e, 'key', isId, 'a non-empty string'),
      kind: want('log', key, e, 'kind', isId, 'a non-empty string'),
      data: e.data,
      at: 'at' in e ? want('log', key, e, 'at', isTime, 'a finite number') : want('log', key, r, 'at', isTime, 'a finite number'),
    };
  });
}

export function parseOutboxRow(row: unknown, aid: string): OutboxItem {
  const guess = typeof row === 'object' && row !== null && typeof (row as Fields).id === 'string' ? ((row as Fields).id as string) : '?';
  const key = [aid, guess];
  const r = fields('outbox', key, row);
  if (!('body' in r)) throw corrupt('outbox', key, 'no body field');
  return {
    id: want('outbox', key, r, 'id', isId, 'a non-empty string'),
    kind: want('outbox', key, r, 'kind', isId, 'a non-empty string'),
    body: r.body,
    createdAt: want('outbox', key, r, 'createdAt', isTime, 'a finite number'),
    attempts: want('outbox', key, r, 'attempts', isSeq, 'a non-negative safe integer'),
    // Rows stored before outbox entries had a seq have none.
    ...('seq' in r ? { seq: want('outbox', key, r, 'seq', isSeq, 'a non-negative safe integer') } : {}),
  };
}

/** Meta values are checked once, at open; a bad one fails only the calls that need it. */
export function parseDeviceId(v: unknown): string | StoreCorruptError {
  return typeof v === 'string' && DEVICE_ID.test(v) ? v : corrupt('meta', ['deviceId'], `expected ${DEVICE_ID}, found ${show(v)}`);
}

export function parseWrappingKey(v: unknown): WrappingKey | StoreCorruptError {
  if (v === undefined) return corrupt('meta', ['wrappingKey'], 'missing');
  return isWrappingKey(v) ? v : corrupt('meta', ['wrappingKey'], 'not a non-extractable AES-GCM wrapKey/unwrapKey CryptoKey with an id');
}

export function newDeviceId(): string {
  return crypto.randomUUID();
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'an object' : typeof v === 'number' ? String(v) : typeof v;
}
