import { describe, expect, it } from 'vitest';
import {
  findRow,
  leafHash,
  merkleProof,
  nodeHash,
  recipientsDigest,
  recipientsRoot,
  sortRows,
  verifyMerkleProof,
  type RecipientRow,
} from '../../../protocol/recipients.ts';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromBase64, isBase64, toBase64, toHex, utf8 } from '../../../worker/e2ee/index.ts';

const nonce = toBase64(new Uint8Array(12).fill(1));
const wrapped = toBase64(new Uint8Array(48).fill(2));
const row = (aid: string, device: string, role: string, tag = ''): RecipientRow => [aid, device, role, 'aid_master', `sha256:${tag}`, '', nonce, wrapped];

describe('row order', () => {
  it('sorts by (aid, device_id, role), role breaking ties (audit < member), stably', () => {
    const rows = [row('b', 'd1', 'member', 'first'), row('b', 'd1', 'audit'), row('a', 'd2', 'peer'), row('b', '', 'member'), row('b', 'd1', 'member', 'second')];
    expect(sortRows(rows).map((r) => `${r[0]}/${r[1]}/${r[2]}/${r[4]}`)).toEqual([
      'a/d2/peer/sha256:', 'b//member/sha256:', 'b/d1/audit/sha256:', 'b/d1/member/sha256:first', 'b/d1/member/sha256:second',
    ]);
  });

  it('uses plain < (UTF-16 order): uppercase before lowercase', () => {
    expect(sortRows([row('a', 'x', 'peer'), row('Z', 'x', 'peer')]).map((r) => r[0])).toEqual(['Z', 'a']);
  });

  it('finds our row: the per-AID row ("" sorts first) wins, role is ignored', () => {
    const rows = sortRows([row('b', 'd1', 'peer', 'device'), row('b', '', 'peer', 'aid')]);
    expect(findRow(rows, 'b', 'd1')?.[4]).toBe('sha256:aid');
    expect(findRow(rows, 'b', 'd7')?.[4]).toBe('sha256:aid');
    expect(findRow(rows, 'c', 'd1')).toBeUndefined();
  });
});

