// Checks a client-signed `group.index` (spec groups-and-more §3.13): the JSONL body, its hashes and
// etag, the signer and its ECDSA-P256-SHA256 signature, and that it covers the values written with
// it. The gateway stores the index as sent and never builds one.

import { canonicalJsonText } from '../../protocol/canonical.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { RpcError } from '../context.ts';
import { publicKeyFromSpki, sha256Hex, verifyEcdsa } from '../sig.ts';

export const INDEX_SCHEMA = 'aun.group.index.v1';
export const INDEX_KEY = 'group.index';

export interface IndexHead { etag: string; last_modified: number; schema: string }

function bad(why: string): never {
  throw new RpcError(ErrorCode.InvalidParams, `invalid params: group.index ${why}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The etag of one setting value as the index names it: `"sha256:<hex>"`, quotes included. */
export function valueEtag(value: unknown): string {
  return `"sha256:${sha256Hex(canonicalJsonText(value))}"`;
}

/**
 * Verifies `value` as a group.index for `groupAid` signed by `signer` (SPKI base64) and covering
 * `written` (key → new value); returns its head.
 */
export function checkGroupIndex(value: unknown, groupAid: string, signer: { aid: string; publicKey: string }, written: Record<string, unknown>): IndexHead {
  if (!isRecord(value) || typeof value.body !== 'string') bad('must be an object with a string body');
  const lines = value.body.split('\n');
  if (lines.pop() !== '') bad('body must end with a newline');
  const parsed = lines.map((l, i) => {
    try {
      const v = JSON.parse(l) as unknown;
      if (!isRecord(v)) throw new Error();
      return v;
    } catch {
      return bad(`body line ${i + 1} is not a JSON object`);
    }
  });
  const [meta, ...entries] = parsed;
  if (!meta || meta.type !== 'index_meta') bad('body must start with an index_meta line');
  if (meta.schema !== INDEX_SCHEMA) bad(`schema must be ${INDEX_SCHEMA}`);
  if (meta.group_aid !== groupAid) bad(`names group ${String(meta.group_aid)}, not ${groupAid}`);
  if (meta.signed_by !== signer.aid) bad(`is signed by ${String(meta.signed_by)}, not the caller ${signer.aid}`);
  if (meta.sig_alg !== 'ECDSA-P256-SHA256') bad('sig_alg must be ECDSA-P256-SHA256');
  if (typeof meta.signature !== 'string' || typeof meta.etag !== 'string' || typeof meta.last_modified !== 'number') bad('meta needs signature, etag and last_modified');
  const entryText = entries.map((e) => canonicalJsonText(e) + '\n').join('');
  const hex = sha256Hex(entryText);
  if (meta.body_hash !== `sha256:${hex}`) bad('body_hash does not match its entries');
  if (meta.etag !== `"sha256:${hex}"`) bad('etag does not match its entries');
  const { signature, ...unsigned } = meta;
  const signed = canonicalJsonText(unsigned) + '\n' + entryText;
  if (!verifyEcdsa(publicKeyFromSpki(signer.publicKey), Buffer.from(signed, 'utf8'), Buffer.from(signature as string, 'base64'))) {
    throw new RpcError(ErrorCode.SignatureFailed, 'signature failed: group.index signature does not verify with the signer\'s key');
  }
  const byKey = new Map(entries.map((e) => [e.key, e]));
  for (const [key, v] of Object.entries(written)) {
    const entry = byKey.get(key);
    if (!entry) bad(`has no entry for ${key}`);
    if (entry.etag !== valueEtag(v)) bad(`entry for ${key} does not match the value written`);
  }
  return { etag: meta.etag, last_modified: meta.last_modified, schema: INDEX_SCHEMA };
}
