// Writes tests/conformance/generated/: envelope and multi-row digest vectors in the style of the
// reference's held-back files, made by our encryptor from fixed keys and a seeded random source
// so that re-running reproduces the same bytes. `npx tsx tests/conformance/make-vectors.ts`

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  merkleProof,
  recipientsDigest,
  sortRows,
  type RecipientRow,
} from '../../protocol/recipients.ts';
import {
  concatBytes,
  encryptGroup,
  encryptP2P,
  fromBase64,
  privateKeyFromScalar,
  spkIdOf,
  toBase64,
  utf8,
  type EncryptOptions,
  type Envelope,
  type P256PrivateKey,
  type Sender,
  type Target,
} from '../../worker/e2ee/index.ts';
import { GENERATED_VECTOR_DIR } from './vectors.ts';

/** SHA-256 in counter mode: deterministic bytes for keys, nonces and master keys. */
function seeded(label: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out: Uint8Array[] = [];
    for (let have = 0; have < n; have += 32) out.push(sha256(utf8(`${label}#${counter++}`)));
    return concatBytes(...out).slice(0, n);
  };
}

/** The golden vectors' ALICE_PRIV, so the sender IK is the one the reference fixtures use. */
const ALICE_PRIV = fromBase64('pixVw1Nzw9kwG88AXzwvln1EDj59XpREtdl19ohv84E=');
const key = (name: string): P256PrivateKey => privateKeyFromScalar(sha256(utf8(`aun-worker test key ${name}`)));

const alice = privateKeyFromScalar(ALICE_PRIV);
const bob = key('bob-ik');
const bobSpk1 = key('bob-spk-1');
const bobSpk2 = key('bob-spk-2');
const bobGroupSpk = key('bob-group-spk');
const carol = key('carol-ik');
const audit = key('audit-ik');

const sender: Sender = { aid: 'alice.aid.com', deviceId: 'dev-alice-1', ik: alice };
const TIMESTAMP = 1710504000000;

const b64 = (k: P256PrivateKey): string => toBase64(k.scalar!);
const pub = (k: P256PrivateKey): string => toBase64(k.publicSpki);

function spkTarget(aid: string, deviceId: string, role: Target['role'], ik: P256PrivateKey, spk: P256PrivateKey, keySource: Target['keySource']): Target {
  return { aid, deviceId, role, ikSpki: ik.publicSpki, keySource, spkId: spkIdOf(spk.publicSpki), spkSpki: spk.publicSpki };
}

function opts(messageId: string, extra: EncryptOptions = {}): EncryptOptions {
  return { messageId, timestamp: TIMESTAMP, random: seeded(messageId), ...extra };
}

function write(relPath: string, value: unknown): void {
  const path = join(GENERATED_VECTOR_DIR, relPath);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(value, null, 2) + '\n');
  console.log(`wrote ${relPath}`);
}

const senderFields = { sender_aid: sender.aid, sender_device_id: sender.deviceId, sender_ik_pub_der_b64: pub(alice) };

async function p2p1dh(): Promise<void> {
  const payload = { type: 'text', text: 'hello bob (1DH)' };
  const target: Target = { aid: 'bob.aid.com', deviceId: 'dev-bob-1', role: 'peer', ikSpki: bob.publicSpki };
  const envelope = await encryptP2P(sender, [target], payload, opts('m-gen-1dh-001'));
  write('envelope/p2p_1dh.json', {
    description: 'P2P 1DH: alice → bob/dev-bob-1, one aid_master row',
    ...senderFields,
    recipient_aid: 'bob.aid.com',
    recipient_device_id: 'dev-bob-1',
    recipient_ik_priv_b64: b64(bob),
    expected_payload: payload,
    envelope,
  });
}

async function p2p3dh(): Promise<void> {
  const payload = { type: 'text', text: 'hello bob (3DH) 中文 😀' };
  const target = spkTarget('bob.aid.com', 'dev-bob-1', 'peer', bob, bobSpk1, 'peer_device_prekey');
  const envelope = await encryptP2P(sender, [target], payload, opts('m-gen-3dh-001', { protectedHeaders: { Trace_ID: 't-1' } }));
  write('envelope/p2p_3dh.json', {
    description: 'P2P 3DH: alice → bob/dev-bob-1 with his P2P SPK, protected headers',
    ...senderFields,
    recipient_aid: 'bob.aid.com',
    recipient_device_id: 'dev-bob-1',
    recipient_ik_priv_b64: b64(bob),
    recipient_spk_priv_b64: b64(bobSpk1),
    recipient_spk_id: spkIdOf(bobSpk1.publicSpki),
    expected_payload: payload,
    envelope,
  });
}

const multiTargets: Target[] = [
  spkTarget('bob.aid.com', 'dev-bob-2', 'peer', bob, bobSpk2, 'peer_device_prekey'),
  spkTarget('bob.aid.com', 'dev-bob-1', 'peer', bob, bobSpk1, 'peer_device_prekey'),
  { aid: 'alice.aid.com', deviceId: 'dev-alice-2', role: 'self_sync', ikSpki: alice.publicSpki },
  { aid: 'audit.regulator.pub', deviceId: '', role: 'audit', ikSpki: audit.publicSpki },
];

