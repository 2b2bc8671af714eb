import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { fromBase64 } from '../../protocol/bytes.ts';
import { decryptEnvelope, encryptP2P } from '../../worker/e2ee/envelope.ts';
import { makeSpk, Session } from '../support/aun-client.ts';
import { p256, targetsFrom } from '../support/e2ee-peer.ts';
import { loggedIn, newAid, stats, testGateway } from '../support/gateway.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await testGateway();
});
afterAll(() => gw.close());

type Row = Record<string, unknown> & { seq: number };

/** Alice and Bob, each online on two devices. */
async function twoDevicesEach() {
  const alice = await loggedIn(gw, 'alice');
  const bob = await loggedIn(gw, 'bob');
  const [a1, a2, b1, b2] = await Promise.all([
    Session.open(gw.url, alice, { deviceId: 'a1' }),
    Session.open(gw.url, alice, { deviceId: 'a2' }),
    Session.open(gw.url, bob, { deviceId: 'b1' }),
    Session.open(gw.url, bob, { deviceId: 'b2' }),
  ]);
  return { alice, bob, a1, a2, b1, b2 };
}

async function pair() {
  const alice = await loggedIn(gw, 'alice');
  const bob = await loggedIn(gw, 'bob');
  const a = await Session.open(gw.url, alice, { deviceId: 'a1' });
  const b = await Session.open(gw.url, bob, { deviceId: 'b1' });
  return { alice, bob, a, b };
}

describe('plaintext message.send', () => {
  it('stores, pushes message.received, and serves pull and ack per device', async () => {
    const { bob, a, b } = await pair();
    const before = (await stats(gw)).messages_stored as number;
    const sent = await a.call('message.send', { to: bob.aid, payload: { type: 'text', text: 'hello' }, message_id: 'm-plain-1' }, { sign: true });
    expect(sent).toMatchObject({ message_id: 'm-plain-1', seq: 1, status: 'delivered', delivery_mode: 'fanout' });
    expect(typeof sent.timestamp).toBe('number');
    const push = await b.waitEvent('message.received');
    expect(push).toMatchObject({
      message_id: 'm-plain-1', from: a.identity.aid, to: bob.aid, seq: 1, payload: { type: 'text', text: 'hello' },
      delivery_mode: 'fanout', encrypted: false, device_id: 'b1',
    });
    expect((await stats(gw)).messages_stored).toBe(before + 1);
    const pulled = await b.call<{ messages: Row[]; has_more: boolean; server_ack_seq: number }>('message.v2.pull', { after_seq: 0, limit: 50 }, { sign: true });
    expect(pulled.has_more).toBe(false);
    expect(pulled.server_ack_seq).toBe(0);
    expect(pulled.messages).toEqual([expect.objectContaining({
      seq: 1, version: 'v1', message_id: 'm-plain-1', from_aid: a.identity.aid,
      legacy_v1: { to: bob.aid, payload: { type: 'text', text: 'hello' } },
    })]);
    expect(await b.call('message.v2.ack', { up_to_seq: 1 }, { sign: true })).toMatchObject({ success: true, ack_seq: 1 });
    const again = await b.call<{ messages: Row[]; server_ack_seq: number }>('message.v2.pull', { after_seq: 1 });
    expect(again).toMatchObject({ messages: [], server_ack_seq: 1 });
    for (const s of [a, b]) s.close();
  });

  it('dedups on message_id: the repeat answers "duplicate" and stores nothing', async () => {
    const { bob, a, b } = await pair();
    const first = await a.call('message.send', { to: bob.aid, payload: { type: 'text', text: 'once' }, message_id: 'dup-1' });
    const stored = (await stats(gw)).messages_stored;
    const second = await a.call('message.send', { to: bob.aid, payload: { type: 'text', text: 'once' }, message_id: 'dup-1' });
    expect(second).toMatchObject({ message_id: 'dup-1', seq: first.seq, status: 'duplicate' });
    expect((await stats(gw)).messages_stored).toBe(stored);
    await b.waitEvent('message.received');
    await new Promise((r) => setTimeout(r, 100));
    expect(b.eventsNamed('message.received')).toHaveLength(1);
    for (const s of [a, b]) s.close();
  });

  it('keeps mail for an identity that never connected and hands it to its first device', async () => {
    const alice = await loggedIn(gw, 'alice');
    const bob = await loggedIn(gw, 'bob');
    const a = await Session.open(gw.url, alice, { deviceId: 'a1' });
    const sent = await a.call('message.send', { to: bob.aid, payload: { type: 'text', text: 'while you were away' } });
    expect(sent.status).toBe('sent');
    const b = await Session.open(gw.url, bob, { deviceId: 'b-first' });
    const pulled = await b.call<{ messages: Row[] }>('message.v2.pull', { after_seq: 0 });
    expect(pulled.messages.map((m) => (m.legacy_v1 as { payload: { text: string } }).payload.text)).toEqual(['while you were away']);
    for (const s of [a, b]) s.close();
  });

  it('fans out to every device with its own seq and syncs the sender\'s other devices', async () => {
    const { alice, bob, a1, a2, b1, b2 } = await twoDevicesEach();
    await a1.call('message.send', { to: bob.aid, payload: { type: 'text', text: 'one' } });
    b2.close();
    await a1.call('message.send', { to: bob.aid, payload: { type: 'text', text: 'two' } });
    expect((await b1.waitEvent('message.received', (p) => p.seq === 2)).device_id).toBe('b1');
    const sync = await a2.waitEvent('message.received');
    expect(sync).toMatchObject({ from: alice.aid, to: bob.aid, direction: 'outbound_sync', device_id: 'a2' });
    expect(a1.eventsNamed('message.received')).toHaveLength(0);
    const b2again = await Session.open(gw.url, bob, { deviceId: 'b2' });
    const pulled = await b2again.call<{ messages: Row[] }>('message.v2.pull', { after_seq: 0 });
    expect(pulled.messages.map((m) => m.seq)).toEqual([1, 2]);
    for (const s of [a1, a2, b1, b2again]) s.close();
  });

  it('answers message.query_online', async () => {
    const { alice, bob, a, b } = await pair();
    const offline = newAid();
    expect(await a.call('message.query_online', { aids: [bob.aid, offline, alice.aid] })).toEqual({ online: { [bob.aid]: true, [offline]: false, [alice.aid]: true } });
    for (const s of [a, b]) s.close();
  });
});

