import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { getJson, notify, opaqueEnvelope, Session } from '../support/aun-client.ts';
import { adminPost, loggedIn, testGateway } from '../support/gateway.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await testGateway();
});
afterAll(() => gw.close());

type Obj = Record<string, unknown>;

const route = (aid: string, extra: Obj = {}, params: Obj = { thread_id: 't-1' }) => ({ target: { type: 'aid', aid, ...extra }, deliver: { method: 'event/app.typing', params }, ttl_ms: 5000 });

describe('notify (§4)', () => {
  it('routes event/app.* to the online long connections of the target, stamped with _notify; nothing is answered or stored', async () => {
    const alice = await Session.open(gw.url, await loggedIn(gw, 'alice'), { deviceId: 'a1' });
    const bobId = await loggedIn(gw, 'bob');
    const bob1 = await Session.open(gw.url, bobId, { deviceId: 'b1' });
    const bob2 = await Session.open(gw.url, bobId, { deviceId: 'b2' });
    notify(alice, 'notification/route', { ...route(bobId.aid), _notify: { from_aid: 'forged.aun.local' } });
    for (const s of [bob1, bob2]) {
      const ev = await s.waitEvent('app.typing');
      expect(ev).toMatchObject({ thread_id: 't-1', _notify: { from_aid: alice.identity.aid, device_id: 'a1', slot_id: 'default', ttl_ms: 5000, sent_at: expect.any(Number) } });
    }
    // Device targeting, then the frames a sender may not send.
    notify(alice, 'notification/route', route(bobId.aid, { device_id: 'b2' }, { n: 2 }));
    await bob2.waitEvent('app.typing', (e) => e.n === 2);
    notify(alice, 'notification/route', { ...route(bobId.aid), deliver: { method: 'event/message.received', params: {} } });
    notify(alice, 'notification/route', { ...route(bobId.aid), ttl_ms: 60_001 });
    notify(alice, 'notification/route', route(bobId.aid, {}, { big: 'x'.repeat(70_000) }));
    notify(alice, 'notification/route', route(bobId.aid, {}, { n: 3 }));
    await bob1.waitEvent('app.typing', (e) => e.n === 3);
    expect(bob1.eventsNamed('app.typing').map((e) => e.n)).toEqual([undefined, 3]);
    expect(bob1.events.some((e) => e.method === 'event/message.received')).toBe(false);
    expect(alice.events.filter((e) => 'id' in e)).toEqual([]);
    // Offline targets get nothing later.
    bob1.close();
    bob2.close();
    notify(alice, 'notification/route', route(bobId.aid, {}, { n: 4 }));
    await new Promise((r) => setTimeout(r, 200));
    const later = await Session.open(gw.url, bobId, { deviceId: 'b1' });
    await later.call('meta.ping');
    expect(later.eventsNamed('app.typing')).toEqual([]);
    later.close();
    alice.close();
  });

  it('is rate-limited per connection', async () => {
    const alice = await Session.open(gw.url, await loggedIn(gw, 'alice'), { deviceId: 'a1' });
    const bob = await Session.open(gw.url, await loggedIn(gw, 'bob'), { deviceId: 'b1' });
    for (let n = 0; n < 200; n++) notify(alice, 'notification/route', route(bob.identity.aid, {}, { n }));
    notify(alice, 'notification/route', route(bob.identity.aid, {}, { n: 'last' }));
    await alice.call('meta.ping');
    await bob.call('meta.ping');
    await new Promise((r) => setTimeout(r, 300));
    const got = bob.eventsNamed('app.typing').length;
    expect(got).toBeGreaterThanOrEqual(20);
    expect(got).toBeLessThan(200);
    alice.close();
    bob.close();
  });

  it('group.route reaches the other members only when the sender is a member', async () => {
    const alice = await Session.open(gw.url, await loggedIn(gw, 'alice'), { deviceId: 'a1' });
    const bob = await Session.open(gw.url, await loggedIn(gw, 'bob'), { deviceId: 'b1' });
    const carol = await Session.open(gw.url, await loggedIn(gw, 'carol'), { deviceId: 'c1' });
    const { group } = await alice.call<{ group: { group_id: string } }>('group.create', { name: 'typing' });
    await alice.call('group.add_member', { group_id: group.group_id, aid: bob.identity.aid });
    const deliver = (n: number) => ({ group_id: group.group_id, group_aid: group.group_id, deliver: { method: 'event/app.presence', params: { state: 'active', n } } });
    notify(carol, 'notification/group.route', deliver(1));
    notify(alice, 'notification/group.route', deliver(2));
    expect(await bob.waitEvent('app.presence')).toMatchObject({ n: 2, _notify: { from_aid: alice.identity.aid } });
    await carol.call('meta.ping');
    expect(bob.eventsNamed('app.presence')).toHaveLength(1);
    expect(carol.eventsNamed('app.presence')).toHaveLength(0);
    expect(alice.eventsNamed('app.presence')).toHaveLength(0);
    for (const s of [alice, bob, carol]) s.close();
  });
});

