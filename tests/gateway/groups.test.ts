import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { fromBase64 } from '../../protocol/bytes.ts';
import { decryptEnvelope, encryptGroup } from '../../worker/e2ee/envelope.ts';
import { makeSpk, Session } from '../support/aun-client.ts';
import { p256, targetsFrom } from '../support/e2ee-peer.ts';
import { loggedIn, testGateway } from '../support/gateway.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await testGateway();
});
afterAll(() => gw.close());

type Obj = Record<string, unknown>;

async function trio() {
  const owner = await Session.open(gw.url, await loggedIn(gw, 'owner'), { deviceId: 'o1' });
  const bob = await Session.open(gw.url, await loggedIn(gw, 'bob'), { deviceId: 'b1' });
  const carol = await Session.open(gw.url, await loggedIn(gw, 'carol'), { deviceId: 'c1' });
  const { group } = await owner.call<{ group: Obj & { group_id: string } }>('group.create', { name: 'Dev chat', visibility: 'private', device_id: 'o1', slot_id: 'default' });
  return { owner, bob, carol, gid: group.group_id, group };
}

describe('group membership', () => {
  it('creates a group owned by the caller', async () => {
    const { owner, bob, carol, group, gid } = await trio();
    expect(group).toMatchObject({ group_aid: gid, name: 'Dev chat', owner_aid: owner.identity.aid, status: 'active', member_count: 1, message_seq: 0, event_seq: 0 });
    expect(gid).toMatch(/^g-[0-9a-f]{12}\.aun\.local$/);
    for (const s of [owner, bob, carol]) s.close();
  });

  it('add_member emits group.changed with event_seq to every member, the new one included', async () => {
    const { owner, bob, carol, gid } = await trio();
    const added = await owner.call<{ group: Obj; member: Obj }>('group.add_member', { group_id: gid, group_aid: gid, aid: bob.identity.aid }, { sign: true });
    expect(added.member).toMatchObject({ aid: bob.identity.aid, role: 'member' });
    expect(added.group.member_count).toBe(2);
    for (const s of [owner, bob]) {
      expect(await s.waitEvent('group.changed')).toMatchObject({ module_id: 'group', action: 'member_added', group_id: gid, event_seq: 1, actor_aid: owner.identity.aid, member_aid: bob.identity.aid });
    }
    const relayed = bob.eventsNamed('group.changed')[0]!.client_signature as Obj;
    expect(relayed).toMatchObject({ aid: owner.identity.aid, _method: 'group.add_member' });
    await expect(bob.call('group.add_member', { group_id: gid, aid: carol.identity.aid })).rejects.toMatchObject({ body: { code: -33007 } });
    await expect(owner.call('group.add_member', { group_id: gid, aid: bob.identity.aid })).rejects.toMatchObject({ body: { code: -33005 } });
    await expect(owner.call('group.add_member', { group_id: 'g-000000000000.aun.local', aid: bob.identity.aid })).rejects.toMatchObject({ body: { code: -33001 } });
    const members = await bob.call<{ members: Obj[]; total: number }>('group.get_members', { group_id: gid });
    expect(members.total).toBe(2);
    expect(members.members.map((m) => m.aid).sort()).toEqual([owner.identity.aid, bob.identity.aid].sort());
    const mine = await bob.call<{ items: Obj[] }>('group.list_my', {});
    expect(mine.items).toEqual([expect.objectContaining({ group_id: gid, role: 'member' })]);
    expect(await bob.call('group.get_info', { group_id: gid })).toMatchObject({ found: true, group_id: gid, owner_aid: owner.identity.aid, my_role: 'member', e2ee_epoch: expect.any(Number) });
    await expect(carol.call('group.get_members', { group_id: gid })).rejects.toMatchObject({ body: { code: -33006 } });
    for (const s of [owner, bob, carol]) s.close();
  });

  it('a non-member reads neither a private group\'s info nor its key epoch; a public group\'s info is open', async () => {
    const { owner, carol, gid } = await trio();
    await expect(carol.call('group.get_info', { group_id: gid })).rejects.toMatchObject({ body: { code: -33006 } });
    await expect(carol.call('group.get_state', { group_id: gid })).rejects.toMatchObject({ body: { code: -33006 } });
    expect(await owner.call('group.get_state', { group_id: gid })).toMatchObject({ key_epoch: expect.any(Number) });
    const { group } = await owner.call<{ group: Obj & { group_id: string } }>('group.create', { name: 'Open', visibility: 'public', device_id: 'o1', slot_id: 'default' });
    const open = await carol.call<Obj>('group.get_info', { group_id: group.group_id });
    expect(open).toMatchObject({ found: true, group_id: group.group_id, visibility: 'public' });
    // The public fields only: owner, key epoch and role are member information.
    expect(open).not.toHaveProperty('owner_aid');
    expect(open).not.toHaveProperty('e2ee_epoch');
    await expect(carol.call('group.get_state', { group_id: group.group_id })).rejects.toMatchObject({ body: { code: -33006 } });
    for (const s of [owner, carol]) s.close();
  });

  it('kick and leave emit events, and a removed member loses access', async () => {
    const { owner, bob, carol, gid } = await trio();
    await owner.call('group.add_member', { group_id: gid, aid: bob.identity.aid });
    await owner.call('group.add_member', { group_id: gid, aid: carol.identity.aid });
    expect(await owner.call('group.kick', { group_id: gid, aid: bob.identity.aid })).toMatchObject({ removed_aid: bob.identity.aid });
    expect(await bob.waitEvent('group.changed', (e) => e.action === 'member_removed')).toMatchObject({ event_seq: 3, member_aid: bob.identity.aid });
    await expect(bob.call('group.v2.pull', { group_id: gid, after_seq: 0 })).rejects.toMatchObject({ body: { code: -33006 } });
    expect(await carol.call('group.leave', { group_id: gid })).toMatchObject({ left_aid: carol.identity.aid });
    expect(await owner.waitEvent('group.changed', (e) => e.action === 'member_left')).toMatchObject({ event_seq: 4 });
    await expect(owner.call('group.leave', { group_id: gid })).rejects.toMatchObject({ body: { code: -33007 } });
    const events = await owner.call<{ events: Obj[]; latest_event_seq: number; has_more: boolean }>('group.pull_events', { group_id: gid, after_event_seq: 1 });
    expect(events.events.map((e) => e.event_seq)).toEqual([2, 3, 4]);
    expect(events.latest_event_seq).toBe(4);
    expect(await owner.call('group.ack_events', { group_id: gid, event_seq: 4 })).toMatchObject({ group_id: gid, cursor: { current_seq: 4 } });
    for (const s of [owner, bob, carol]) s.close();
  });
});

