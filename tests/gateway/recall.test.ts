import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { Session } from '../support/aun-client.ts';
import { loggedIn, testGateway } from '../support/gateway.ts';

let gw: Gateway;
let clockShift = 0;
beforeAll(async () => {
  gw = await testGateway({ now: () => Date.now() + clockShift });
});
afterAll(() => gw.close());

type Obj = Record<string, unknown>;

async function pair() {
  const alice = await Session.open(gw.url, await loggedIn(gw, 'alice'), { deviceId: 'a1' });
  const bob = await Session.open(gw.url, await loggedIn(gw, 'bob'), { deviceId: 'b1' });
  return { alice, bob };
}

describe('legacy message.ack / message.pull (groups-and-more §1)', () => {
  it('message.pull returns legacy rows without moving the cursor; message.ack moves the shared cursor', async () => {
    const { alice, bob } = await pair();
    for (const text of ['one', 'two', 'three']) await alice.call('message.send', { to: bob.identity.aid, payload: { type: 'text', text } });
    const first = await bob.call<{ messages: Obj[]; count: number; latest_seq: number; server_ack_seq: number }>('message.pull', { after_seq: 0, limit: 50, device_id: 'b1', slot_id: 'default' });
    expect(first.count).toBe(3);
    expect(first.latest_seq).toBe(3);
    expect(first.server_ack_seq).toBe(0);
    expect(first.messages[0]).toMatchObject({ seq: 1, from: alice.identity.aid, to: bob.identity.aid, payload: { text: 'one' }, delivery_mode: 'fanout' });
    expect(first.messages[0]).not.toHaveProperty('encrypted');
    const again = await bob.call<{ messages: Obj[] }>('message.pull', { after_seq: 0 });
    expect(again.messages.map((m) => m.seq)).toEqual([1, 2, 3]);

    expect(await bob.call('message.ack', { seq: 2, device_id: 'b1', slot_id: 'default' })).toEqual({ success: true, ack_seq: 2 });
    expect(await bob.call('message.ack', { seq: 1 })).toEqual({ success: true, ack_seq: 2 });
    // The same cursor message.v2.pull reports and starts from.
    const v2 = await bob.call<{ server_ack_seq: number; messages: Obj[] }>('message.v2.pull', {});
    expect(v2.server_ack_seq).toBe(2);
    expect(v2.messages.map((m) => m.seq)).toEqual([3]);
    await expect(bob.call('message.ack', { seq: 3, device_id: 'other' })).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(bob.call('message.pull', { slot_id: 'elsewhere' })).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(bob.call('message.ack', {})).rejects.toMatchObject({ body: { code: -32602 } });
    alice.close();
    bob.close();
  });

  it('group.ack_messages moves the per-device group message cursor', async () => {
    const { alice, bob } = await pair();
    const { group } = await alice.call<{ group: { group_id: string } }>('group.create', { name: 'acks' });
    await alice.call('group.add_member', { group_id: group.group_id, aid: bob.identity.aid });
    for (const text of ['a', 'b']) await alice.call('group.send', { group_id: group.group_id, payload: { type: 'text', text } });
    expect(await bob.call('group.ack_messages', { group_id: group.group_id, msg_seq: 1, device_id: 'b1', slot_id: 'default' })).toEqual({ cursor: 1 });
    expect(await bob.call('group.ack_messages', { group_id: group.group_id, msg_seq: 99 })).toEqual({ cursor: 2 });
    const pulled = await bob.call<{ cursor: { current_seq: number } }>('group.v2.pull', { group_id: group.group_id });
    expect(pulled.cursor.current_seq).toBe(2);
    alice.close();
    bob.close();
  });

  it('the plain group.pull reads what group.v2.pull reads from after_message_seq; the older group.ack answers both shapes', async () => {
    const { alice, bob } = await pair();
    const { group } = await alice.call<{ group: { group_id: string } }>('group.create', { name: 'plain pull' });
    const gid = group.group_id;
    await alice.call('group.add_member', { group_id: gid, aid: bob.identity.aid });
    for (const text of ['a', 'b', 'c']) await alice.call('group.send', { group_id: gid, payload: { type: 'text', text } });
    // What the browser SDK sends without V2 keys: unsigned, raw group_id, device and slot.
    const plain = await bob.call<{ messages: { seq: number; payload: { text: string } }[]; cursor: { current_seq: number } }>(
      'group.pull', { group_id: gid, group_aid: gid, after_message_seq: 1, device_id: 'b1', slot_id: 'default', limit: 50 });
    expect(plain.messages.map((m) => [m.seq, m.payload.text])).toEqual([[2, 'b'], [3, 'c']]);
    const v2 = await bob.call<{ messages: unknown[] }>('group.v2.pull', { group_id: gid, after_seq: 1 });
    expect(plain.messages).toEqual(v2.messages);
    expect(await bob.call('group.ack', { group_id: gid, msg_seq: 2 })).toMatchObject({ cursor: 2, ack_seq: 2, aid: bob.identity.aid, latest_message_seq: 3 });
    expect(await bob.call('group.ack', { group_id: gid, seq: 3 })).toMatchObject({ cursor: 3, group_id: gid });
    await expect(bob.call('group.pull', { group_id: gid, device_id: 'someone-else' })).rejects.toMatchObject({ body: { code: -32602 } });
    alice.close();
    bob.close();
  });
});

