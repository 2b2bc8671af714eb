// Join requests (spec groups-and-more §3.11, protocol.md §8.2): by join mode an AID joins at once,
// answers the group's question and waits for review, or is turned away; owners and admins list,
// approve and reject requests, one at a time or in a batch (both shapes the documents give).
// What a member who is no manager sees, and what a flood of requests costs, as an attacker would try.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../gateway/server.ts';
import { Session, signedGroupIndex } from '../support/aun-client.ts';
import { loggedIn, testGateway } from '../support/gateway.ts';

let gw: Gateway;
beforeAll(async () => { gw = await testGateway(); });
afterAll(() => gw.close());

type Obj = Record<string, unknown>;

async function open(prefix: string): Promise<Session> {
  return Session.open(gw.url, await loggedIn(gw, prefix), { deviceId: `${prefix}-d1` });
}

/** An owner, a plain member (bob), and a group in `joinMode`. */
async function group(joinMode: string) {
  const owner = await open('owner');
  const bob = await open('bob');
  const { group: g } = await owner.call<{ group: { group_id: string } }>('group.create', { name: 'Joins', visibility: 'public', join_mode: joinMode });
  await owner.call('group.add_member', { group_id: g.group_id, aid: bob.identity.aid });
  return { owner, bob, gid: g.group_id };
}

/** Writes indexed join settings as the owner, with the signed group.index they need. */
async function joinSettings(owner: Session, gid: string, values: Record<string, unknown>): Promise<void> {
  const index = signedGroupIndex(owner.identity, gid, values);
  await owner.call('group.set_settings', { group_id: gid, settings: { ...values, 'group.index': { body: index.body, meta: index.meta, entries: index.entries } }, expected_index_etag: '' });
}

const memberAids = async (s: Session, gid: string) =>
  (await s.call<{ members: { aid: string }[] }>('group.get_members', { group_id: gid })).members.map((m) => m.aid);

