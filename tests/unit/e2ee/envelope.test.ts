import { afterEach, describe, expect, it, vi } from 'vitest';
import { AunError } from '../../../protocol/errors.ts';
import { merkleProof } from '../../../protocol/recipients.ts';
import {
  canonicalJson,
  canonicalJsonText,
  decryptEnvelope,
  encryptGroup,
  encryptP2P,
  fp,
  fromBase64,
  importPrivateKey,
  P256_SPKI_PREFIX,
  spkIdOf,
  stateCommitmentFromBootstrap,
  toBase64,
  type DecryptKeys,
  type Envelope,
  type Sender,
  type Target,
} from '../../../worker/e2ee/index.ts';
import { ALICE_PRIV, alice, audit, bob, bobSpk, carol, expectE2eeError } from './fixtures.ts';

const sender: Sender = { aid: 'alice.aid.com', deviceId: 'dev-a1', ik: alice };
const bob1DH: Target = { aid: 'bob.aid.com', deviceId: 'dev-b1', role: 'peer', ikSpki: bob.publicSpki };
const bob3DH: Target = { ...bob1DH, keySource: 'peer_device_prekey', spkId: spkIdOf(bobSpk.publicSpki), spkSpki: bobSpk.publicSpki };
const payload = { type: 'text', text: 'hello' };
const T = 1710504000000;

function bobKeys(extra: Partial<DecryptKeys> = {}): DecryptKeys {
  return { selfAid: 'bob.aid.com', selfDeviceId: 'dev-b1', ik: bob, spk: bobSpk, senderIkSpki: alice.publicSpki, ...extra };
}

function withB64(env: Envelope, field: 'ciphertext' | 'tag' | 'nonce', flip: number): Envelope {
  const b = fromBase64(env[field]);
  b[flip]! ^= 0x80;
  return { ...env, [field]: toBase64(b) };
}

