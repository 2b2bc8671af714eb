// The push agent (push-agent/) against the dev gateway and a test Web Push service on loopback:
// token issue and checks, VAPID + aes128gcm pushes carrying metadata only, acks, dead
// subscriptions, the registration endpoint's validation and the agent's persisted state.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startPushAgent, type PushAgent, type PushAgentOptions } from '../../push-agent/agent.ts';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { Session, type Identity } from '../support/aun-client.ts';
import { loggedIn, newAid } from '../support/gateway.ts';
import { TestPushService, type FakeSubscription } from '../support/push-service.ts';

const closers: (() => unknown)[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

interface Rig { gw: Gateway; agent: PushAgent; pushes: TestPushService; alice: Session; agentAid: string }

async function rig(agentOpts: Partial<PushAgentOptions> = {}, agentAid = newAid('notifier')): Promise<Rig> {
  const gw = await startGateway({ dataDir: ':memory:', pushAgents: [agentAid], push: { windowMs: 50, cooldownMs: 300 } });
  closers.push(() => gw.close());
  const pushes = await TestPushService.start();
  closers.push(() => pushes.close());
  const agent = await startPushAgent({ aid: agentAid, gatewayUrl: gw.url, rootPem: gw.rootPem, dataDir: null, ...agentOpts });
  closers.push(() => agent.close());
  await agent.ready;
  const alice = await Session.open(gw.url, await loggedIn(gw, 'alice'));
  closers.push(() => alice.close());
  return { gw, agent, pushes, alice, agentAid };
}

async function subscribe(agent: PushAgent, aid: string, sub: unknown): Promise<Response> {
  return fetch(`${agent.httpUrl}/subscribe`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ aid, subscription: sub }) });
}

/** Registers a fresh subscription for a new AID, connects once with the token, goes offline. */
async function offlineWithPush(r: Rig, prefix = 'bob', token?: string): Promise<{ id: Identity; sub: FakeSubscription; token: string; expires: number }> {
  const id = await loggedIn(r.gw, prefix);
  const sub = r.pushes.subscribe();
  const res = await subscribe(r.agent, id.aid, sub);
  expect(res.status).toBe(200);
  const reg = await res.json() as { push_notify_aid: string; push_token: string; expires_at: number; vapid_public_key: string };
  expect(reg.push_notify_aid).toBe(r.agentAid);
  expect(reg.vapid_public_key).toBe(r.agent.vapidPublicKey);
  const s = await Session.open(r.gw.url, id, { extra: { push_notify_aid: r.agentAid, push_token: token ?? reg.push_token } });
  s.close();
  await s.closed;
  for (let i = 0; i < 100; i++) {
    const q = await r.alice.call<{ online: Record<string, boolean> }>('message.query_online', { aids: [id.aid] });
    if (!q.online[id.aid]) break;
    await new Promise((res2) => setTimeout(res2, 20));
  }
  return { id, sub, token: reg.push_token, expires: reg.expires_at };
}