describe('message.recall (§2.1, §2.2)', () => {
  it('the sender recalls: the recipient gets a tombstone row at a new seq with a push, and the original row no longer holds the text', async () => {
    const { alice, bob } = await pair();
    const sent = await alice.call<{ message_id: string; seq: number }>('message.send', { to: bob.identity.aid, payload: { type: 'text', text: 'private words' }, message_id: 'm-oops' });
    await bob.waitEvent('message.received');
    const r = await alice.call('message.recall', { message_ids: ['m-oops'] });
    expect(r).toEqual({ success: true, accepted: 1, recalled: 1, errors: null });
    const ev = await bob.waitEvent('message.recalled');
    expect(ev).toMatchObject({ from: alice.identity.aid, to: bob.identity.aid, message_ids: ['m-oops'], seq: sent.seq + 1, device_id: 'b1' });
    expect(ev.tombstone_message_id).toBe(ev.message_id);
    const rows = (await bob.call<{ messages: Obj[] }>('message.pull', { after_seq: 0 })).messages;
    expect(rows).toHaveLength(2);
    expect(JSON.stringify(rows)).not.toContain('private words');
    expect(rows[0]).toMatchObject({ message_id: 'm-oops', seq: sent.seq, payload: { type: 'message.recalled', message_ids: ['m-oops'] } });
    expect(rows[1]).toMatchObject({ seq: sent.seq + 1, payload: { type: 'message.recalled', message_ids: ['m-oops'] } });
    const v2 = await bob.call<{ messages: Obj[] }>('message.v2.pull', { after_seq: 0 });
    expect(v2.messages[1]).toMatchObject({ version: 'v1', legacy_v1: { payload: { type: 'message.recalled' } } });
    alice.close();
    bob.close();
  });

  it('reports not_sender, not_found, already_recalled and expired per id, and rejects bad params', async () => {
    const { alice, bob } = await pair();
    await alice.call('message.send', { to: bob.identity.aid, payload: { type: 'text', text: 'x' }, message_id: 'm-x' });
    await alice.call('message.send', { to: bob.identity.aid, payload: { type: 'text', text: 'y' }, message_id: 'm-y' });
    await alice.call('message.recall', { message_ids: ['m-x'] });
    clockShift = 121_000;
    try {
      const r = await alice.call<{ success: boolean; errors: Obj[] }>('message.recall', { message_ids: ['m-x', 'm-y', 'm-none'] });
      expect(r.success).toBe(false);
      expect(r.errors).toEqual([
        { message_id: 'm-x', error: 'already_recalled' },
        { message_id: 'm-y', error: 'expired' },
        { message_id: 'm-none', error: 'not_found' },
      ]);
    } finally {
      clockShift = 0;
    }
    const other = await bob.call<{ errors: Obj[] }>('message.recall', { message_ids: ['m-y'] });
    expect(other.errors).toEqual([{ message_id: 'm-y', error: 'not_sender' }]);
    await expect(alice.call('message.recall', { message_ids: [] })).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(alice.call('message.recall', { message_ids: ['  '] })).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(alice.call('message.recall', { message_ids: Array.from({ length: 101 }, (_, i) => `m${i}`) })).rejects.toMatchObject({ body: { code: -32602 } });
    alice.close();
    bob.close();
  });
});

