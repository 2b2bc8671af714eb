// Recipient rows, their order, the Merkle root `recipients_digest` and per-device Merkle proofs
// (spec/e2ee-v2.md §3.4, §3.5).

import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, decodeBase64Into, fromHex, isBase64, toHex, utf8, utf8Into } from './bytes.ts';

export const LEAF_PREFIX = 'AUN-V2-RCPT-LEAF-v1';
export const NODE_PREFIX = 'AUN-V2-RCPT-NODE-v1';

export type Role = 'peer' | 'member' | 'self_sync' | 'audit';
export type KeySource = 'peer_device_prekey' | 'group_device_prekey' | 'aid_master';

/** `[aid, device_id, role, key_source, fp, spk_id, wrap_nonce_b64, wrapped_key_b64]`, all strings. */
export type RecipientRow = readonly [string, string, string, string, string, string, string, string];

/** One step up from a leaf: `L` puts the sibling on the left, `R` on the right. */
export interface ProofStep {
  sibling: string;
  position: 'L' | 'R';
}

const LEAF_PREFIX_BYTES = utf8(LEAF_PREFIX);
const NODE_PREFIX_BYTES = utf8(NODE_PREFIX);

export function isRecipientRow(x: unknown): x is RecipientRow {
  return Array.isArray(x) && x.length === 8 && x.every((f) => typeof f === 'string');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Stable ascending sort by (aid, device_id, role) with plain `<`, i.e. UTF-16 order as in the JS
 * reference (identical to Python's code-point order for the ASCII ids used in practice). The
 * server checks this order.
 */
export function sortRows(rows: readonly RecipientRow[]): RecipientRow[] {
  return [...rows].sort((a, b) => compare(a[0], b[0]) || compare(a[1], b[1]) || compare(a[2], b[2]));
}

/**
 * Leaf and node inputs are assembled in these buffers and hashed in one call: a fresh small array
 * per field (and one per concatenation) costs more than hashing them in a browser worker, where
 * each array handed to the hash needs a backing store of its own. For the same reason every hash
 * restarts one SHA-256 state from a blank one (noble's `_cloneInto`) instead of building a new
 * hash object. All of it is used synchronously only, and only on public bytes.
 */
let leafInput = /* @__PURE__ */ new Uint8Array(512);
const nodeInput = /* @__PURE__ */ (() => {
  const b = new Uint8Array(NODE_PREFIX_BYTES.length + 64);
  b.set(NODE_PREFIX_BYTES);
  return b;
})();
const blank = /* @__PURE__ */ sha256.create();
const state = /* @__PURE__ */ sha256.create();
const digestOut = /* @__PURE__ */ new Uint8Array(64).subarray(0, 32);

/** sha256(data), the same bytes, on the reused state. */
function hash(data: Uint8Array): Uint8Array {
  blank._cloneInto(state);
  state.update(data);
  state.digestInto(digestOut);
  return digestOut.slice();
}

/** `B(s)` into `dest`: base64 when it looks like base64, else the UTF-8 bytes (test rows use "nonce1"). */
function decodeOrRawInto(s: string, dest: Uint8Array): number {
  return isBase64(s) ? decodeBase64Into(s, dest) : utf8Into(s, dest);
}

export function leafHash(row: RecipientRow): Uint8Array {
  // UTF-8 of the six text fields, each followed by a 0 byte, in one encoding: "\0" is that byte,
  // and it keeps the fields apart, so each encodes as it would alone.
  const text = `${row[0]}\0${row[1]}\0${row[2]}\0${row[3]}\0${row[4]}\0${row[5]}\0`;
  // 3 bytes a UTF-16 unit bound every field without scanning it; the buffer is reused anyway.
  const most = LEAF_PREFIX_BYTES.length + 3 * (text.length + row[6].length + row[7].length);
  if (leafInput.length < most) leafInput = new Uint8Array(most);
  const b = leafInput;
  b.set(LEAF_PREFIX_BYTES);
  let n = LEAF_PREFIX_BYTES.length;
  n += utf8Into(text, b.subarray(n));
  n += decodeOrRawInto(row[6], b.subarray(n));
  n += decodeOrRawInto(row[7], b.subarray(n));
  return hash(b.subarray(0, n));
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== 32 || right.length !== 32) return sha256(concatBytes(NODE_PREFIX_BYTES, left, right));
  nodeInput.set(left, NODE_PREFIX_BYTES.length);
  nodeInput.set(right, NODE_PREFIX_BYTES.length + 32);
  return hash(nodeInput);
}

/** The next layer up; an odd layer pairs its last node with a copy of itself. */
function parentLayer(layer: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < layer.length; i += 2) out.push(nodeHash(layer[i]!, layer[i + 1] ?? layer[i]!));
  return out;
}

/** Lowercase hex Merkle root over rows as given (callers sort first); `""` for no rows. */
export function recipientsDigest(rows: readonly RecipientRow[]): string {
  if (rows.length === 0) return '';
  let layer = rows.map(leafHash);
  while (layer.length > 1) layer = parentLayer(layer);
  return toHex(layer[0]!);
}

/** The proof the server attaches to row `index` when it splits a message per device. */
export function merkleProof(rows: readonly RecipientRow[], index: number): ProofStep[] {
  if (!Number.isInteger(index) || index < 0 || index >= rows.length) throw new RangeError(`no row ${index}`);
  const proof: ProofStep[] = [];
  let layer = rows.map(leafHash);
  let i = index;
  while (layer.length > 1) {
    const sibling = layer[i ^ 1] ?? layer[i]!;
    proof.push({ sibling: toHex(sibling), position: i % 2 === 0 ? 'R' : 'L' });
    layer = parentLayer(layer);
    i >>= 1;
  }
  return proof;
}

/** False for any malformed step (unknown position, sibling not 64 hex) as well as a wrong root. */
export function verifyMerkleProof(row: RecipientRow, proof: unknown, digestHex: string): boolean {
  if (!Array.isArray(proof)) return false;
  let cur = leafHash(row);
  for (const step of proof as unknown[]) {
    if (typeof step !== 'object' || step === null) return false;
    const { sibling, position } = step as Record<string, unknown>;
    if (typeof sibling !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sibling)) return false;
    const s = fromHex(sibling);
    if (position === 'L') cur = nodeHash(s, cur);
    else if (position === 'R') cur = nodeHash(cur, s);
    else return false;
  }
  return toHex(cur) === digestHex;
}

/**
 * §3.4: the first row for our AID whose device is ours or `""` (a per-AID wrap). Role is ignored;
 * since `""` sorts first, a per-AID row wins over a per-device row.
 */
export function findRow(rows: readonly RecipientRow[], selfAid: string, selfDeviceId: string): RecipientRow | undefined {
  return rows.find((r) => r[0] === selfAid && (r[1] === selfDeviceId || r[1] === ''));
}

/** The row of a per-device envelope's `recipient` object; missing fields become `""`. */
export function rowFromRecipient(recipient: Record<string, unknown>): RecipientRow {
  const f = (k: string): string => {
    const v = recipient[k];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw new TypeError(`recipient.${k} must be a string`);
    return v;
  };
  return [f('aid'), f('device_id'), f('role'), f('key_source'), f('fp'), f('spk_id'), f('wrap_nonce'), f('wrapped_key')];
}