describe('group.request_join and its review (§3.11)', () => {
  it('an open group takes the applicant at once (joined, a self-join for the SDK)', async () => {
    const { owner, gid } = await group('open');
    const carol = await open('carol');
    const r = await carol.call<Obj>('group.request_join', { group_id: gid, message: 'hi' }, { sign: true });
    expect(r).toMatchObject({ status: 'joined', group: { group_id: gid }, member: { aid: carol.identity.aid, role: 'member' } });
    expect(await owner.waitEvent('group.changed', (e) => e.action === 'joined')).toMatchObject({ member_aid: carol.identity.aid, actor_aid: carol.identity.aid });
    await expect(carol.call('group.request_join', { group_id: gid }, { sign: true })).rejects.toMatchObject({ body: { code: -33005 } });
  });

  it('invite_only and closed groups turn requests away', async () => {
    for (const mode of ['invite_only', 'closed']) {
      const { gid } = await group(mode);
      const carol = await open('carol');
      await expect(carol.call('group.request_join', { group_id: gid }, { sign: true })).rejects.toMatchObject({ body: { code: -33009 } });
    }
  });

  it('approval: the question first, then a pending request that admins see whole and members only by name; approval adds the member', async () => {
    const { owner, bob, gid } = await group('approval');
    await joinSettings(owner, gid, { 'join.question': 'Which editor?' });
    const carol = await open('carol');
    expect(await carol.call('group.request_join', { group_id: gid }, { sign: true })).toEqual({ status: 'question_required', question: 'Which editor?' });
    const r = await carol.call<{ status: string; request: Obj }>('group.request_join', { group_id: gid, message: 'let me in', answer: 'vi' }, { sign: true });
    expect(r).toMatchObject({ status: 'pending', request: { group_id: gid, aid: carol.identity.aid, message: 'let me in', answer: 'vi', status: 'pending', reviewed_by: null, rejection_reason: null } });
    // Asked again while it waits: the same request.
    expect(await carol.call('group.request_join', { group_id: gid, message: 'again', answer: 'emacs' }, { sign: true })).toEqual(r);
    // A plain member is told who asked, not what they wrote, and may not list or review.
    const told = await bob.waitEvent('group.changed', (e) => e.action === 'join_requested');
    expect(told).toMatchObject({ member_aid: carol.identity.aid });
    expect(JSON.stringify(told)).not.toContain('let me in');
    await expect(bob.call('group.list_join_requests', { group_id: gid })).rejects.toMatchObject({ body: { code: -33007 } });
    await expect(bob.call('group.review_join_request', { group_id: gid, aid: carol.identity.aid }, { sign: true })).rejects.toMatchObject({ body: { code: -33007 } });
    const listed = await owner.call<{ items: Obj[]; total: number }>('group.list_join_requests', { group_id: gid });
    expect(listed).toMatchObject({ group_id: gid, total: 1, page: 1, items: [{ aid: carol.identity.aid, message: 'let me in', answer: 'vi', status: 'pending' }] });
    expect(await memberAids(owner, gid)).not.toContain(carol.identity.aid);

    const ok = await owner.call<Obj>('group.review_join_request', { group_id: gid, aid: carol.identity.aid, approve: true }, { sign: true });
    expect(ok).toMatchObject({ status: 'approved', request: { status: 'approved', reviewed_by: owner.identity.aid }, group: { group_id: gid } });
    expect(await carol.waitEvent('group.changed', (e) => e.action === 'join_approved')).toMatchObject({ member_aid: carol.identity.aid });
    expect(await memberAids(owner, gid)).toContain(carol.identity.aid);
    expect((await owner.call<{ items: Obj[] }>('group.list_join_requests', { group_id: gid, status: 'approved' })).items.map((i) => i.aid)).toEqual([carol.identity.aid]);
    // Reviewed once: there is nothing pending to review again.
    await expect(owner.call('group.review_join_request', { group_id: gid, aid: carol.identity.aid }, { sign: true })).rejects.toMatchObject({ body: { code: -32008 } });
  });

  it('a rejection tells the applicant with its reason, adds nobody, and the applicant may ask again', async () => {
    const { owner, gid } = await group('approval');
    const dave = await open('dave');
    await dave.call('group.request_join', { group_id: gid, message: 'me too' }, { sign: true });
    const no = await owner.call<Obj>('group.review_join_request', { group_id: gid, aid: dave.identity.aid, approve: false, reason: 'not now' }, { sign: true });
    expect(no).toMatchObject({ status: 'rejected', request: { status: 'rejected', reviewed_by: owner.identity.aid, rejection_reason: 'not now' } });
    expect(await dave.waitEvent('group.changed', (e) => e.action === 'join_rejected')).toMatchObject({ member_aid: dave.identity.aid, group_id: gid });
    expect(await memberAids(owner, gid)).not.toContain(dave.identity.aid);
    expect(await dave.call('group.request_join', { group_id: gid, message: 'please' }, { sign: true })).toMatchObject({ status: 'pending', request: { message: 'please', status: 'pending', rejection_reason: null } });
  });

  it('batch review takes both shapes and reports each applicant; an AID with no request fails alone', async () => {
    const { owner, gid } = await group('approval');
    const [a, b, c] = await Promise.all([open('ja'), open('jb'), open('jc')]);
    for (const s of [a, b, c]) await s.call('group.request_join', { group_id: gid }, { sign: true });
    const mixed = await owner.call<{ results: Obj[]; success_count: number; fail_count: number }>('group.batch_review_join_request', {
      group_id: gid, requests: [{ aid: a.identity.aid, approve: true }, { aid: b.identity.aid, approve: false, reason: 'no' }, { aid: 'nobody1.aun.local', approve: true }],
    }, { sign: true });
    expect(mixed.results.map((r) => [r.aid, r.ok, r.status ?? null])).toEqual([[a.identity.aid, true, 'approved'], [b.identity.aid, true, 'rejected'], ['nobody1.aun.local', false, null]]);
    expect([mixed.success_count, mixed.fail_count]).toEqual([2, 1]);
    const byAids = await owner.call<{ results: Obj[] }>('group.batch_review_join_request', { group_id: gid, aids: [c.identity.aid], approve: true }, { sign: true });
    expect(byAids.results).toMatchObject([{ aid: c.identity.aid, ok: true, status: 'approved' }]);
    const members = await memberAids(owner, gid);
    expect(members).toEqual(expect.arrayContaining([a.identity.aid, c.identity.aid]));
    expect(members).not.toContain(b.identity.aid);
    await expect(owner.call('group.batch_review_join_request', { group_id: gid }, { sign: true })).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(owner.call('group.batch_review_join_request', { group_id: gid, requests: [{ aid: 7 }] }, { sign: true })).rejects.toMatchObject({ body: { code: -32602 } });
  });

  it('pending requests stop at join.max_pending: the next applicant is told to come back, and a review makes room', async () => {
    const { owner, gid } = await group('approval');
    await joinSettings(owner, gid, { 'join.max_pending': 2 });
    const [a, b, c] = await Promise.all([open('ma'), open('mb'), open('mc')]);
    await a.call('group.request_join', { group_id: gid }, { sign: true });
    await b.call('group.request_join', { group_id: gid }, { sign: true });
    await expect(c.call('group.request_join', { group_id: gid }, { sign: true })).rejects.toMatchObject({ body: { code: -32029 } });
    await owner.call('group.review_join_request', { group_id: gid, aid: a.identity.aid, approve: false }, { sign: true });
    expect(await c.call('group.request_join', { group_id: gid }, { sign: true })).toMatchObject({ status: 'pending' });
  });
});