describe('thoughts (§5)', () => {
  it('thoughts of all owners share one memory budget: past it, the heads written least recently go', async () => {
    const small = await testGateway({ maxThoughtBytes: 40_000 });
    try {
      const bob = await Session.open(small.url, await loggedIn(small, 'bob'), { deviceId: 'b1' });
      // Many owners, one head each: the per-owner limits alone never bound them.
      const owners = await Promise.all(Array.from({ length: 6 }, async (_, i) => Session.open(small.url, await loggedIn(small, `own${i}`), { deviceId: 'd1' })));
      const context = { type: 'run', id: 'r' };
      for (const [i, o] of owners.entries()) {
        const payload = { ...opaqueEnvelope('e2ee.p2p_encrypted', { from: o.identity.aid, from_device: 'd1', to: bob.identity.aid, message_id: `t-${i}` }), ciphertext: 'A'.repeat(10_000) };
        await o.call('message.thought.put', { to: bob.identity.aid, payload, encrypted: true, thought_id: `t-${i}`, context }, { sign: true });
      }
      const found = await Promise.all(owners.map(async (o) => (await bob.call<{ found: boolean }>('message.thought.get', { sender_aid: o.identity.aid, context })).found));
      // About 10 KB each under a 40 KB budget: the first ones written went, the last are kept.
      expect(found.slice(-3)).toEqual([true, true, true]);
      expect(found.slice(0, 2)).toEqual([false, false]);
      for (const o of [bob, ...owners]) o.close();
    } finally {
      await small.close();
    }
  });

  it('message.thought.put appends encrypted items per (sender, peer, context); sender and peer read them in order', async () => {
    const alice = await Session.open(gw.url, await loggedIn(gw, 'alice'), { deviceId: 'a1' });
    const bob = await Session.open(gw.url, await loggedIn(gw, 'bob'), { deviceId: 'b1' });
    const carol = await Session.open(gw.url, await loggedIn(gw, 'carol'), { deviceId: 'c1' });
    const context = { type: 'run', id: 'run-1' };
    for (let i = 0; i < 3; i++) {
      const id = `mt-${i}`;
      const payload = opaqueEnvelope('e2ee.p2p_encrypted', { from: alice.identity.aid, from_device: 'a1', to: bob.identity.aid, message_id: id });
      const r = await alice.call<Obj>('message.thought.put', { to: bob.identity.aid, payload, encrypted: true, thought_id: id, timestamp: Date.now(), context }, { sign: true });
      expect(r).toMatchObject({ sender_aid: alice.identity.aid, peer_aid: bob.identity.aid, to: bob.identity.aid, context, thought_id: id, stored_count: i + 1 });
    }
    const asPeer = await bob.call<{ found: boolean; thoughts: Obj[] }>('message.thought.get', { sender_aid: alice.identity.aid, context });
    expect(asPeer.found).toBe(true);
    expect(asPeer.thoughts.map((t) => t.thought_id)).toEqual(['mt-0', 'mt-1', 'mt-2']);
    expect(asPeer.thoughts[0]).toMatchObject({ message_id: 'mt-0', from: alice.identity.aid, to: bob.identity.aid, context, payload: { type: 'e2ee.p2p_encrypted' } });
    const own = await alice.call<{ thoughts: Obj[] }>('message.thought.get', { sender_aid: alice.identity.aid, peer_aid: bob.identity.aid, context });
    expect(own.thoughts).toHaveLength(3);
    expect(await carol.call('message.thought.get', { sender_aid: alice.identity.aid, context })).toMatchObject({ found: false, thoughts: [] });
    await expect(carol.call('message.thought.get', { sender_aid: alice.identity.aid, peer_aid: bob.identity.aid, context })).rejects.toMatchObject({ body: { code: -32004 } });
    await expect(alice.call('message.thought.get', { sender_aid: alice.identity.aid, context })).rejects.toMatchObject({ body: { code: -32602 } });
    // Plaintext, someone else's envelope, or a missing context are refused; no event was pushed.
    await expect(alice.call('message.thought.put', { to: bob.identity.aid, payload: { type: 'thought', text: 'hm' }, encrypted: false, context })).rejects.toMatchObject({ body: { code: -32602 } });
    const forged = opaqueEnvelope('e2ee.p2p_encrypted', { from: carol.identity.aid, from_device: 'c1', to: bob.identity.aid, message_id: 'mt-f' });
    await expect(alice.call('message.thought.put', { to: bob.identity.aid, payload: forged, context })).rejects.toMatchObject({ body: { code: -33050 } });
    await expect(alice.call('message.thought.put', { to: bob.identity.aid, payload: forged })).rejects.toMatchObject({ body: { code: -32602 } });
    await bob.call('meta.ping');
    expect(bob.events).toEqual([]);
    for (const s of [alice, bob, carol]) s.close();
  });

  it('group.thought.put / get: members only, per (group, sender, context)', async () => {
    const alice = await Session.open(gw.url, await loggedIn(gw, 'alice'), { deviceId: 'a1' });
    const bob = await Session.open(gw.url, await loggedIn(gw, 'bob'), { deviceId: 'b1' });
    const carol = await Session.open(gw.url, await loggedIn(gw, 'carol'), { deviceId: 'c1' });
    const { group } = await alice.call<{ group: { group_id: string } }>('group.create', { name: 'thinking' });
    const gid = group.group_id;
    await alice.call('group.add_member', { group_id: gid, aid: bob.identity.aid });
    const context = { type: 'run', id: 'run-g' };
    const payload = opaqueEnvelope('e2ee.group_encrypted', { from: alice.identity.aid, from_device: 'a1', group_id: gid, message_id: 'gt-1' });
    expect(await alice.call('group.thought.put', { group_id: gid, payload, encrypted: true, thought_id: 'gt-1', context }, { sign: true }))
      .toMatchObject({ group_id: gid, sender_aid: alice.identity.aid, context, thought_id: 'gt-1', stored_count: 1 });
    const got = await bob.call<{ found: boolean; thoughts: Obj[] }>('group.thought.get', { group_id: gid, sender_aid: alice.identity.aid, context });
    expect(got.found).toBe(true);
    expect(got.thoughts).toEqual([expect.objectContaining({ thought_id: 'gt-1', message_id: 'gt-1', payload })]);
    expect(got.thoughts[0]).not.toHaveProperty('from');
    await expect(carol.call('group.thought.get', { group_id: gid, sender_aid: alice.identity.aid, context })).rejects.toMatchObject({ body: { code: -33006 } });
    await expect(carol.call('group.thought.put', { group_id: gid, payload, context })).rejects.toMatchObject({ body: { code: -33006 } });
    for (const s of [alice, bob, carol]) s.close();
  });
});