describe('prekeys', () => {
  it('stores a signed SPK per device and serves it in message.v2.bootstrap', async () => {
    const { alice, bob, a, b } = await pair();
    const spk = makeSpk(bob);
    expect(await b.call('message.v2.put_peer_pk', { peer_aid: bob.aid, ...spk.fields }, { sign: true })).toEqual({ ok: true });
    const boot = await a.call<{ peer_devices: Record<string, unknown>[]; self_devices: unknown[]; certs: Record<string, { cert_pem: string; ca_chain: string[] }> }>(
      'message.v2.bootstrap', { peer_aid: bob.aid }, { sign: true });
    expect(boot.peer_devices).toEqual([expect.objectContaining({ device_id: 'b1', ik_pk: bob.spkiB64, ...spk.fields })]);
    expect(String(boot.peer_devices[0]!.ik_fp)).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(boot.self_devices).toEqual([]);
    expect(boot.certs[bob.aid]!.cert_pem).toBe(bob.cert);
    expect(boot.certs[bob.aid]!.ca_chain).toHaveLength(2);
    const self = await a.call<{ peer_devices: Record<string, unknown>[] }>('message.v2.bootstrap', { peer_aid: alice.aid });
    expect(self.peer_devices.map((d) => d.device_id)).toEqual(['a1']);
    for (const s of [a, b]) s.close();
  });

  it('rejects an SPK with a wrong id, a bad signature or a foreign signer', async () => {
    const { alice, bob, b, a } = await pair();
    const spk = makeSpk(bob);
    await expect(b.call('message.v2.put_peer_pk', { ...spk.fields, spk_id: 'sha256:0000000000000000' })).rejects.toMatchObject({ body: { code: -32602 } });
    const foreign = makeSpk(alice);
    await expect(b.call('message.v2.put_peer_pk', foreign.fields)).rejects.toHaveProperty('body.code');
    const garbled = { ...spk.fields, spk_signature: Buffer.alloc(64, 7).toString('base64') };
    await expect(b.call('message.v2.put_peer_pk', garbled)).rejects.toHaveProperty('body.code');
    await expect(a.call('message.v2.bootstrap', { peer_aid: newAid() })).rejects.toMatchObject({ body: { code: -32008 } });
    for (const s of [a, b]) s.close();
  });
});