describe('P2P round trips', () => {
  it('1DH: one aid_master row, reference field layout', async () => {
    const env = await encryptP2P(sender, [bob1DH], payload, { messageId: 'm-1', timestamp: T });
    expect(Object.keys(env).slice(0, 7)).toEqual(['type', 'version', 'suite', 'msg_type', 't_send', 't_supplement', 't_server']);
    expect(env).toMatchObject({ type: 'e2ee.p2p_encrypted', version: 'v2', t_send: T, t_supplement: null, payload_type: 'text' });
    expect(env.aad).toEqual({
      from: 'alice.aid.com', from_device: 'dev-a1', to: 'bob.aid.com', message_id: 'm-1', timestamp: T,
      suite: 'P256_HKDF_SHA256_AES_256_GCM', wrap_protocol: '1DH',
    });
    expect(env.sender_cert_fingerprint).toBe('sha256:6bf6b248a19e5777');
    const eph = fromBase64(env.sender_session_pk);
    expect(eph.length).toBe(91);
    expect(eph.subarray(0, 26)).toEqual(P256_SPKI_PREFIX);
    expect(fromBase64(env.sender_signature).length).toBe(64);
    expect(env.recipients).toHaveLength(1);
    const [row] = env.recipients;
    expect(row!.slice(0, 6)).toEqual(['bob.aid.com', 'dev-b1', 'peer', 'aid_master', fp(bob.publicSpki), '']);
    expect(fromBase64(row![7]).length).toBe(48);
    const out = await decryptEnvelope(env, bobKeys({ spk: undefined }));
    expect(out.payload).toEqual(payload);
    expect(out.payloadType).toBe('text');
    expect(out.protectedHeaders).toEqual({ payload_type: 'text', sdk_lang: 'typescript', sdk_version: '0.1.0' });
  });

  it('payload and AAD with multi-byte UTF-8 (sizes differ from the UTF-16 lengths) round-trip and sign what was sealed', async () => {
    const text = { type: 'text', text: 'é日😀'.repeat(300) };
    const env = await encryptP2P({ ...sender, deviceId: 'dév-ä1' }, [bob1DH], text, { messageId: 'm-ünï', timestamp: T });
    expect(fromBase64(env.ciphertext).length).toBe(canonicalJson(text).length);
    const out = await decryptEnvelope(env, bobKeys({ spk: undefined }));
    expect(out.payload).toEqual(text);
    expect(out.aad.from_device).toBe('dév-ä1');
    await expectE2eeError(decryptEnvelope({ ...env, aad: { ...env.aad, message_id: 'm-unï' } }, bobKeys({ spk: undefined })), 'sender_signature');
  });

  it('3DH: the row names the SPK, and a lookup by spk_id supplies it', async () => {
    const env = await encryptP2P(sender, [bob3DH], payload);
    expect(env.aad.wrap_protocol).toBe('3DH');
    expect(env.recipients[0]!.slice(3, 6)).toEqual(['peer_device_prekey', fp(bob.publicSpki), spkIdOf(bobSpk.publicSpki)]);
    const asked: string[] = [];
    const out = await decryptEnvelope(env, bobKeys({ spk: (id) => (asked.push(id), bobSpk) }));
    expect(out.payload).toEqual(payload);
    expect(asked).toEqual([spkIdOf(bobSpk.publicSpki)]);
  });

  it('an SPK without spk_id gives a 1DH aid_master row', async () => {
    const env = await encryptP2P(sender, [{ ...bob3DH, spkId: '' }], payload);
    expect(env.recipients[0]!.slice(3, 6)).toEqual(['aid_master', fp(bob.publicSpki), '']);
    expect(env.aad.wrap_protocol).toBe('1DH');
  });

  it('per-AID: one row with device_id "" that every device of the AID opens, even with an SPK offered', async () => {
    const env = await encryptP2P(sender, [{ ...bob3DH, deviceId: '' }], payload);
    expect(env.recipients[0]!.slice(0, 6)).toEqual(['bob.aid.com', '', 'peer', 'aid_master', fp(bob.publicSpki), '']);
    for (const device of ['dev-b1', 'dev-b9']) {
      expect((await decryptEnvelope(env, bobKeys({ selfDeviceId: device }))).payload).toEqual(payload);
    }
  });

  it('multi-device with self_sync and audit: sorted rows, mixed protocols, every recipient decrypts', async () => {
    const targets: Target[] = [
      bob3DH,
      { ...bob1DH, deviceId: 'dev-b0' },
      { aid: 'alice.aid.com', deviceId: 'dev-a2', role: 'self_sync', ikSpki: alice.publicSpki },
      { aid: 'audit.reg.pub', deviceId: '', role: 'audit', ikSpki: audit.publicSpki },
    ];
    const env = await encryptP2P(sender, targets, payload);
    expect(env.aad.to).toBe('bob.aid.com');
    expect(env.aad.wrap_protocol).toBe('1DH+3DH');
    expect(env.recipients.map((r) => `${r[0]}/${r[1]}/${r[2]}`)).toEqual([
      'alice.aid.com/dev-a2/self_sync', 'audit.reg.pub//audit', 'bob.aid.com/dev-b0/peer', 'bob.aid.com/dev-b1/peer',
    ]);
    const self = { selfAid: 'alice.aid.com', selfDeviceId: 'dev-a2', ik: alice, senderIkSpki: alice.publicSpki };
    const auditor = { selfAid: 'audit.reg.pub', selfDeviceId: 'any', ik: audit, senderIkSpki: alice.publicSpki };
    for (const keys of [bobKeys(), bobKeys({ selfDeviceId: 'dev-b0' }), self, auditor]) {
      expect((await decryptEnvelope(env, keys)).payload).toEqual(payload);
    }
  });

  it('works with WebCrypto-only keys (no scalar anywhere: random-k signature, native ECDH)', async () => {
    const ik = await importPrivateKey(ALICE_PRIV, { keepScalar: false });
    expect(ik.scalar).toBeUndefined();
    const env = await encryptP2P({ ...sender, ik }, [bob3DH], payload);
    const bobOnlyHandles = await importPrivateKey(new Uint8Array(bob.scalar!), { keepScalar: false });
    const spkOnlyHandles = await importPrivateKey(new Uint8Array(bobSpk.scalar!), { keepScalar: false });
    const out = await decryptEnvelope(env, bobKeys({ ik: bobOnlyHandles, spk: spkOnlyHandles }));
    expect(out.payload).toEqual(payload);
  });

  describe('independent WebCrypto calls overlap', () => {
    afterEach(() => vi.restoreAllMocks());

    /** Holds every call of `method` until `release()`, and counts the calls of `counted` made meanwhile. */
    function hold(method: 'generateKey' | 'verify', counted: 'deriveBits' | 'decrypt') {
      const subtle = crypto.subtle as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
      const held = subtle[method]!.bind(crypto.subtle);
      const count = subtle[counted]!.bind(crypto.subtle);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const state = { released: false, before: 0, release: () => ((state.released = true), release()) };
      vi.spyOn(crypto.subtle, method).mockImplementation((async (...a: unknown[]) => (await gate, held(...a))) as never);
      vi.spyOn(crypto.subtle, counted).mockImplementation(((...a: unknown[]) => (state.released || state.before++, count(...a))) as never);
      return state;
    }

    it('encrypt: the static DH2 of each 3DH row runs while the ephemeral key is generated', async () => {
      const ik = await importPrivateKey(ALICE_PRIV, { keepScalar: false });
      const held = hold('generateKey', 'deriveBits');
      // A second device with a prekey of its own (carol's key stands in for it): two DH2s.
      const b2: Target = { ...bob3DH, deviceId: 'dev-b2', spkId: spkIdOf(carol.publicSpki), spkSpki: carol.publicSpki };
      const env = encryptP2P({ ...sender, ik }, [bob3DH, b2], payload);
      await new Promise((r) => setTimeout(r, 50));
      expect(held.before).toBe(2);
      held.release();
      expect((await decryptEnvelope(await env, bobKeys())).payload).toEqual(payload);
    });

    it('decrypt: unwrap and body decrypt run while the signature is verified, their results used after it', async () => {
      const env = await encryptP2P(sender, [bob3DH], payload);
      const keys = bobKeys({
        ik: await importPrivateKey(new Uint8Array(bob.scalar!), { keepScalar: false }),
        spk: await importPrivateKey(new Uint8Array(bobSpk.scalar!), { keepScalar: false }),
      });
      const held = hold('verify', 'decrypt');
      const out = decryptEnvelope(env, keys);
      await new Promise((r) => setTimeout(r, 50));
      expect(held.before).toBe(2);
      held.release();
      expect((await out).payload).toEqual(payload);
    });
  });

  it('a message id of its own is m- and a version 4 UUID\'s 32 hex digits, different each time', async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, async () => (await encryptP2P(sender, [bob1DH], payload)).aad.message_id as string));
    for (const id of ids) expect(id).toMatch(/^m-[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('messages of every size, sealed and opened at once and in turn, share buffers without seeing each other\'s bytes', async () => {
    const texts = [0, 1, 300, 2000, 40, 5000, 70000, 3].map((n, i) => ({ type: 'text', text: String.fromCharCode(97 + i).repeat(n) + (i % 2 ? 'é' : '') }));
    for (let round = 0; round < 2; round++) {
      const envs = await Promise.all(texts.map((t) => encryptP2P(sender, [bob1DH], t)));
      // Each message's random bytes (drawn into its buffer) are its own.
      expect(new Set(envs.flatMap((e) => [e.nonce, e.recipients[0]![6]])).size).toBe(2 * envs.length);
      // A failing decrypt in the middle keeps its buffer; the others are unaffected.
      const bad = { ...envs[2]!, tag: toBase64(new Uint8Array(16)) };
      const outs = await Promise.allSettled([...envs, bad].map((e) => decryptEnvelope(e, bobKeys({ spk: undefined }))));
      expect(outs.slice(0, texts.length).map((o) => (o.status === 'fulfilled' ? o.value.payload : o.reason))).toEqual(texts);
      expect(outs[texts.length]!.status).toBe('rejected');
      for (const [i, t] of texts.entries()) expect((await decryptEnvelope(envs[i]!, bobKeys({ spk: undefined }))).payload).toEqual(t);
    }
  });

  it('authenticates context and normalised headers', async () => {
    const env = await encryptP2P(sender, [bob1DH], payload, {
      protectedHeaders: { ' Device_ID ': 'x', flag: true, n: 1.0, none: null, obj: { b: 2, a: 1 }, sdk_lang: 'spoofed' },
      context: { thread: 't-1', depth: 2 },
    });
    const out = await decryptEnvelope(env, bobKeys());
    expect(out.protectedHeaders).toEqual({
      device_id: 'x', flag: 'true', n: '1', none: '', obj: '{"a":1,"b":2}', payload_type: 'text', sdk_lang: 'typescript', sdk_version: '0.1.0',
    });
    expect(out.context).toEqual({ thread: 't-1', depth: 2 });
  });
});

describe('group round trip', () => {
  it('group envelope: 9-key AAD, default state commitment, normalised group id', async () => {
    const members: Target[] = [
      { ...bob3DH, role: 'member', keySource: 'group_device_prekey' },
      { aid: 'carol.aid.com', deviceId: 'dev-c1', role: 'member', ikSpki: carol.publicSpki },
    ];
    const env = await encryptGroup(sender, members, payload, { groupId: ' G-Test@AID.com ', epoch: 5 }, { messageId: 'gm-1', timestamp: T });
    expect(env).toMatchObject({ type: 'e2ee.group_encrypted', group_id: 'g-test.aid.com', epoch: 5 });
    expect('t_supplement' in env).toBe(false);
    expect(Object.keys(env).slice(0, 8)).toEqual(['type', 'version', 'suite', 'msg_type', 'group_id', 'epoch', 't_send', 't_server']);
    expect(canonicalJsonText(env.aad)).toBe(
      '{"epoch":5,"from":"alice.aid.com","from_device":"dev-a1","group_id":"g-test.aid.com","message_id":"gm-1",' +
        '"state_commitment":{"state_chain":"","state_hash":"","state_version":0},"suite":"P256_HKDF_SHA256_AES_256_GCM",' +
        '"timestamp":1710504000000,"wrap_protocol":"1DH+3DH"}',
    );
    expect(env.recipients[0]![3]).toBe('group_device_prekey');
    expect((await decryptEnvelope(env, bobKeys(), { expectedGroupId: 'g-test@aid.com' })).payload).toEqual(payload);
    const carolKeys = { selfAid: 'carol.aid.com', selfDeviceId: 'dev-c1', ik: carol, senderIkSpki: alice.publicSpki };
    expect((await decryptEnvelope(env, carolKeys)).payload).toEqual(payload);
  });

  it('takes the AAD state commitment from bootstrap fields; an empty state_hash_signed is kept', () => {
    expect(stateCommitmentFromBootstrap({ state_version: 2, state_hash: 'h', state_hash_signed: 's', state_chain: 'c' })).toEqual({
      state_version: 2, state_hash: 's', state_chain: 'c',
    });
    expect(stateCommitmentFromBootstrap({ state_version: 2, state_hash: 'h', state_hash_signed: '' }).state_hash).toBe('');
    expect(stateCommitmentFromBootstrap({ state_hash: 'h' })).toEqual({ state_version: 0, state_hash: 'h', state_chain: '' });
  });

  it('copies the given state commitment, truncating the version', async () => {
    const env = await encryptGroup(sender, [bob1DH], payload, {
      groupId: 'g.aid.com',
      stateCommitment: { state_version: 3.9, state_hash: 'abc123', state_chain: 'chain-link-1' },
    });
    expect(env.aad.state_commitment).toEqual({ state_version: 3, state_hash: 'abc123', state_chain: 'chain-link-1' });
    expect(env.epoch).toBe(0);
  });
});

describe('per-device form (recipient + merkle_proof)', () => {
  async function perDevice(): Promise<{ env: Record<string, unknown>; full: Envelope }> {
    const full = await encryptP2P(sender, [bob3DH, { ...bob1DH, deviceId: 'dev-b2' }, { ...bob1DH, aid: 'zed.aid.com' }], payload);
    const { recipients, ...rest } = full;
    const i = recipients.findIndex((r) => r[1] === 'dev-b1');
    const r = recipients[i]!;
    const recipient = { aid: r[0], device_id: r[1], role: r[2], key_source: r[3], fp: r[4], spk_id: r[5], wrap_nonce: r[6], wrapped_key: r[7] };
    return { env: { ...rest, recipient, merkle_proof: merkleProof(recipients, i) }, full };
  }

  it('decrypts with a valid proof and without one', async () => {
    const { env } = await perDevice();
    expect((await decryptEnvelope(env, bobKeys())).payload).toEqual(payload);
    const { merkle_proof: _proof, ...noProof } = env;
    expect((await decryptEnvelope(noProof, bobKeys())).payload).toEqual(payload);
  });

  it('rejects a proof that does not reach the signed root', async () => {
    const { env } = await perDevice();
    const proof = (env.merkle_proof as { sibling: string; position: string }[]).map((s) => ({ ...s }));
    proof[0]!.position = proof[0]!.position === 'L' ? 'R' : 'L';
    await expectE2eeError(decryptEnvelope({ ...env, merkle_proof: proof }, bobKeys()), 'recipients_digest', 'recipients_digest mismatch');
  });

  it('rejects a recipient object that is not ours', async () => {
    const { env } = await perDevice();
    await expectE2eeError(decryptEnvelope(env, bobKeys({ selfDeviceId: 'dev-b2' })), 'recipient_missing');
  });
});

describe('typed rejections, in the §6.1 order', () => {
  const envP = encryptP2P(sender, [bob3DH], payload, { messageId: 'm-rej', timestamp: T, context: { k: 'v' } });

  it('is an AunError carrying the reason in data', async () => {
    const err = await expectE2eeError(decryptEnvelope(withB64(await envP, 'ciphertext', 0), bobKeys()), 'sender_signature');
    expect(err).toBeInstanceOf(AunError);
    expect(err.data).toEqual({ reason: 'sender_signature' });
  });

  it.each(['ciphertext', 'tag'] as const)('a flipped %s byte fails at the sender signature', async (field) => {
    await expectE2eeError(decryptEnvelope(withB64(await envP, field, 0), bobKeys()), 'sender_signature', 'sender_signature verification failed');
  });

  it('a modified AAD or digest fails at the sender signature', async () => {
    const env = await envP;
    await expectE2eeError(decryptEnvelope({ ...env, aad: { ...env.aad, to: 'carol.aid.com' } }, bobKeys()), 'sender_signature');
    await expectE2eeError(decryptEnvelope({ ...env, recipients_digest: '00'.repeat(32) }, bobKeys()), 'sender_signature');
  });

  it('the wrong sender key fails at the sender signature, before anything else', async () => {
    await expectE2eeError(decryptEnvelope(await envP, bobKeys({ senderIkSpki: carol.publicSpki, spk: undefined })), 'sender_signature');
  });

  it('a changed row fails the digest', async () => {
    const env = await envP;
    const rows = [[...env.recipients[0]!.slice(0, 7), toBase64(new Uint8Array(48))]];
    await expectE2eeError(decryptEnvelope({ ...env, recipients: rows }, bobKeys()), 'recipients_digest', 'recipients_digest mismatch');
  });

  it('a digest in uppercase hex is signed (the same bytes) but is not the lowercase root: it fails the digest', async () => {
    const env = await envP;
    expect(env.recipients_digest).toMatch(/[a-f]/);
    await expectE2eeError(decryptEnvelope({ ...env, recipients_digest: env.recipients_digest.toUpperCase() }, bobKeys()), 'recipients_digest', 'recipients_digest mismatch');
  });

  it('no row for us', async () => {
    await expectE2eeError(decryptEnvelope(await envP, bobKeys({ selfAid: 'carol.aid.com' })), 'recipient_missing');
  });

  it('a 3DH row without the SPK never falls back to 1DH', async () => {
    const id = spkIdOf(bobSpk.publicSpki);
    await expectE2eeError(decryptEnvelope(await envP, bobKeys({ spk: undefined })), 'spk_missing', `spk_missing: spk_id=${id}`);
    await expectE2eeError(decryptEnvelope(await envP, bobKeys({ spk: () => undefined })), 'spk_missing');
  });

  it('the wrong SPK, or a different top-level suite (it feeds the salt), fails the unwrap', async () => {
    const err = await expectE2eeError(decryptEnvelope(await envP, bobKeys({ spk: carol })), 'wrap_key_decrypt_failed', 'wrap_key_decrypt_failed: recipient=bob.aid.com/dev-b1; role=peer; key_source=peer_device_prekey');
    expect(err.message).toContain('cause=');
    await expectE2eeError(decryptEnvelope({ ...(await envP), suite: 'X' }, bobKeys()), 'wrap_key_decrypt_failed');
  });

  it('a header or context changed after signing fails its HMAC, before the body', async () => {
    const env = await envP;
    const headers = { ...env.protected_headers, sdk_lang: 'python' };
    await expectE2eeError(decryptEnvelope({ ...env, protected_headers: headers }, bobKeys()), 'header_auth_failed', 'protected_headers _auth verification failed');
    const { _auth, ...stripped } = env.protected_headers!;
    expect(_auth).toBeDefined();
    await expectE2eeError(decryptEnvelope({ ...env, protected_headers: stripped }, bobKeys()), 'header_auth_failed', 'protected_headers missing _auth');
    const context = { ...env.context, k: 'w' };
    await expectE2eeError(decryptEnvelope({ ...withB64(env, 'nonce', 0), context }, bobKeys()), 'context_auth_failed', 'context _auth verification failed');
  });

  it('a changed nonce (not signed) fails the body', async () => {
    await expectE2eeError(decryptEnvelope(withB64(await envP, 'nonce', 3), bobKeys()), 'body_decrypt_failed', 'body_decrypt_failed: message_id=m-rej; group_id=<p2p>; from=alice.aid.com');
  });

  it('malformed input is typed too', async () => {
    const env = await envP;
    await expectE2eeError(decryptEnvelope('nope', bobKeys()), 'malformed');
    await expectE2eeError(decryptEnvelope({ ...env, ciphertext: 'not base64!' }, bobKeys()), 'malformed');
    await expectE2eeError(decryptEnvelope({ ...env, recipients_digest: 'abc' }, bobKeys()), 'malformed', 'hex length must be even');
    await expectE2eeError(decryptEnvelope({ ...env, recipients: [['a']] }, bobKeys()), 'malformed');
    await expectE2eeError(decryptEnvelope({ ...env, sender_session_pk: toBase64(bob.publicSpki.slice(1)) }, bobKeys()), 'malformed');
  });
});

describe('optional [GAP] checks', () => {
  const envP = encryptP2P(sender, [bob1DH], payload, { messageId: 'm-gap', timestamp: T });

  it('binds aad.to / aad.from / aad.group_id', async () => {
    const env = await envP;
    expect((await decryptEnvelope(env, bobKeys(), { expectedTo: 'bob.aid.com', expectedFrom: 'alice.aid.com' })).payload).toEqual(payload);
    await expectE2eeError(decryptEnvelope(env, bobKeys(), { expectedTo: 'carol.aid.com' }), 'aad_binding', 'aad.to mismatch');
    await expectE2eeError(decryptEnvelope(env, bobKeys(), { expectedFrom: 'mallory.aid.com' }), 'aad_binding', 'aad.from mismatch');
    await expectE2eeError(decryptEnvelope(env, bobKeys(), { expectedGroupId: 'g.aid.com' }), 'aad_binding', 'aad.group_id mismatch');
    const group = await encryptGroup(sender, [bob1DH], payload, { groupId: 'g.aid.com' });
    await expectE2eeError(decryptEnvelope(group, bobKeys(), { expectedTo: 'bob.aid.com' }), 'aad_binding');
    await expectE2eeError(decryptEnvelope(group, bobKeys(), { expectedGroupId: 'other.aid.com' }), 'aad_binding');
  });

  it('rejects a timestamp outside the replay window, both ways', async () => {
    const env = await envP;
    expect((await decryptEnvelope(env, bobKeys(), { replayWindowMs: 300_000, now: T + 299_000 })).payload).toEqual(payload);
    await expectE2eeError(decryptEnvelope(env, bobKeys(), { replayWindowMs: 300_000, now: T + 301_000 }), 'replay');
    await expectE2eeError(decryptEnvelope(env, bobKeys(), { replayWindowMs: 300_000, now: T - 301_000 }), 'replay');
  });

  it('asks the seen-id callback with the documented dedupe keys', async () => {
    const keys: string[] = [];
    await decryptEnvelope(await envP, bobKeys(), { isSeen: (k) => (keys.push(k), false) });
    await expectE2eeError(decryptEnvelope(await envP, bobKeys(), { isSeen: async () => true }), 'duplicate', 'alice.aid.com:m-gap');
    const group = await encryptGroup(sender, [bob1DH], payload, { groupId: 'g.aid.com' }, { messageId: 'gm-9' });
    await decryptEnvelope(group, bobKeys(), { isSeen: (k) => (keys.push(k), false) });
    expect(keys).toEqual(['alice.aid.com:m-gap', 'g.aid.com:alice.aid.com:gm-9']);
  });

  it('runs after the signature: a forged envelope is a signature failure, not a replay', async () => {
    const forged = withB64(await envP, 'ciphertext', 0);
    await expectE2eeError(decryptEnvelope(forged, bobKeys(), { replayWindowMs: 1, now: 0 }), 'sender_signature');
  });
});

describe("3DH's static-static DH2 is computed once per pair of keys", () => {
  afterEach(() => vi.restoreAllMocks());

  /** Counts crypto.subtle.deriveBits calls (each ECDH with a WebCrypto handle). */
  function countDerive(): { n: number } {
    const c = { n: 0 };
    const original = crypto.subtle.deriveBits.bind(crypto.subtle);
    vi.spyOn(crypto.subtle, 'deriveBits').mockImplementation(((...a: Parameters<SubtleCrypto['deriveBits']>) => (c.n++, original(...a))) as never);
    return c;
  }

  it('a sender makes 3 ECDHs for its first 3DH message to a prekey, then 2 (DH1, DH3); a new prekey costs 3 again', async () => {
    const ik = await importPrivateKey(ALICE_PRIV, { keepScalar: false });
    const from = { ...sender, ik };
    const calls = countDerive();
    const first = await encryptP2P(from, [bob3DH], payload);
    expect(calls.n).toBe(3);
    const second = await encryptP2P(from, [bob3DH], { ...payload, text: 'again' });
    expect(calls.n).toBe(5);
    // Both open with keys that compute every DH afresh: the kept DH2 is the right one.
    expect((await decryptEnvelope(first, bobKeys())).payload).toEqual(payload);
    expect((await decryptEnvelope(second, bobKeys())).payload).toEqual({ ...payload, text: 'again' });
    // Another prekey (bob rotated it; carol's key stands in): its DH2 is computed, not reused.
    calls.n = 0;
    const rotated: Target = { ...bob3DH, spkId: spkIdOf(carol.publicSpki), spkSpki: carol.publicSpki };
    const third = await encryptP2P(from, [rotated], payload);
    expect(calls.n).toBe(3);
    expect((await decryptEnvelope(third, bobKeys({ spk: carol }))).payload).toEqual(payload);
  });

  it('a receiver makes 3 ECDHs for a sender\'s first 3DH message, then 2; another sender costs 3 again', async () => {
    const keys = bobKeys({
      ik: await importPrivateKey(new Uint8Array(bob.scalar!), { keepScalar: false }),
      spk: await importPrivateKey(new Uint8Array(bobSpk.scalar!), { keepScalar: false }),
    });
    const fromAlice = [await encryptP2P(sender, [bob3DH], payload), await encryptP2P(sender, [bob3DH], { ...payload, text: 'two' })];
    const fromCarol = await encryptP2P({ aid: 'carol.aid.com', deviceId: 'dev-c1', ik: carol }, [bob3DH], payload);
    const calls = countDerive();
    expect((await decryptEnvelope(fromAlice[0]!, keys)).payload).toEqual(payload);
    expect(calls.n).toBe(3);
    expect((await decryptEnvelope(fromAlice[1]!, keys)).payload).toEqual({ ...payload, text: 'two' });
    expect(calls.n).toBe(5);
    // Carol's identity key gives another DH2; a kept one of Alice's would not open her message.
    calls.n = 0;
    expect((await decryptEnvelope(fromCarol, { ...keys, senderIkSpki: carol.publicSpki })).payload).toEqual(payload);
    expect(calls.n).toBe(3);
  });

  it('an SPKI array changed in place is not answered from the old bytes\' entry', async () => {
    const ik = await importPrivateKey(ALICE_PRIV, { keepScalar: false });
    const spki = bobSpk.publicSpki.slice();
    const target: Target = { ...bob3DH, spkSpki: spki };
    await encryptP2P({ ...sender, ik }, [target], payload);
    spki.set(carol.publicSpki);
    const env = await encryptP2P({ ...sender, ik }, [{ ...target, spkId: spkIdOf(carol.publicSpki) }], payload);
    expect((await decryptEnvelope(env, bobKeys({ spk: carol }))).payload).toEqual(payload);
  });
});
