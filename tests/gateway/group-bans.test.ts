// Bans (spec groups-and-more §3.12), both documented shapes: owners and admins ban an AID, for a
// time or for good; a banned member keeps its membership and reads but cannot send, and a banned
// AID cannot join by any way in (add_member, invite code, join request) until unbanned or expired.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { Session } from '../support/aun-client.ts';
import { loggedIn, testGateway } from '../support/gateway.ts';

let offset = 0;
let gw: Gateway;
beforeAll(async () => { gw = await testGateway({ now: () => Date.now() + offset }); });
afterAll(() => gw.close());

type Obj = Record<string, unknown>;
const open = async (prefix: string) => Session.open(gw.url, await loggedIn(gw, prefix), { deviceId: `${prefix}-d1` });

async function group(joinMode = 'open') {
  const owner = await open('owner');
  const admin = await open('admin');
  const bob = await open('bob');
  const { group: g } = await owner.call<{ group: { group_id: string } }>('group.create', { name: 'Bans', visibility: 'public', join_mode: joinMode });
  const gid = g.group_id;
  for (const s of [admin, bob]) await owner.call('group.add_member', { group_id: gid, aid: s.identity.aid });
  await owner.call('group.set_role', { group_id: gid, aid: admin.identity.aid, role: 'admin' });
  return { owner, admin, bob, gid };
}

const say = (s: Session, gid: string, text: string) =>
  s.call('group.send', { group_id: gid, payload: { type: 'text', text }, message_id: `m-${Math.random()}` }, { sign: true });

describe('group.ban, group.unban, group.get_banlist (§3.12)', () => {
  it('a banned member stays a member and reads, but cannot send until unbanned; members are told', async () => {
    const { owner, admin, bob, gid } = await group();
    await say(bob, gid, 'before');
    const r = await admin.call<Obj>('group.ban', { group_id: gid, subject: bob.identity.aid, reason: 'spam' }, { sign: true });
    expect(r).toMatchObject({ group_id: gid, banned_aid: bob.identity.aid, ban: { subject: bob.identity.aid, banned_by: admin.identity.aid, reason: 'spam', expires_at: 0 } });
    expect(await bob.waitEvent('group.changed', (e) => e.action === 'member_banned')).toMatchObject({ member_aid: bob.identity.aid, reason: 'spam', expires_at: 0 });
    await expect(say(bob, gid, 'after')).rejects.toMatchObject({ body: { code: -32004 } });
    await expect(bob.call('group.v2.send', { group_id: gid, envelope: {} }, { sign: true })).rejects.toMatchObject({ body: { code: -32004 } });
    expect((await bob.call<{ members: { aid: string }[] }>('group.get_members', { group_id: gid })).members.map((m) => m.aid)).toContain(bob.identity.aid);
    expect(await bob.call<{ messages?: unknown[] }>('group.v2.pull', { group_id: gid, after_seq: 0 }, { sign: true })).toBeTruthy();
    const list = await owner.call<{ items: Obj[]; total: number }>('group.get_banlist', { group_id: gid });
    expect(list).toMatchObject({ group_id: gid, total: 1, items: [{ subject: bob.identity.aid, reason: 'spam' }] });
    await expect(bob.call('group.get_banlist', { group_id: gid })).rejects.toMatchObject({ body: { code: -33007 } });

    expect(await owner.call('group.unban', { group_id: gid, aid: bob.identity.aid }, { sign: true })).toEqual({ group_id: gid, subject: bob.identity.aid, unbanned_aid: bob.identity.aid, status: 'removed' });
    expect(await bob.waitEvent('group.changed', (e) => e.action === 'member_unbanned')).toMatchObject({ member_aid: bob.identity.aid });
    await say(bob, gid, 'back');
    await expect(owner.call('group.unban', { group_id: gid, aid: bob.identity.aid }, { sign: true })).rejects.toMatchObject({ body: { code: -32008 } });
  });

  it('a removed and banned AID cannot come back by add_member, an invite code or a join request', async () => {
    const { owner, bob, gid } = await group('open');
    await owner.call('group.kick', { group_id: gid, aid: bob.identity.aid }, { sign: true });
    await owner.call('group.ban', { group_id: gid, aid: bob.identity.aid, duration_seconds: 3600 }, { sign: true });
    await expect(owner.call('group.add_member', { group_id: gid, aid: bob.identity.aid }, { sign: true })).rejects.toMatchObject({ body: { code: -33009 } });
    const { invite_code: code } = await owner.call<{ invite_code: { code: string } }>('group.create_invite_code', { group_id: gid });
    await expect(bob.call('group.use_invite_code', { code: code.code }, { sign: true })).rejects.toMatchObject({ body: { code: -33009 } });
    await expect(bob.call('group.request_join', { group_id: gid }, { sign: true })).rejects.toMatchObject({ body: { code: -33009 } });
    // An hour on, the ban has lapsed: the open group takes it again (unsigned: the gateway's
    // clock is an hour ahead of the signature's).
    offset = 3601 * 1000;
    try {
      expect(await bob.call('group.request_join', { group_id: gid })).toMatchObject({ status: 'joined' });
      expect((await owner.call<{ total: number }>('group.get_banlist', { group_id: gid })).total).toBe(0);
    } finally {
      offset = 0;
    }
  });

  it('who may ban whom: admins ban members, only the owner bans admins, nobody bans the owner or itself, members nobody', async () => {
    const { owner, admin, bob, gid } = await group();
    await expect(bob.call('group.ban', { group_id: gid, subject: admin.identity.aid }, { sign: true })).rejects.toMatchObject({ body: { code: -33007 } });
    await expect(admin.call('group.ban', { group_id: gid, subject: owner.identity.aid }, { sign: true })).rejects.toMatchObject({ body: { code: -33007 } });
    await expect(owner.call('group.ban', { group_id: gid, subject: owner.identity.aid }, { sign: true })).rejects.toMatchObject({ body: { code: -32602 } });
    const other = await open('admin2');
    await owner.call('group.add_member', { group_id: gid, aid: other.identity.aid, role: 'admin' }, { sign: true });
    await expect(admin.call('group.ban', { group_id: gid, subject: other.identity.aid }, { sign: true })).rejects.toMatchObject({ body: { code: -33007 } });
    expect(await owner.call('group.ban', { group_id: gid, subject: other.identity.aid, expires_in_seconds: 60 }, { sign: true })).toMatchObject({ ban: { subject: other.identity.aid } });
    // A time in the past, or params that name no one, are refused.
    await expect(owner.call('group.ban', { group_id: gid, subject: bob.identity.aid, expires_at: 1 }, { sign: true })).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(owner.call('group.ban', { group_id: gid }, { sign: true })).rejects.toMatchObject({ body: { code: -32602 } });
  });
});