async function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('push agent', () => {
  it('turns an offline message into one encrypted, VAPID-signed Web Push with metadata only, then acks', async () => {
    const r = await rig();
    const bob = await offlineWithPush(r);
    expect(bob.expires).toBeGreaterThan(Date.now() / 1000 + 6 * 86_400);
    await r.alice.call('message.send', { to: bob.id.aid, payload: { type: 'text', text: 'the launch code is 1234' }, message_id: 'm-launch' });
    const push = await r.pushes.waitFor(1);
    expect(push.endpoint).toBe(bob.sub.endpoint);
    expect(push.headers['content-encoding']).toBe('aes128gcm');
    expect(Number(push.headers.ttl)).toBeGreaterThan(0);
    expect(push.headers.topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    expect(push.vapidKey).toBe(r.agent.vapidPublicKey);
    expect(push.vapid.aud).toBe(r.pushes.origin);
    expect(push.vapid.sub).toMatch(/^mailto:/);
    expect(push.vapid.exp).toBeGreaterThan(Date.now() / 1000);
    expect(JSON.parse(push.plaintext)).toEqual({
      v: 1, target_aid: bob.id.aid, unread_count: 1, senders: [r.alice.identity.aid], sender_count: 1,
      latest_ts: expect.any(Number), group_ids: [],
    });
    expect(push.plaintext).not.toContain('launch code');
    expect(push.plaintext).not.toContain('m-launch');
    expect(push.body.toString('latin1')).not.toContain('launch');
    await until(() => r.agent.stats().acked === 1, 'the ack');
    // The ack freed the agent's slot: a second target is pushed right away (ack_timeout is 30 s).
    const carol = await offlineWithPush(r, 'carol');
    await r.alice.call('message.send', { to: carol.id.aid, payload: { type: 'text', text: 'hi' } });
    expect((await r.pushes.waitFor(2)).endpoint).toBe(carol.sub.endpoint);
  });

  it('drops an item whose token names another AID or is forged, and still acks the batch', async () => {
    const r = await rig();
    const bob = await offlineWithPush(r);
    // Carol presents bob's token: the agent must not route carol's summaries to bob's browser.
    const carol = await offlineWithPush(r, 'carol', bob.token);
    const [head, payload, sig] = bob.token.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), aid: 'dave' })).toString('base64url');
    const dave = await offlineWithPush(r, 'dave', `${head}.${forgedPayload}.${sig}`);
    await r.alice.call('message.send', { to: carol.id.aid, payload: { type: 'text', text: 'x' } });
    await until(() => r.agent.stats().acked === 1, 'the first ack');
    await r.alice.call('message.send', { to: dave.id.aid, payload: { type: 'text', text: 'y' } });
    await until(() => r.agent.stats().acked === 2, 'the second ack');
    expect(r.agent.stats()).toMatchObject({ batches: 2, delivered: 0, dropped: 2 });
    expect(r.pushes.received).toEqual([]);
  });

  it('drops expired tokens', async () => {
    const r = await rig({ tokenTtl: 1 });
    const bob = await offlineWithPush(r);
    await until(() => Date.now() / 1000 > bob.expires + 0.1, 'expiry', 5_000);
    await r.alice.call('message.send', { to: bob.id.aid, payload: { type: 'text', text: 'late' } });
    await until(() => r.agent.stats().acked === 1, 'the ack');
    expect(r.agent.stats()).toMatchObject({ delivered: 0, dropped: 1 });
  });

  it('forgets a subscription the push service calls gone (410)', async () => {
    const r = await rig();
    const bob = await offlineWithPush(r);
    r.pushes.statusFor.set(bob.sub.endpoint, 410);
    await r.alice.call('message.send', { to: bob.id.aid, payload: { type: 'text', text: 'one' } });
    await r.pushes.waitFor(1);
    await until(() => r.agent.stats().acked === 1, 'the first ack');
    await new Promise((res) => setTimeout(res, 400)); // past the 300 ms cooldown
    await r.alice.call('message.send', { to: bob.id.aid, payload: { type: 'text', text: 'two' } });
    await until(() => r.agent.stats().acked === 2, 'the second ack');
    expect(r.pushes.received).toHaveLength(1);
    expect(r.agent.stats().dropped).toBe(2);
  });

  it('validates registrations', async () => {
    const r = await rig();
    const key = await (await fetch(`${r.agent.httpUrl}/vapid-public-key`)).json() as { public_key: string; push_notify_aid: string };
    expect(key).toEqual({ public_key: r.agent.vapidPublicKey, push_notify_aid: r.agentAid });
    expect(Buffer.from(key.public_key, 'base64url')).toHaveLength(65);
    const good = r.pushes.subscribe();
    const bob = newAid('bob');
    expect((await subscribe(r.agent, 'bob.other.example', good)).status).toBe(400);
    expect((await subscribe(r.agent, 'not an aid', good)).status).toBe(400);
    expect((await subscribe(r.agent, bob, { ...good, endpoint: 'http://example.com/push' })).status).toBe(400);
    expect((await subscribe(r.agent, bob, { ...good, keys: { p256dh: 'AAAA', auth: good.keys.auth } })).status).toBe(400);
    expect((await subscribe(r.agent, bob, { ...good, keys: { p256dh: good.keys.p256dh } })).status).toBe(400);
    expect((await fetch(`${r.agent.httpUrl}/subscribe`, { method: 'POST', body: 'x'.repeat(20_000) })).status).toBe(400);
    expect((await fetch(`${r.agent.httpUrl}/subscribe`, { method: 'POST', body: '[1]' })).status).toBe(400);
    const ok = await subscribe(r.agent, bob, good);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('*');
    const gone = await fetch(`${r.agent.httpUrl}/unsubscribe`, { method: 'POST', body: JSON.stringify({ endpoint: good.endpoint }) });
    expect(await gone.json()).toEqual({ removed: true });
  });

  it('keeps its identity, VAPID key and subscriptions across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aun-push-agent-'));
    dirs.push(dir);
    const agentAid = newAid('notifier');
    const r = await rig({ dataDir: dir }, agentAid);
    const bob = await offlineWithPush(r);
    await r.agent.close();
    const again = await startPushAgent({ aid: agentAid, gatewayUrl: r.gw.url, dataDir: dir });
    closers.push(() => again.close());
    await again.ready;
    expect(again.vapidPublicKey).toBe(r.agent.vapidPublicKey);
    await r.alice.call('message.send', { to: bob.id.aid, payload: { type: 'text', text: 'after restart' } });
    expect((await r.pushes.waitFor(1)).endpoint).toBe(bob.sub.endpoint);
  });
});