describe('group messages', () => {
  it('plaintext group.send pushes the payload and shares the seq space with pulls and acks', async () => {
    const { owner, bob, carol, gid } = await trio();
    await owner.call('group.add_member', { group_id: gid, aid: bob.identity.aid });
    const sent = await owner.call<{ message: Obj }>('group.send', { group_id: gid, payload: { type: 'text', text: 'hi all' } }, { sign: true });
    expect(sent.message).toMatchObject({ group_id: gid, seq: 1, sender_aid: owner.identity.aid, payload: { type: 'text', text: 'hi all' } });
    expect(await bob.waitEvent('group.message_created')).toMatchObject({ group_id: gid, seq: 1, sender_aid: owner.identity.aid, payload: { type: 'text', text: 'hi all' } });
    expect(carol.eventsNamed('group.message_created')).toHaveLength(0);
    const pulled = await bob.call<{ messages: Obj[]; cursor: Obj }>('group.v2.pull', { group_id: gid, after_seq: 0, limit: 50 }, { sign: true });
    expect(pulled.messages).toEqual([expect.objectContaining({ seq: 1, version: 'v1', from_aid: owner.identity.aid, payload: { type: 'text', text: 'hi all' } })]);
    expect(pulled.cursor).toMatchObject({ latest_seq: 1 });
    expect(await bob.call('group.v2.ack', { group_id: gid, up_to_seq: 1 }, { sign: true })).toMatchObject({ group_id: gid, ack_seq: 1 });
    for (const s of [owner, bob, carol]) s.close();
  });

  it('relays a V2 group envelope with 3DH and 1DH wraps that members decrypt', async () => {
    const { owner, bob, carol, gid } = await trio();
    await owner.call('group.add_member', { group_id: gid, aid: bob.identity.aid });
    await owner.call('group.add_member', { group_id: gid, aid: carol.identity.aid });
    const bobSpk = makeSpk(bob.identity, 'group_device_prekey');
    expect(await bob.call('group.v2.put_group_pk', { group_id: gid, group_aid: gid, ...bobSpk.fields, device_id: 'b1', slot_id: 'default' }, { sign: true })).toEqual({ ok: true });
    const boot = await owner.call<{ devices: Obj[]; epoch: number; member_aids: string[]; state_version: number }>('group.v2.bootstrap', { group_id: gid }, { sign: true });
    expect(boot.member_aids.sort()).toEqual([owner.identity.aid, bob.identity.aid, carol.identity.aid].sort());
    expect(boot.devices).toEqual(expect.arrayContaining([
      expect.objectContaining({ aid: bob.identity.aid, device_id: 'b1', key_source: 'group_device_prekey', spk_id: bobSpk.fields.spk_id }),
      expect.objectContaining({ aid: carol.identity.aid, device_id: 'c1' }),
    ]));
    expect(boot.devices.some((d) => d.device_id === 'o1')).toBe(false);
    const envelope = await encryptGroup({ aid: owner.identity.aid, deviceId: 'o1', ik: p256(owner.identity.privateKey) }, targetsFrom(boot.devices),
      { type: 'text', text: 'group secret' }, { groupId: gid, epoch: boot.epoch });
    const sent = await owner.call<Obj>('group.v2.send', { group_id: gid, group_aid: gid, envelope: envelope as never, device_id: 'o1', slot_id: 'default' }, { sign: true });
    expect(sent).toMatchObject({ seq: 1, message_id: envelope.aad.message_id });
    for (const s of [bob, carol]) {
      expect(await s.waitEvent('group.v2.message_created')).toMatchObject({ group_id: gid, seq: 1, sender_aid: owner.identity.aid });
    }
    const rows = await bob.call<{ messages: Obj[] }>('group.v2.pull', { group_id: gid, after_seq: 0 });
    const opened = await decryptEnvelope(JSON.parse(String(rows.messages[0]!.envelope_json)), {
      selfAid: bob.identity.aid, selfDeviceId: 'b1', ik: p256(bob.identity.privateKey), spk: p256(bobSpk.privateKey), senderIkSpki: fromBase64(owner.identity.spkiB64),
    });
    expect(opened.payload).toEqual({ type: 'text', text: 'group secret' });
    const again = await owner.call<Obj>('group.v2.send', { group_id: gid, envelope: envelope as never });
    expect(again).toMatchObject({ seq: 1, status: 'duplicate' });
    for (const s of [owner, bob, carol]) s.close();
  });

  it('refuses a stale epoch (-33052) and wraps for non-members (-33054)', async () => {
    const { owner, bob, carol, gid } = await trio();
    await owner.call('group.add_member', { group_id: gid, aid: bob.identity.aid });
    const boot = await owner.call<{ devices: Obj[]; epoch: number }>('group.v2.bootstrap', { group_id: gid });
    const sender = { aid: owner.identity.aid, deviceId: 'o1', ik: p256(owner.identity.privateKey) };
    const stale = await encryptGroup(sender, targetsFrom(boot.devices), { type: 'text', text: 'x' }, { groupId: gid, epoch: boot.epoch - 1 });
    await expect(owner.call('group.v2.send', { group_id: gid, envelope: stale as never })).rejects.toMatchObject({ body: { code: -33052 } });
    const outsider = await encryptGroup(sender, [...targetsFrom(boot.devices), { aid: carol.identity.aid, deviceId: 'c1', ikSpki: fromBase64(carol.identity.spkiB64) }],
      { type: 'text', text: 'x' }, { groupId: gid, epoch: boot.epoch });
    await expect(owner.call('group.v2.send', { group_id: gid, envelope: outsider as never })).rejects.toMatchObject({ body: { code: -33054 } });
    await expect(carol.call('group.v2.send', { group_id: gid, envelope: stale as never })).rejects.toMatchObject({ body: { code: -33006 } });
    for (const s of [owner, bob, carol]) s.close();
  });

  it('hints unread groups when a member connects', async () => {
    const { owner, bob, carol, gid } = await trio();
    await owner.call('group.add_member', { group_id: gid, aid: bob.identity.aid });
    bob.close();
    await owner.call('group.send', { group_id: gid, payload: { type: 'text', text: 'while away' } });
    const back = await Session.open(gw.url, bob.identity, { deviceId: 'b1' });
    expect(await back.waitEvent('group.v2.message_created', (e) => e.kind === 'group.online_unread_hint')).toMatchObject({ group_id: gid, seq: 1 });
    for (const s of [owner, back, carol]) s.close();
  });
});
