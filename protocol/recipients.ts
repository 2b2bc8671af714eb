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
/** SHA-256's block size. */
const BLOCK = 64;

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
 * hash object, and a whole tree's hashes live in one reused buffer. All of it is used
 * synchronously only, and only on public bytes.
 */
let leafInput = /* @__PURE__ */ leafBuffer(512);
const nodeInput = /* @__PURE__ */ (() => {
  const b = new Uint8Array(NODE_PREFIX_BYTES.length + 64);
  b.set(NODE_PREFIX_BYTES);
  return b;
})();
const blank = /* @__PURE__ */ sha256.create();
const state = /* @__PURE__ */ sha256.create();
const digestOut = /* @__PURE__ */ new Uint8Array(64).subarray(0, 32);
/** The hashes of one layer of the tree, 32 bytes each; each parent layer overwrites it from the start. */
let layerBytes = /* @__PURE__ */ new Uint8Array(32 * 16);
/**
 * The reused buffers grow to at most this many bytes: a larger need (thousands of rows, a field of
 * many KB, which only a hostile or broken envelope has) gets a buffer for that call alone, so one
 * such message does not pin its size in the worker for good.
 */
const KEEP_MAX = 64 * 1024;

function leafBuffer(n: number): Uint8Array {
  const b = new Uint8Array(n);
  b.set(LEAF_PREFIX_BYTES);
  return b;
}

/** sha256(data) into `out` (32 bytes), on the reused state. */
function hashInto(data: Uint8Array, out: Uint8Array): void {
  blank._cloneInto(state);
  state.update(data);
  state.digestInto(out);
}

/** `B(s)` at `b[n]`: base64 when it looks like base64, else the UTF-8 bytes (test rows use "nonce1"). */
function decodeOrRawAt(s: string, b: Uint8Array, n: number): number {
  return n + (isBase64(s) ? decodeBase64Into(s, b.subarray(n)) : utf8Into(s, b.subarray(n)));
}

/** UTF-8 of `s` at `b[n]`, then a 0 byte, which keeps the fields apart; ASCII by a loop. */
function fieldAt(s: string, b: Uint8Array, n: number): number {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) break;
    b[n + i] = c;
  }
  if (i < s.length) i = utf8Into(s, b.subarray(n));
  b[n + i] = 0;
  return n + i + 1;
}

/**
 * The SHA-256 state after a leaf's whole 64-byte blocks of prefix and text fields, which every
 * message to that recipient repeats (only the wrap's nonce and key change), by the row's place in
 * the list, with the six text fields it came from and their bytes after those blocks: a digest
 * over the same rows in the same order neither encodes their text again nor hashes those blocks
 * (two of a typical leaf's four, its fingerprint alone being 71 characters). Public bytes only.
 */
interface Midstate {
  fields: readonly string[];
  tail: Uint8Array;
  state: ReturnType<typeof sha256.create>;
}
const midstates: Midstate[] = [];
const MIDSTATES_MAX = 64;

function sameText(fields: readonly string[], row: RecipientRow): boolean {
  for (let f = 0; f < 6; f++) if (fields[f] !== row[f]) return false;
  return true;
}

/**
 * The leaf hash of `row` into `out`: prefix ‖ each text field and a 0 byte ‖ B(nonce) ‖ B(wrapped).
 * `place`: the row's index in the list, to start from its midstate; -1 hashes from the start.
 */
function leafInto(row: RecipientRow, out: Uint8Array, place = -1): void {
  // 3 bytes a UTF-16 unit bound every field without scanning it; the buffer is reused anyway.
  let most = LEAF_PREFIX_BYTES.length + 6;
  for (let f = 0; f < 8; f++) most += 3 * row[f]!.length;
  if (leafInput.length < most && most <= KEEP_MAX) leafInput = leafBuffer(most);
  const b = leafInput.length < most ? leafBuffer(most) : leafInput;
  const cached = place >= 0 && place < MIDSTATES_MAX ? midstates[place] : undefined;
  if (cached && sameText(cached.fields, row)) {
    b.set(cached.tail, BLOCK);
    let n = decodeOrRawAt(row[6], b, BLOCK + cached.tail.length);
    n = decodeOrRawAt(row[7], b, n);
    cached.state._cloneInto(state).update(b.subarray(BLOCK, n)).digestInto(out);
    return;
  }
  let n = LEAF_PREFIX_BYTES.length;
  for (let f = 0; f < 6; f++) n = fieldAt(row[f]!, b, n);
  const textEnd = n;
  n = decodeOrRawAt(row[6], b, n);
  n = decodeOrRawAt(row[7], b, n);
  if (textEnd < BLOCK || place < 0 || place >= MIDSTATES_MAX) return hashInto(b.subarray(0, n), out);
  const whole = textEnd - (textEnd % BLOCK);
  const m = (midstates[place] ??= { fields: [], tail: b, state: sha256.create() });
  m.fields = row.slice(0, 6);
  m.tail = b.slice(whole, textEnd);
  blank._cloneInto(m.state).update(b.subarray(0, whole));
  m.state._cloneInto(state).update(b.subarray(whole, n)).digestInto(out);
}

export function leafHash(row: RecipientRow): Uint8Array {
  leafInto(row, digestOut);
  return digestOut.slice();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== 32 || right.length !== 32) return sha256(concatBytes(NODE_PREFIX_BYTES, left, right));
  nodeInput.set(left, NODE_PREFIX_BYTES.length);
  nodeInput.set(right, NODE_PREFIX_BYTES.length + 32);
  hashInto(nodeInput, digestOut);
  return digestOut.slice();
}

/** The next layer up; an odd layer pairs its last node with a copy of itself. */
function parentLayer(layer: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < layer.length; i += 2) out.push(nodeHash(layer[i]!, layer[i + 1] ?? layer[i]!));
  return out;
}

/** Lowercase hex Merkle root over rows as given (callers sort first); `""` for no rows. */
export function recipientsDigest(rows: readonly RecipientRow[]): string {
  return rows.length === 0 ? '' : toHex(recipientsRoot(rows));
}

/**
 * The Merkle root's 32 bytes over rows as given (at least one): a view of a reused buffer, valid
 * until the next root is computed, for a caller that copies it at once (the signed bytes).
 */
export function recipientsRoot(rows: readonly RecipientRow[]): Uint8Array {
  if (rows.length === 0) throw new RangeError('no rows');
  const size = 32 * rows.length;
  if (layerBytes.length < size && size <= KEEP_MAX) layerBytes = new Uint8Array(size);
  const hashes = layerBytes.length < size ? new Uint8Array(size) : layerBytes;
  for (let i = 0; i < rows.length; i++) leafInto(rows[i]!, hashes.subarray(32 * i, 32 * i + 32), i);
  // Parent i reads children 2i and 2i + 1 (or 2i twice) before it is written at i, behind them.
  const P = NODE_PREFIX_BYTES.length;
  for (let width = rows.length; width > 1; width = (width + 1) >> 1) {
    for (let i = 0; 2 * i < width; i++) {
      const left = 64 * i;
      if (2 * i + 1 < width) nodeInput.set(hashes.subarray(left, left + 64), P);
      else {
        nodeInput.set(hashes.subarray(left, left + 32), P);
        nodeInput.copyWithin(P + 32, P, P + 32);
      }
      hashInto(nodeInput, hashes.subarray(32 * i, 32 * i + 32));
    }
  }
  return hashes.subarray(0, 32);
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