async function p2pMulti(): Promise<Envelope> {
  const payload = { type: 'text', text: 'to every device', n: 3 };
  const envelope = await encryptP2P(
    sender,
    multiTargets,
    payload,
    opts('m-gen-multi-001', { context: { thread: 'th-1', depth: 2 }, protectedHeaders: { priority: 1 } }),
  );
  write('envelope/p2p_multi.json', {
    description: 'P2P to two bob devices (3DH), a self_sync device (1DH) and a per-AID audit row; context and headers',
    ...senderFields,
    bob_ik_priv_b64: b64(bob),
    bob_spk_priv_b64: b64(bobSpk1),
    bob_spk2_priv_b64: b64(bobSpk2),
    alice_ik_priv_b64: b64(alice),
    audit_ik_priv_b64: b64(audit),
    expected_payload: payload,
    envelope,
  });
  return envelope;
}

/** The per-device form the server delivers: one `recipient` object plus its Merkle proof. */
function perDevice(envelope: Envelope, aid: string, deviceId: string): Record<string, unknown> {
  const { recipients, ...rest } = envelope;
  const index = recipients.findIndex((r) => r[0] === aid && r[1] === deviceId);
  const r = recipients[index]!;
  const recipient = { aid: r[0], device_id: r[1], role: r[2], key_source: r[3], fp: r[4], spk_id: r[5], wrap_nonce: r[6], wrapped_key: r[7] };
  return { ...rest, recipient, merkle_proof: merkleProof(recipients, index) };
}

async function group(): Promise<void> {
  const payload = { type: 'text', text: 'hello group' };
  const targets: Target[] = [
    spkTarget('bob.aid.com', 'dev-bob-1', 'member', bob, bobGroupSpk, 'group_device_prekey'),
    { aid: 'carol.aid.com', deviceId: 'dev-carol-1', role: 'member', ikSpki: carol.publicSpki },
    { aid: 'alice.aid.com', deviceId: 'dev-alice-2', role: 'self_sync', ikSpki: alice.publicSpki },
    { aid: 'audit.regulator.pub', deviceId: '', role: 'audit', ikSpki: audit.publicSpki },
  ];
  const envelope = await encryptGroup(
    sender,
    targets,
    payload,
    { groupId: 'g-test.aid.com', epoch: 5, stateCommitment: { state_version: 1, state_hash: 'abc123', state_chain: 'chain-link-1' } },
    opts('gm-gen-001'),
  );
  write('envelope/group_3dh_1dh.json', {
    description: 'group g-test.aid.com epoch 5: bob 3DH (group SPK), carol 1DH, self_sync 1DH, per-AID audit',
    ...senderFields,
    group_id: 'g-test.aid.com',
    bob_ik_priv_b64: b64(bob),
    bob_group_spk_priv_b64: b64(bobGroupSpk),
    carol_ik_priv_b64: b64(carol),
    alice_ik_priv_b64: b64(alice),
    audit_ik_priv_b64: b64(audit),
    expected_payload: payload,
    envelope,
  });
}

function digestVector(description: string, input: RecipientRow[]): Record<string, unknown> {
  const sorted = sortRows(input);
  const digest = recipientsDigest(sorted);
  return {
    description,
    input_rows: input,
    expected_sorted_rows: sorted,
    expected_digest_hex: digest,
    expected_proofs: sorted.map((_, i) => merkleProof(sorted, i)),
  };
}

function digests(): void {
  write(
    'recipients_digest/three_members.json',
    digestVector('three members, unsorted input, test strings (B() raw and base64 branches)', [
      ['carol.aid.com', 'dev-c1', 'member', 'aid_master', 'sha256:fp_carol', '', 'nonce3', 'wrapped3'],
      ['alice.aid.com', 'dev-a1', 'member', 'group_device_prekey', 'sha256:fp_alice', 'sha256:spk_a1', 'nonce1', 'wrapped1'],
      ['bob.aid.com', 'dev-b1', 'member', 'group_device_prekey', 'sha256:fp_bob', 'sha256:spk_b1', 'nonce2', 'wrapped2'],
    ]),
  );
  const n = toBase64(new Uint8Array(12).fill(7));
  const w = toBase64(new Uint8Array(48).fill(9));
  write(
    'recipients_digest/five_rows_ties.json',
    digestVector('five rows: role breaks a (aid, device) tie (audit < member), a per-AID row sorts first', [
      ['bob.aid.com', 'dev-1', 'member', 'aid_master', 'sha256:0000000000000001', '', n, w],
      ['bob.aid.com', 'dev-1', 'audit', 'aid_master', 'sha256:0000000000000001', '', n, w],
      ['bob.aid.com', '', 'member', 'aid_master', 'sha256:0000000000000001', '', n, w],
      ['Zed.aid.com', 'dev-9', 'member', 'aid_master', 'sha256:0000000000000002', '', n, w],
      ['alice.aid.com', 'dev-2', 'self_sync', 'aid_master', 'sha256:0000000000000003', '', n, w],
    ]),
  );
}

digests();
await p2p1dh();
await p2p3dh();
const multi = await p2pMulti();
write('envelope/p2p_per_device_proof.json', {
  description: 'the p2p_multi message as delivered to bob/dev-bob-2: `recipient` + `merkle_proof`, no `recipients`',
  ...senderFields,
  recipient_aid: 'bob.aid.com',
  recipient_device_id: 'dev-bob-2',
  recipient_ik_priv_b64: b64(bob),
  recipient_spk_priv_b64: b64(bobSpk2),
  expected_payload: { type: 'text', text: 'to every device', n: 3 },
  envelope: perDevice(multi, 'bob.aid.com', 'dev-bob-2'),
});
await group();