describe('group.recall (§2.3, §2.4)', () => {
  it('writes a placeholder at the original seq and a notice at a new seq, pushes group.message_recalled once', async () => {
    const { alice, bob } = await pair();
    const { group } = await alice.call<{ group: { group_id: string } }>('group.create', { name: 'recall' });
    const gid = group.group_id;
    await alice.call('group.add_member', { group_id: gid, aid: bob.identity.aid });
    await alice.call('group.send', { group_id: gid, payload: { type: 'text', text: 'secret' }, message_id: 'gm-1' });
    await bob.waitEvent('group.message_created');
    const r = await alice.call('group.recall', { group_id: gid, message_ids: ['gm-1'], reason: 'typo' });
    expect(r).toEqual({ success: true, accepted: ['gm-1'], recalled: ['gm-1'], errors: [] });
    const ev = await bob.waitEvent('group.message_recalled');
    expect(ev).toMatchObject({
      module_id: 'group', group_id: gid, seq: 2, message_ids: ['gm-1'], target_message_seqs: [1], sender_aid: alice.identity.aid,
      recalled_by: alice.identity.aid, reason: 'typo', member_aids: [bob.identity.aid],
    });
    expect(ev.tombstone_message_id).toBe(ev.message_id);
    expect(alice.eventsNamed('group.message_recalled')).toHaveLength(0);
    const rows = (await bob.call<{ messages: Obj[] }>('group.v2.pull', { group_id: gid, after_seq: 0 })).messages;
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ seq: 1, version: 'v1', type: 'group.message_recalled', payload: { message_ids: ['gm-1'], target_message_seqs: [1] } });
    expect(rows[1]).toMatchObject({ seq: 2, version: 'v1', type: 'group.message_recalled', message_id: ev.message_id });
    expect(JSON.stringify(rows)).not.toContain('secret');
    const again = await alice.call<{ errors: Obj[] }>('group.recall', { group_id: gid, message_ids: ['gm-1'] });
    expect(again.errors).toEqual([{ message_id: 'gm-1', error: 'already_recalled' }]);
    alice.close();
    bob.close();
  });

  it('only the sender may recall; nothing after the window; nothing while suspended; members only', async () => {
    const { alice, bob } = await pair();
    const carol = await Session.open(gw.url, await loggedIn(gw, 'carol'), { deviceId: 'c1' });
    const { group } = await alice.call<{ group: { group_id: string } }>('group.create', { name: 'recall rules' });
    const gid = group.group_id;
    await alice.call('group.add_member', { group_id: gid, aid: bob.identity.aid });
    await bob.call('group.send', { group_id: gid, payload: { type: 'text', text: 'bob says' }, message_id: 'gb-1' });
    await alice.call('group.send', { group_id: gid, payload: { type: 'text', text: 'alice says' }, message_id: 'ga-1' });
    expect((await alice.call<{ errors: Obj[] }>('group.recall', { group_id: gid, message_ids: ['gb-1', 'nope'] })).errors).toEqual([
      { message_id: 'gb-1', error: 'not_sender' },
      { message_id: 'nope', error: 'not_found' },
    ]);
    await expect(carol.call('group.recall', { group_id: gid, message_ids: ['ga-1'] })).rejects.toMatchObject({ body: { code: -33006 } });
    await alice.call('group.suspend', { group_id: gid });
    expect((await alice.call<{ errors: Obj[] }>('group.recall', { group_id: gid, message_ids: ['ga-1'] })).errors).toEqual([{ message_id: 'ga-1', error: 'group_inactive' }]);
    await alice.call('group.resume', { group_id: gid });
    clockShift = 121_000;
    try {
      expect((await alice.call<{ errors: Obj[] }>('group.recall', { group_id: gid, message_ids: ['ga-1'] })).errors).toEqual([{ message_id: 'ga-1', error: 'expired' }]);
    } finally {
      clockShift = 0;
    }
    for (const s of [alice, bob, carol]) s.close();
  });
});
