// Offline push in the dev gateway (spec push.md): push config from auth.connect and
// push.update_config, the allow-list and same-domain rule, the aggregator's triggers, rate limits,
// in-flight slot and ack timeout, an offline agent, and the config surviving a restart.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import type { PushSettings } from '../../gateway/push-aggregator.ts';
import { Identity, Session } from '../support/aun-client.ts';
import { loggedIn, newAid } from '../support/gateway.ts';

interface Item { target_aid: string; push_token: string; summary: { unread_count: number; senders: string[]; latest_ts: number; group_ids: string[] } }
interface Batch { batch_id: string; items: Item[] }

const dirs: string[] = [];
const gateways: Gateway[] = [];
const sessions: Session[] = [];
afterEach(async () => {
  sessions.splice(0).forEach((s) => s.close());
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const FAST: Partial<PushSettings> = { windowMs: 100, cooldownMs: 60_000 };

interface Stack {
  gw: Gateway;
  agentId: Identity;
  agent: Session;
  alice: Session;
}

/** A gateway whose allow-list is a fresh push agent (connected) plus `alsoAllowed`, and a sender. */
async function stack(push: Partial<PushSettings> = FAST, alsoAllowed: string[] = []): Promise<Stack> {
  const agentAid = newAid('notifier');
  const gw = await startGateway({ dataDir: ':memory:', pushAgents: [agentAid, ...alsoAllowed], push });
  gateways.push(gw);
  const agentId = new Identity(agentAid);
  await agentId.register(gw.url);
  await agentId.login(gw.url, gw.httpUrl, gw.rootPem);
  const agent = await open(gw, agentId);
  const alice = await open(gw, await loggedIn(gw, 'alice'));
  return { gw, agentId, agent, alice };
}

async function open(gw: Gateway, id: Identity, opts: Parameters<typeof Session.open>[2] = {}): Promise<Session> {
  const s = await Session.open(gw.url, id, opts);
  sessions.push(s);
  return s;
}

/** A target that connected once with a push config for `agent`, then went offline. */
async function offlineTarget(s: Stack, token: string, agent = s.agentId.aid, prefix = 'bob'): Promise<Identity> {
  const id = await loggedIn(s.gw, prefix);
  const t = await open(s.gw, id, { extra: { push_notify_aid: agent, push_token: token } });
  await goOffline(s, t);
  return id;
}

async function goOffline(s: Stack, t: Session): Promise<void> {
  t.close();
  await t.closed;
  for (let i = 0; i < 100; i++) {
    const r = await s.alice.call<{ online: Record<string, boolean> }>('message.query_online', { aids: [t.identity.aid] });
    if (!r.online[t.identity.aid]) return;
    await new Promise((r2) => setTimeout(r2, 20));
  }
  throw new Error(`${t.identity.aid} still online`);
}

function batches(agent: Session): Batch[] {
  return agent.eventsNamed('push.offline_message') as unknown as Batch[];
}

function itemsFor(agent: Session, aid: string): Item[] {
  return batches(agent).flatMap((b) => b.items.filter((i) => i.target_aid === aid));
}

async function waitItem(agent: Session, aid: string, n = 1, timeoutMs = 5000): Promise<Item> {
  return agent.until(() => itemsFor(agent, aid)[n - 1], timeoutMs, `push item #${n} for ${aid}`);
}

async function ackAll(agent: Session): Promise<void> {
  for (const b of batches(agent)) await agent.call('push.ack', { batch_id: b.batch_id });
}

const send = (from: Session, to: string, text: string, messageId?: string) =>
  from.call('message.send', { to, payload: { type: 'text', text }, ...(messageId ? { message_id: messageId } : {}) });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('offline push: the event', () => {
  it('sends one batch with the target, its token and metadata only, and push.ack frees the slot', async () => {
    const s = await stack();
    const bob = await offlineTarget(s, 'tok-bob');
    const before = Math.floor(Date.now() / 1000);
    await send(s.alice, bob.aid, 'the secret plan', 'm-secret-1');
    const item = await waitItem(s.agent, bob.aid);
    expect(item).toEqual({
      target_aid: bob.aid,
      push_token: 'tok-bob',
      summary: { unread_count: 1, senders: [s.alice.identity.aid], latest_ts: expect.any(Number), group_ids: [] },
    });
    expect(item.summary.latest_ts).toBeGreaterThanOrEqual(before - 1);
    expect(item.summary.latest_ts).toBeLessThan(1e11); // seconds, not ms
    const raw = JSON.stringify(s.agent.events);
    expect(raw).not.toContain('secret plan');
    expect(raw).not.toContain('m-secret-1');
    const [batch] = batches(s.agent);
    expect(batch!.batch_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await s.agent.call('push.ack', { batch_id: batch!.batch_id })).toEqual({ success: true });
    // Acking again or an unknown id is a no-op, not an error.
    expect(await s.agent.call('push.ack', { batch_id: batch!.batch_id })).toEqual({ success: true });
    expect(await s.agent.call('push.ack', { batch_id: 'nope' })).toEqual({ success: true });
  });

  it('lists the group for a group message, once per offline member', async () => {
    const s = await stack();
    const bob = await offlineTarget(s, 'tok-bob');
    const { group } = await s.alice.call<{ group: { group_id: string } }>('group.create', { name: 'push' });
    await s.alice.call('group.add_member', { group_id: group.group_id, aid: bob.aid });
    await s.alice.call('group.send', { group_id: group.group_id, payload: { type: 'text', text: 'group secret' } });
    const item = await waitItem(s.agent, bob.aid);
    expect(item.summary).toMatchObject({ unread_count: 1, senders: [s.alice.identity.aid], group_ids: [group.group_id] });
    expect(JSON.stringify(s.agent.events)).not.toContain('group secret');
  });

  it('refuses malformed push.ack and push.update_config params', async () => {
    const s = await stack();
    await expect(s.agent.call('push.ack', {})).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(s.agent.call('push.ack', { batch_id: 42 })).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(s.alice.call('push.update_config', { push_notify_aid: s.agentId.aid })).rejects.toMatchObject({ body: { code: -32602 } });
    await expect(s.alice.call('push.update_config', { push_notify_aid: 1, push_token: 2 })).rejects.toMatchObject({ body: { code: -32602 } });
  });
});

describe('offline push: online rules', () => {
  it('pushes nothing while any device of the target is online', async () => {
    const s = await stack();
    const bobId = await offlineTarget(s, 'tok-bob');
    const carol = await offlineTarget(s, 'tok-carol', s.agentId.aid, 'carol');
    const bobOther = await open(s.gw, bobId, { deviceId: 'other-device' });
    await send(s.alice, bobId.aid, 'seen live');
    await bobOther.waitEvent('message.received');
    // Carol's push is the barrier: events are ordered, so a push for bob would have come first.
    await send(s.alice, carol.aid, 'barrier');
    await waitItem(s.agent, carol.aid);
    expect(itemsFor(s.agent, bobId.aid)).toEqual([]);
  });

  it('empties the bucket when the target comes online: the count starts again', async () => {
    const s = await stack();
    const bobId = await offlineTarget(s, 'tok-bob');
    await send(s.alice, bobId.aid, 'one');
    await waitItem(s.agent, bobId.aid);
    await ackAll(s.agent);
    await send(s.alice, bobId.aid, 'two (cooling down)');
    const back = await open(s.gw, bobId);
    await goOffline(s, back);
    await send(s.alice, bobId.aid, 'three');
    const item = await waitItem(s.agent, bobId.aid, 2);
    expect(item.summary.unread_count).toBe(1);
  });
});

describe('offline push: aggregation', () => {
  it('pushes the first message at once, then one cumulative push when the cooldown ends (dedup)', async () => {
    const s = await stack({ windowMs: 50, cooldownMs: 1_000 });
    const bob = await offlineTarget(s, 'tok-bob');
    const carol = await open(s.gw, await loggedIn(s.gw, 'carol'));
    await send(s.alice, bob.aid, 'first');
    await waitItem(s.agent, bob.aid);
    const firstAt = Date.now();
    await ackAll(s.agent);
    await send(s.alice, bob.aid, 'second');
    await send(carol, bob.aid, 'third');
    await send(s.alice, bob.aid, 'fourth');
    const merged = await waitItem(s.agent, bob.aid, 2);
    expect(Date.now() - firstAt).toBeGreaterThanOrEqual(900);
    expect(merged.summary.unread_count).toBe(4); // cumulative since bob went offline
    expect(merged.summary.senders).toEqual([s.alice.identity.aid, carol.identity.aid]);
    expect(itemsFor(s.agent, bob.aid)).toHaveLength(2);
  });

  it('counts a message once however often it is sent', async () => {
    const s = await stack({ windowMs: 50, cooldownMs: 500 });
    const bob = await offlineTarget(s, 'tok-bob');
    await send(s.alice, bob.aid, 'a', 'dup-1');
    await waitItem(s.agent, bob.aid);
    await ackAll(s.agent);
    await send(s.alice, bob.aid, 'b', 'dup-2');
    await send(s.alice, bob.aid, 'b', 'dup-2');
    const item = await waitItem(s.agent, bob.aid, 2);
    expect(item.summary.unread_count).toBe(2);
  });

  /** An offline agent leaves the target's bucket with one unsent message, so the next ones are "later". */
  async function afterADrop(push: Partial<PushSettings>): Promise<{ s: Stack; agent: Session; bob: Identity }> {
    const s = await stack(push);
    const bob = await offlineTarget(s, 'tok-bob');
    s.agent.close();
    await s.agent.closed;
    await send(s.alice, bob.aid, 'dropped');
    return { s, agent: await open(s.gw, s.agentId), bob };
  }

  it('holds later messages for the aggregation window', async () => {
    const { s, agent, bob } = await afterADrop({ windowMs: 1_500, cooldownMs: 60_000 });
    const sentAt = Date.now();
    await send(s.alice, bob.aid, 'waits for the window');
    const windowed = await waitItem(agent, bob.aid);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1_000);
    expect(windowed.summary.unread_count).toBe(2);
  });

  it('sends a bucket that reaches the burst size at once, without waiting for the window', async () => {
    const { s, agent, bob } = await afterADrop({ windowMs: 60_000, burst: 3, cooldownMs: 60_000 });
    await send(s.alice, bob.aid, 'two');
    await send(s.alice, bob.aid, 'three: the burst');
    const burst = await waitItem(agent, bob.aid);
    expect(burst.summary.unread_count).toBe(3);
  });
});

describe('offline push: backpressure and limits', () => {
  it('keeps one batch in flight per agent until push.ack', async () => {
    const s = await stack();
    const bob = await offlineTarget(s, 'tok-bob');
    const carol = await offlineTarget(s, 'tok-carol', s.agentId.aid, 'carol');
    const dave = await offlineTarget(s, 'tok-dave', s.agentId.aid, 'dave');
    await send(s.alice, bob.aid, 'x');
    await waitItem(s.agent, bob.aid);
    await send(s.alice, carol.aid, 'y');
    await send(s.alice, dave.aid, 'z');
    await sleep(300);
    expect(batches(s.agent)).toHaveLength(1);
    await s.agent.call('push.ack', { batch_id: batches(s.agent)[0]!.batch_id });
    await s.agent.until(() => batches(s.agent)[1], 5000, 'second batch');
    // Both waiting targets ride in the one next batch.
    expect(batches(s.agent)[1]!.items.map((i) => i.target_aid).sort()).toEqual([carol.aid, dave.aid].sort());
  });

  it('caps a batch at batch_size items', async () => {
    const s = await stack({ ...FAST, batchSize: 2 });
    const blocker = await offlineTarget(s, 'tok-0', s.agentId.aid, 'zed');
    const targets = [
      await offlineTarget(s, 'tok-1'), await offlineTarget(s, 'tok-2', s.agentId.aid, 'carol'), await offlineTarget(s, 'tok-3', s.agentId.aid, 'dave'),
    ];
    await send(s.alice, blocker.aid, 'hold the slot');
    await waitItem(s.agent, blocker.aid);
    for (const t of targets) await send(s.alice, t.aid, 'm');
    await ackAll(s.agent);
    await s.agent.until(() => batches(s.agent)[1], 5000, 'second batch');
    expect(batches(s.agent)[1]!.items).toHaveLength(2);
    await s.agent.call('push.ack', { batch_id: batches(s.agent)[1]!.batch_id });
    await s.agent.until(() => batches(s.agent)[2], 5000, 'third batch');
    expect(batches(s.agent)[2]!.items).toHaveLength(1);
  });

  it('frees the slot after ack_timeout without re-sending the unacked batch', async () => {
    const s = await stack({ ...FAST, ackTimeoutMs: 600 });
    const bob = await offlineTarget(s, 'tok-bob');
    const carol = await offlineTarget(s, 'tok-carol', s.agentId.aid, 'carol');
    await send(s.alice, bob.aid, 'never acked');
    await waitItem(s.agent, bob.aid);
    const firstAt = Date.now();
    await send(s.alice, carol.aid, 'after the timeout');
    await waitItem(s.agent, carol.aid);
    expect(Date.now() - firstAt).toBeGreaterThanOrEqual(500);
    expect(batches(s.agent)).toHaveLength(2);
    expect(itemsFor(s.agent, bob.aid)).toHaveLength(1);
    // A late ack of the timed-out batch is harmless.
    expect(await s.agent.call('push.ack', { batch_id: batches(s.agent)[0]!.batch_id })).toEqual({ success: true });
  });

  it('an AID acking a batch sent to another agent gets a permission error', async () => {
    const s = await stack();
    const bob = await offlineTarget(s, 'tok-bob');
    await send(s.alice, bob.aid, 'x');
    await waitItem(s.agent, bob.aid);
    await expect(s.alice.call('push.ack', { batch_id: batches(s.agent)[0]!.batch_id })).rejects.toMatchObject({ body: { code: -32004 } });
  });

  it('rate-limits items per push agent: the excess is deferred, not dropped', async () => {
    const s = await stack({ ...FAST, agentRate: 2, rateWindowMs: 1_500 });
    const [bob, carol, dave] = [
      await offlineTarget(s, 'tok-bob'), await offlineTarget(s, 'tok-carol', s.agentId.aid, 'carol'), await offlineTarget(s, 'tok-dave', s.agentId.aid, 'dave'),
    ];
    await send(s.alice, bob!.aid, 'x');
    await waitItem(s.agent, bob!.aid);
    const firstAt = Date.now();
    await ackAll(s.agent);
    await send(s.alice, carol!.aid, 'y');
    await waitItem(s.agent, carol!.aid);
    await s.agent.call('push.ack', { batch_id: batches(s.agent)[1]!.batch_id });
    await send(s.alice, dave!.aid, 'z');
    await waitItem(s.agent, dave!.aid);
    expect(Date.now() - firstAt).toBeGreaterThanOrEqual(1_300);
  });

  it('rate-limits items gateway-wide across agents', async () => {
    const second = newAid('notifier2');
    const s = await stack({ ...FAST, globalRate: 1, rateWindowMs: 1_500 }, [second]);
    const secondId = new Identity(second);
    await secondId.register(s.gw.url);
    await secondId.login(s.gw.url, s.gw.httpUrl, s.gw.rootPem);
    const agent2 = await open(s.gw, secondId);
    const bob = await offlineTarget(s, 'tok-bob');
    const carol = await offlineTarget(s, 'tok-carol', second, 'carol');
    await send(s.alice, bob.aid, 'x');
    await waitItem(s.agent, bob.aid);
    const firstAt = Date.now();
    await send(s.alice, carol.aid, 'y');
    await waitItem(agent2, carol.aid);
    expect(Date.now() - firstAt).toBeGreaterThanOrEqual(1_300);
  });
});

describe('offline push: who may receive', () => {
  it('ignores a push agent that is not on the allow-list, silently', async () => {
    const s = await stack();
    const evil = await open(s.gw, await loggedIn(s.gw, 'evil'));
    const bobId = await loggedIn(s.gw, 'bob');
    const bob = await open(s.gw, bobId, { extra: { push_notify_aid: evil.identity.aid, push_token: 'tok' } });
    expect(bob.hello.status).toBe('ok');
    expect(await bob.call('push.update_config', { push_notify_aid: evil.identity.aid, push_token: 'tok' })).toEqual({ success: true, stored: false });
    await goOffline(s, bob);
    const carol = await offlineTarget(s, 'tok-carol', s.agentId.aid, 'carol');
    await send(s.alice, bobId.aid, 'x');
    await send(s.alice, carol.aid, 'barrier');
    await waitItem(s.agent, carol.aid);
    expect(evil.eventsNamed('push.offline_message')).toEqual([]);
    expect(itemsFor(s.agent, bobId.aid)).toEqual([]);
  });

  it('ignores an allowed agent of another domain, a lone field, and an oversized token', async () => {
    const foreign = 'notifier.other.example';
    const s = await stack(FAST, [foreign]);
    const bob = await open(s.gw, await loggedIn(s.gw, 'bob'));
    expect(await bob.call('push.update_config', { push_notify_aid: foreign, push_token: 't' })).toEqual({ success: true, stored: false });
    expect(await bob.call('push.update_config', { push_notify_aid: s.agentId.aid, push_token: 'x'.repeat(4097) })).toEqual({ success: true, stored: false });
    expect(await bob.call('push.update_config', { push_notify_aid: s.agentId.aid, push_token: '' })).toEqual({ success: true, stored: false });
    expect(await bob.call('push.update_config', { push_notify_aid: s.agentId.aid, push_token: 't' })).toEqual({ success: true, stored: true });
    await goOffline(s, bob);
    // A connect with only one of the two fields changes nothing.
    const again = await open(s.gw, bob.identity, { extra: { push_token: 'lonely' } });
    await goOffline(s, again);
    await send(s.alice, bob.identity.aid, 'x');
    expect((await waitItem(s.agent, bob.identity.aid)).push_token).toBe('t');
  });

  it('with an empty allow-list nothing is stored or pushed', async () => {
    const gw = await startGateway({ dataDir: ':memory:' });
    gateways.push(gw);
    const bob = await open(gw, await loggedIn(gw, 'bob'));
    expect(await bob.call('push.update_config', { push_notify_aid: `notifier.${gw.config.issuer}`, push_token: 't' })).toEqual({ success: true, stored: false });
  });

  it('drops the event while the agent is offline; the count rides along with the next batch', async () => {
    const s = await stack();
    const bob = await offlineTarget(s, 'tok-bob');
    s.agent.close();
    await s.agent.closed;
    await send(s.alice, bob.aid, 'nobody listens');
    await sleep(200);
    const agent = await open(s.gw, s.agentId);
    await sleep(200);
    expect(agent.eventsNamed('push.offline_message')).toEqual([]); // not stored, not replayed
    await send(s.alice, bob.aid, 'now');
    const item = await waitItem(agent, bob.aid);
    expect(item.summary.unread_count).toBe(2);
  });
});

describe('offline push: config', () => {
  it('push.update_config changes the token without reconnecting, and clears it', async () => {
    const s = await stack({ windowMs: 50, cooldownMs: 200 });
    const bobId = await loggedIn(s.gw, 'bob');
    const bob = await open(s.gw, bobId, { extra: { push_notify_aid: s.agentId.aid, push_token: 'old' } });
    expect(await bob.call('push.update_config', { push_notify_aid: s.agentId.aid, push_token: 'new' })).toEqual({ success: true, stored: true });
    await goOffline(s, bob);
    await send(s.alice, bobId.aid, 'x');
    expect((await waitItem(s.agent, bobId.aid)).push_token).toBe('new');
    await ackAll(s.agent);

    // A connect without push fields (a stock SDK device) leaves the config alone.
    const plain = await open(s.gw, bobId, { deviceId: 'sdk' });
    await goOffline(s, plain);
    await send(s.alice, bobId.aid, 'y');
    expect((await waitItem(s.agent, bobId.aid, 2)).push_token).toBe('new');
    await ackAll(s.agent);

    const clearing = await open(s.gw, bobId);
    expect(await clearing.call('push.update_config', {})).toEqual({ success: true, stored: false });
    await goOffline(s, clearing);
    const carol = await offlineTarget(s, 'tok-carol', s.agentId.aid, 'carol');
    await send(s.alice, bobId.aid, 'z');
    await send(s.alice, carol.aid, 'barrier');
    await waitItem(s.agent, carol.aid);
    expect(itemsFor(s.agent, bobId.aid)).toHaveLength(2);
  });

  it('keeps the config across a gateway restart on the same data dir', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aun-gw-push-'));
    dirs.push(dir);
    const agentAid = newAid('notifier');
    let gw = await startGateway({ dataDir: dir, pushAgents: [agentAid], push: FAST });
    const agentId = new Identity(agentAid);
    await agentId.register(gw.url);
    await agentId.login(gw.url, gw.httpUrl, gw.rootPem);
    const bobId = await loggedIn(gw, 'bob');
    const aliceId = await loggedIn(gw, 'alice');
    const bob = await Session.open(gw.url, bobId, { extra: { push_notify_aid: agentAid, push_token: 'tok-kept' } });
    bob.close();
    await bob.closed;
    await gw.close();

    gw = await startGateway({ dataDir: dir, pushAgents: [agentAid], push: FAST });
    gateways.push(gw);
    const agent = await open(gw, agentId);
    const alice = await open(gw, aliceId);
    await send(alice, bobId.aid, 'after the restart');
    const item = await waitItem(agent, bobId.aid);
    expect(item).toMatchObject({ push_token: 'tok-kept', summary: { unread_count: 1 } });
  });
});