describe('/pki/crl.json and /pki/ocsp/<serial> (§6)', () => {
  it('issued certificates are good in both serial forms until revoked; unknown serials are unknown', async () => {
    const id = await loggedIn(gw, 'cert');
    const { X509Certificate } = await import('node:crypto');
    const minimal = new X509Certificate(id.cert).serialNumber.toLowerCase().replace(/^0+/, '');
    const even = minimal.length % 2 ? '0' + minimal : minimal;
    const der = parseInt(even[0]!, 16) >= 8 ? '00' + even : even;
    const crl0 = await getJson<{ revoked_serials: string[]; next_update: number }>(`${gw.httpUrl}/pki/crl.json`);
    expect(crl0.status).toBe(200);
    expect(crl0.body.revoked_serials).not.toContain(minimal);
    expect(crl0.body.next_update).toBeGreaterThan(Date.now() / 1000);
    for (const form of [minimal, der, der.toUpperCase()]) {
      expect((await getJson(`${gw.httpUrl}/pki/ocsp/${form}`)).body).toMatchObject({ status: 'good', serial: form.toLowerCase() });
    }
    expect((await getJson(`${gw.httpUrl}/pki/ocsp/abc123`)).body).toMatchObject({ status: 'unknown' });
    expect((await getJson(`${gw.httpUrl}/pki/ocsp/not-hex`)).body).toMatchObject({ status: 'unknown' });
    expect((await adminPost(gw, 'revoke', { serial: der })).status).toBe(200);
    expect((await adminPost(gw, 'revoke', { serial: 'abc123' })).status).toBe(404);
    expect((await getJson(`${gw.httpUrl}/pki/ocsp/${minimal}`)).body).toMatchObject({ status: 'revoked' });
    const crl = await getJson<{ revoked_serials: string[] }>(`${gw.httpUrl}/pki/crl.json`);
    expect(crl.body.revoked_serials).toEqual(expect.arrayContaining([minimal, der]));
  });
});