describe('Merkle digest and proofs', () => {
  const five = sortRows(['a', 'b', 'c', 'd', 'e'].map((aid) => row(aid, 'dev', 'member')));

  it('empty → "", one row → its leaf, odd layers pair the last node with itself', () => {
    expect(recipientsDigest([])).toBe('');
    expect(recipientsDigest([five[0]!])).toBe(toHex(leafHash(five[0]!)));
    const [l0, l1, l2] = five.slice(0, 3).map(leafHash);
    expect(recipientsDigest(five.slice(0, 3))).toBe(toHex(nodeHash(nodeHash(l0!, l1!), nodeHash(l2!, l2!))));
  });

  it('the root as bytes is the digest, and there is none of no rows', () => {
    for (let n = 1; n <= five.length; n++) {
      const root = recipientsRoot(five.slice(0, n));
      expect(root.length).toBe(32);
      expect(toHex(root)).toBe(recipientsDigest(five.slice(0, n)));
    }
    expect(() => recipientsRoot([])).toThrow(RangeError);
  });

  it('the proof for row 2 of three is [leaf2 R, node(leaf0, leaf1) L] (spec §3.5)', () => {
    const [l0, l1, l2] = five.slice(0, 3).map(leafHash);
    expect(merkleProof(five.slice(0, 3), 2)).toEqual([
      { sibling: toHex(l2!), position: 'R' },
      { sibling: toHex(nodeHash(l0!, l1!)), position: 'L' },
    ]);
  });

  it('every row of five has a proof that verifies; a tampered leaf or step does not', () => {
    const digest = recipientsDigest(five);
    five.forEach((r, i) => {
      const proof = merkleProof(five, i);
      expect(proof).toHaveLength(3);
      expect(verifyMerkleProof(r, proof, digest)).toBe(true);
      const tampered: RecipientRow = [r[0], r[1], 'audit', r[3], r[4], r[5], r[6], r[7]];
      expect(verifyMerkleProof(tampered, proof, digest)).toBe(false);
      expect(verifyMerkleProof(five[(i + 1) % 5]!, proof, digest)).toBe(false);
    });
    const proof = merkleProof(five, 1);
    expect(verifyMerkleProof(five[1]!, [{ ...proof[0]!, position: 'X' }, ...proof.slice(1)], digest)).toBe(false);
    expect(verifyMerkleProof(five[1]!, [{ ...proof[0]!, sibling: 'zz' }, ...proof.slice(1)], digest)).toBe(false);
    expect(verifyMerkleProof(five[1]!, 'nope', digest)).toBe(false);
  });

  it('a leaf is SHA-256 over prefix ‖ UTF-8 fields each ended by 0 ‖ B(nonce) ‖ B(wrapped), whatever the lengths and script', () => {
    const B = (s: string) => (isBase64(s) ? fromBase64(s) : utf8(s));
    const byHand = (r: RecipientRow) =>
      sha256(concatBytes(utf8('AUN-V2-RCPT-LEAF-v1'), ...r.slice(0, 6).map((f) => concatBytes(utf8(f), new Uint8Array(1))), B(r[6]), B(r[7])));
    const rows: RecipientRow[] = [
      row('a', 'dev', 'member'),
      ['ünï.cödé.aid', 'デバイス', 'peer', 'aid_master', 'sha256:0123456789abcdef', '', 'nonce1', 'wrapped1'],
      // Longer than the buffer the leaves are assembled in at first, then a short one again.
      ['x'.repeat(700), 'd', 'peer', 'aid_master', 'sha256:', '', toBase64(new Uint8Array(600).fill(7)), wrapped],
      row('b', 'dev', 'member'),
    ];
    const leaves = rows.map(leafHash);
    rows.forEach((r, i) => expect(leaves[i]).toEqual(byHand(r)));
    // Each call returns its own array: the first result is not overwritten by the later ones.
    expect(new Set(leaves.map(toHex)).size).toBe(4);
    expect(nodeHash(leaves[0]!, leaves[1]!)).toEqual(sha256(concatBytes(utf8('AUN-V2-RCPT-NODE-v1'), leaves[0]!, leaves[1]!)));
  });

  it('the root over 1 to 20 rows, long and non-ASCII ones among them, is the tree built by hand', () => {
    const B = (s: string) => (isBase64(s) ? fromBase64(s) : utf8(s));
    const leafByHand = (r: RecipientRow) =>
      sha256(concatBytes(utf8('AUN-V2-RCPT-LEAF-v1'), ...r.slice(0, 6).map((f) => concatBytes(utf8(f), new Uint8Array(1))), B(r[6]), B(r[7])));
    const rootByHand = (rows: RecipientRow[]): string => {
      let layer: Uint8Array[] = rows.map(leafByHand);
      while (layer.length > 1) {
        const up: Uint8Array[] = [];
        for (let i = 0; i < layer.length; i += 2) up.push(sha256(concatBytes(utf8('AUN-V2-RCPT-NODE-v1'), layer[i]!, layer[i + 1] ?? layer[i]!)));
        layer = up;
      }
      return toHex(layer[0]!);
    };
    const all: RecipientRow[] = Array.from({ length: 20 }, (_, i) =>
      i % 7 === 3
        ? [`ü${i}.cödé.aid`, 'デバイス', 'member', 'group_device_prekey', `sha256:${i}`, `spk${i}`, 'nonce1', toBase64(new Uint8Array(48).fill(i))]
        : i % 7 === 5
          ? ['y'.repeat(300 + i), `d${i}`, 'member', 'aid_master', 'sha256:', '', toBase64(new Uint8Array(12).fill(i)), toBase64(new Uint8Array(700).fill(i))]
          : row(`m${String(i).padStart(2, '0')}`, `d${i}`, 'member', String(i)),
    );
    for (let n = 1; n <= all.length; n++) expect(recipientsDigest(all.slice(0, n)), `${n} rows`).toBe(rootByHand(all.slice(0, n)));
    // The same places with other rows, then the first rows again with new wraps (the text fields,
    // whose first block a digest may start from, unchanged), then with the AID, in that block, changed.
    const reversed = [...all].reverse();
    expect(recipientsDigest(reversed)).toBe(rootByHand(reversed));
    const rewrapped = all.map((r, i): RecipientRow => [r[0], r[1], r[2], r[3], r[4], r[5], toBase64(new Uint8Array(12).fill(100 + i)), toBase64(new Uint8Array(48).fill(i))]);
    expect(recipientsDigest(rewrapped)).toBe(rootByHand(rewrapped));
    const renamed = rewrapped.map((r): RecipientRow => ['x' + r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]]);
    expect(recipientsDigest(renamed)).toBe(rootByHand(renamed));
    expect(recipientsDigest(rewrapped)).toBe(rootByHand(rewrapped));
    // Prefix and text ending 1 byte short of, on, and 1 byte past one, two and three blocks (49 + k
    // bytes for an AID of k characters), each digest twice with new wraps: from its whole blocks.
    const edges = [14, 15, 16, 78, 79, 80, 142, 143, 144].map(
      (k, i): RecipientRow => ['x'.repeat(k), 'd', 'member', 'aid_master', 'sha256:', '', toBase64(new Uint8Array(12).fill(i)), toBase64(new Uint8Array(48).fill(i))],
    );
    const edgesRewrapped = edges.map((r, i): RecipientRow => [r[0], r[1], r[2], r[3], r[4], r[5], toBase64(new Uint8Array(12).fill(50 + i)), r[7]]);
    for (const rows of [edges, edgesRewrapped, edges]) expect(recipientsDigest(rows)).toBe(rootByHand(rows));
    // Past what the reused buffers keep (64 KiB): 3,000 rows, a 40,000-character field; then small
    // lists again, which must not read anything those left behind.
    const many = Array.from({ length: 3000 }, (_, i) => row(`m${i}`, `d${i}`, 'member', String(i)));
    expect(recipientsDigest(many)).toBe(rootByHand(many));
    const huge: RecipientRow[] = [['z'.repeat(40_000), 'd', 'member', 'aid_master', 'sha256:', '', 'nonce1', toBase64(new Uint8Array(48).fill(7))], ...all.slice(0, 3)];
    expect(recipientsDigest(huge)).toBe(rootByHand(huge));
    for (const rows of [all.slice(0, 5), edges]) expect(recipientsDigest(rows)).toBe(rootByHand(rows));
  });

  it('B(): a non-base64 test string hashes as UTF-8, a base64-looking one is decoded', () => {
    const base = ['a', 'd', 'r', 'k', 'f', 's'] as const;
    const leaf = (n: string, w: string): Uint8Array => leafHash([...base, n, w]);
    expect(leaf('nonce1', 'wrapped1')).toEqual(leaf(toBase64(utf8('nonce1')), 'wrapped1'));
    expect(leaf('nonce1', 'wrapped1')).not.toEqual(leaf('nonce1', toBase64(utf8('wrapped1'))));
  });
});