describe('V2 envelope relay', () => {
  it('routes a 3DH envelope by its rows, never touching it, and the recipient decrypts it', async () => {
    const { alice, bob, a, b } = await pair();
    const spk = makeSpk(bob);
    await b.call('message.v2.put_peer_pk', spk.fields, { sign: true });
    const boot = await a.call<{ peer_devices: Record<string, unknown>[] }>('message.v2.bootstrap', { peer_aid: bob.aid });
    const envelope = await encryptP2P({ aid: alice.aid, deviceId: 'a1', ik: p256(alice.privateKey) }, targetsFrom(boot.peer_devices, bob.aid), { type: 'text', text: 'secret' });
    const sent = await a.call('message.send', { to: bob.aid, payload: envelope as never }, { sign: true });
    expect(sent).toMatchObject({ message_id: envelope.aad.message_id, status: 'delivered' });
    const push = await b.waitEvent('peer.v2.message_received');
    expect(push).toMatchObject({ seq: 1, message_id: envelope.aad.message_id, from_aid: alice.aid, device_id: 'b1' });
    expect(JSON.parse(String(push.envelope_json))).toEqual(envelope);
    const pulled = await b.call<{ messages: Row[] }>('message.v2.pull', { after_seq: 0 });
    expect(pulled.messages[0]).toMatchObject({ seq: 1, version: 'v2', from_aid: alice.aid });
    const opened = await decryptEnvelope(JSON.parse(String(pulled.messages[0]!.envelope_json)), {
      selfAid: bob.aid, selfDeviceId: 'b1', ik: p256(bob.privateKey), spk: p256(spk.privateKey), senderIkSpki: fromBase64(alice.spkiB64),
    });
    expect(opened.payload).toEqual({ type: 'text', text: 'secret' });
    for (const s of [a, b]) s.close();
  });

  it('delivers per-AID rows to every device and self_sync rows to the sender\'s other devices', async () => {
    const { alice, bob, a1, a2, b1, b2 } = await twoDevicesEach();
    const targets = [
      { aid: bob.aid, deviceId: '', ikSpki: fromBase64(bob.spkiB64) },
      { aid: alice.aid, deviceId: 'a2', role: 'self_sync' as const, ikSpki: fromBase64(alice.spkiB64) },
    ];
    const envelope = await encryptP2P({ aid: alice.aid, deviceId: 'a1', ik: p256(alice.privateKey) }, targets, { type: 'text', text: 'to all' });
    await a1.call('message.send', { to: bob.aid, payload: envelope as never });
    for (const s of [b1, b2, a2]) await s.waitEvent('peer.v2.message_received');
    const synced = await a2.call<{ messages: Row[] }>('message.v2.pull', { after_seq: 0 });
    expect(synced.messages[0]).toMatchObject({ direction: 'outbound_sync', from_aid: alice.aid });
    const opened = await decryptEnvelope(JSON.parse(String(synced.messages[0]!.envelope_json)), {
      selfAid: alice.aid, selfDeviceId: 'a2', ik: p256(alice.privateKey), senderIkSpki: fromBase64(alice.spkiB64),
    });
    expect(opened.payload).toEqual({ type: 'text', text: 'to all' });
    for (const s of [a1, a2, b1, b2]) s.close();
  });

  it('refuses envelopes that lie about sender, recipient, rows or devices', async () => {
    const { alice, bob, a, b } = await pair();
    const ik = p256(alice.privateKey);
    const bobTarget = [{ aid: bob.aid, deviceId: 'b1', ikSpki: fromBase64(bob.spkiB64) }];
    const good = await encryptP2P({ aid: alice.aid, deviceId: 'a1', ik }, bobTarget, { type: 'text', text: 'x' });
    const forgedFrom = await encryptP2P({ aid: bob.aid, deviceId: 'a1', ik }, bobTarget, { type: 'text', text: 'x' });
    await expect(a.call('message.send', { to: bob.aid, payload: forgedFrom as never })).rejects.toMatchObject({ body: { code: -33050 } });
    const wrongTo = newAid();
    await expect(a.call('message.send', { to: wrongTo, payload: good as never })).rejects.toHaveProperty('body.code');
    const badDigest = { ...good, recipients_digest: '0'.repeat(64) };
    await expect(a.call('message.send', { to: bob.aid, payload: badDigest as never })).rejects.toHaveProperty('body.code');
    const ghost = await encryptP2P({ aid: alice.aid, deviceId: 'a1', ik }, [{ aid: bob.aid, deviceId: 'no-such-device', ikSpki: fromBase64(bob.spkiB64) }], { type: 'text', text: 'x' });
    await expect(a.call('message.send', { to: bob.aid, payload: ghost as never })).rejects.toMatchObject({ body: { code: -33011 } });
    const stale = await encryptP2P({ aid: alice.aid, deviceId: 'a1', ik }, bobTarget, { type: 'text', text: 'x' }, { timestamp: Date.now() - 3 * 86_400_000 });
    await expect(a.call('message.send', { to: bob.aid, payload: stale as never })).rejects.toHaveProperty('body.code');
    expect(b.eventsNamed('peer.v2.message_received')).toHaveLength(0);
    expect(await a.call('message.send', { to: bob.aid, payload: good as never })).toMatchObject({ status: 'delivered' });
    for (const s of [a, b]) s.close();
  });
});

describe('identity checks on service calls', () => {
  it('an unknown target AID is refused', async () => {
    const a = await Session.open(gw.url, await loggedIn(gw));
    await expect(a.call('message.send', { to: newAid(), payload: { type: 'text', text: 'x' } })).rejects.toHaveProperty('body.code');
    a.close();
  });

  it('bad params get -32602 with the field named', async () => {
    const a = await Session.open(gw.url, await loggedIn(gw));
    const err = await a.call('message.send', { to: 5, payload: 'x' }).catch((e: { body: { code: number; message: string } }) => e.body);
    expect(err).toMatchObject({ code: -32602 });
    await expect(a.call('message.v2.ack', { up_to_seq: -1 })).rejects.toMatchObject({ body: { code: -32602 } });
    a.close();
  });
});
