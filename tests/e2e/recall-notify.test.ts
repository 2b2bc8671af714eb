// Recall and notify through the worker, across two identities and several tabs: a recalled
// message's plaintext leaves every tab's log, each tab (and one opened later) gets exactly one
// typed recall event naming the original by id and lsn; typing notices reach only open tabs.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { aunCall, openTab, startStack, until, type Stack } from './support.ts';

type Obj = Record<string, unknown>;
let stack: Stack;
let ctxA: BrowserContext;
let ctxB: BrowserContext;
let alice1: Page;
let alice2: Page;
let bob1: Page;
let bob2: Page;
let alice: string;
let bob: string;

/** Starts collecting these events in the page under `window.seen[name]`. */
async function collect(page: Page, names: string[]): Promise<void> {
  await page.evaluate((ns) => {
    const g = globalThis as unknown as { aun: { on(e: string, h: (d: unknown) => void): void }; seen: Record<string, unknown[]> };
    g.seen = {};
    for (const n of ns) {
      g.seen[n] = [];
      g.aun.on(n, (d) => g.seen[n]!.push(d));
    }
  }, names);
}
const seen = (page: Page, name: string) => page.evaluate((n) => (globalThis as unknown as { seen: Record<string, Obj[]> }).seen[n] ?? [], name);
const NAMES = ['message', 'message.recalled', 'notify', 'group.message', 'group.message_recalled', 'group.changed'];

beforeAll(async () => {
  stack = await startStack();
  const issuer = stack.gateway.config.issuer;
  alice = `ralice${Date.now() % 1e8}.${issuer}`;
  bob = `rbob${Date.now() % 1e8}.${issuer}`;
  ctxA = await stack.browser.newContext();
  ctxB = await stack.browser.newContext();
  // All four at once, as a browser restoring a session opens them (two per new identity).
  [alice1, alice2, bob1, bob2] = await Promise.all([openTab(ctxA, stack, alice), openTab(ctxA, stack, alice), openTab(ctxB, stack, bob), openTab(ctxB, stack, bob)]);
  for (const p of [alice1, alice2, bob1, bob2]) await collect(p, NAMES);
});
afterAll(async () => {
  await ctxA?.close();
  await ctxB?.close();
  await stack?.close();
});

describe('recall through the worker', () => {
  it('an encrypted P2P message recalled by its sender leaves every tab once, and a tab opened later sees the same', async () => {
    const sent = await aunCall<{ message_id: string }>(alice1, 'send', bob, { type: 'text', text: 'regrettable words' });
    const id = sent.message_id;
    for (const p of [bob1, bob2]) await until('bob tabs get the message', async () => (await seen(p, 'message')).some((m) => m.messageId === id));
    const outcome = await aunCall<Obj>(alice1, 'recall', id);
    expect(outcome).toEqual({ recalled: [id], errors: [] });
    for (const p of [bob1, bob2, alice1, alice2]) {
      const ev = await until('a recall event', async () => (await seen(p, 'message.recalled')).find((e) => (e.messageIds as string[]).includes(id)));
      expect(ev).toMatchObject({ from: alice, messageIds: [id], originals: [{ messageId: id, lsn: expect.any(Number) }] });
    }
    // Exactly once per tab, also after the pulled copy of the notice had a chance to arrive.
    await aunCall(bob1, 'call', 'meta.ping', {});
    for (const p of [bob1, bob2, alice1, alice2]) expect((await seen(p, 'message.recalled')).filter((e) => (e.messageIds as string[]).includes(id))).toHaveLength(1);
    // Recalling again is refused per id.
    expect(await aunCall<Obj>(alice1, 'recall', id)).toMatchObject({ recalled: [], errors: [{ messageId: id, error: 'already_recalled' }] });

    const later = await openTab(ctxB, stack, bob);
    await collect(later, NAMES);
    await later.evaluate(async (aid) => {
      const aun = (globalThis as unknown as { aun: { logout(): Promise<void>; login(a: string, o: object): Promise<unknown> } }).aun;
      await aun.logout();
      await aun.login(aid, { history: true });
    }, bob);
    const replayed = await until('the later tab replays the recall', async () => (await seen(later, 'message.recalled')).filter((e) => (e.messageIds as string[]).includes(id)));
    expect(replayed).toHaveLength(1);
    const original = (await seen(later, 'message')).filter((m) => m.messageId === id);
    expect(original).toEqual([expect.objectContaining({ recalled: true, payload: {} })]);
    expect(JSON.stringify(await seen(later, 'message'))).not.toContain('regrettable words');
  });

  it('a group message recalled by its sender: one group.message_recalled per tab with the original seq', async () => {
    const group = await aunCall<Obj>(alice1, 'groups.create', 'recall team');
    const gid = String(group.group_id);
    await aunCall(alice1, 'groups.add', gid, bob);
    await until('bob joined', async () => (await seen(bob1, 'group.changed')).some((c) => c.groupId === gid && c.member === bob));
    const sent = await aunCall<{ messageId: string; seq: number }>(alice1, 'groups.send', gid, { type: 'text', text: 'group oops' });
    for (const p of [bob1, bob2]) await until('bob tabs get the group message', async () => (await seen(p, 'group.message')).some((m) => m.messageId === sent.messageId));
    expect(await aunCall<Obj>(alice1, 'groups.recall', gid, sent.messageId)).toEqual({ recalled: [sent.messageId], errors: [] });
    for (const p of [bob1, bob2, alice1, alice2]) {
      const ev = await until('a group recall event', async () => (await seen(p, 'group.message_recalled')).find((e) => e.groupId === gid));
      expect(ev).toMatchObject({ from: alice, recalledBy: alice, messageIds: [sent.messageId], seqs: [sent.seq], originals: [{ messageId: sent.messageId, lsn: expect.any(Number) }] });
    }
    await aunCall(bob1, 'call', 'meta.ping', {});
    for (const p of [bob1, bob2]) expect((await seen(p, 'group.message_recalled')).filter((e) => e.groupId === gid)).toHaveLength(1);
  });
});

describe('roles and settings through the client API', () => {
  it('setRole and settings.set (signed index) arrive as typed group.changed kinds', async () => {
    const group = await aunCall<Obj>(alice1, 'groups.create', 'admin team');
    const gid = String(group.group_id);
    await aunCall(alice1, 'groups.add', gid, bob);
    await aunCall(alice1, 'groups.setRole', gid, bob, 'admin');
    const role = await until('role_changed', async () => (await seen(bob2, 'group.changed')).find((c) => c.groupId === gid && c.action === 'role_changed'));
    expect(role).toMatchObject({ member: bob, oldRole: 'member', newRole: 'admin', actor: alice });
    expect(await aunCall(bob1, 'groups.settings.set', gid, { 'rules.content': 'Be kind', description: 'Team room' })).toEqual(['rules.content', 'description', 'group.index']);
    expect(await aunCall(alice2, 'groups.settings.get', gid, ['rules.content', 'description'])).toEqual({ 'rules.content': 'Be kind', description: 'Team room' });
    expect(await aunCall(alice1, 'groups.settings.set', gid, { 'rules.content': 'Be brief' })).toEqual(['rules.content', 'group.index']);
    const update = await until('settings change', async () => (await seen(bob2, 'group.changed')).find((c) => c.groupId === gid && c.action === 'rules_updated'));
    expect(update).toMatchObject({ keys: ['rules.content', 'group.index'] });
    const code = await aunCall<{ code: string }>(alice1, 'groups.invite', gid);
    const carolCtx = await stack.browser.newContext();
    const carol = await openTab(carolCtx, stack, `rcarol${Date.now() % 1e8}.${stack.gateway.config.issuer}`);
    expect(await aunCall(carol, 'groups.join', code.code)).toMatchObject({ status: 'joined', group: { group_id: gid } });
    await carolCtx.close();
  });
});

describe('notify through the worker', () => {
  it('a typing notice reaches the open tabs of the peer, is never logged, and is rate-limited', async () => {
    expect(await aunCall(alice1, 'notify', bob, 'typing', { thread: 'dm' })).toBe(true);
    for (const p of [bob1, bob2]) {
      const n = await until('bob tabs see typing', async () => (await seen(p, 'notify')).find((e) => e.kind === 'typing'));
      expect(n).toMatchObject({ aid: bob, from: alice, params: { thread: 'dm' } });
    }
    const lastLsn = await bob1.evaluate(() => (globalThis as unknown as { aun: { cursor: number } }).aun.cursor);
    const snap = await aunCall<{ lastLsn: number }>(bob1, 'snapshot');
    expect(snap.lastLsn).toBe(lastLsn);
    const results = await alice1.evaluate(async (to) => {
      const aun = (globalThis as unknown as { aun: { notify(t: string, k: string): Promise<boolean> } }).aun;
      const out: string[] = [];
      for (let i = 0; i < 30; i++) out.push(await aun.notify(to, 'typing').then(() => 'ok', (e: Error) => e.name));
      return out;
    }, bob);
    expect(results).toContain('RateLimitError');
  });
});
