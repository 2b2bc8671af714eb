// The owner's session carries the offline-push config on every auth.connect, read afresh at each
// reconnect, against the real dev gateway: the gateway's next batch carries the latest token.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../../gateway/server.ts';
import { startGateway } from '../../../gateway/server.ts';
import { GatewaySession } from '../../../worker/session/session.ts';
import type { OfflinePushConfig } from '../../../worker/session/push-config.ts';
import { MemoryTokenCache } from '../../../worker/session/tokens.ts';
import { Identity, Session } from '../../support/aun-client.ts';
import { adminPost, loggedIn, newAid, stats } from '../../support/gateway.ts';
import { WS, registered, trustOf } from '../auth/helpers.ts';

let gw: Gateway;
const agentAid = newAid('notifier');
const closers: (() => void)[] = [];

beforeAll(async () => {
  gw = await startGateway({ dataDir: ':memory:', admin: true, pushAgents: [agentAid], push: { windowMs: 50 } });
});
afterAll(async () => {
  closers.forEach((c) => c());
  await gw.close();
});

function ready(s: GatewaySession): Promise<void> {
  if (s.state === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const off = s.onStateChange((c) => { if (c.state === 'ready') { off(); resolve(); } });
  });
}

async function longConnectionsOf(aid: string): Promise<number> {
  return (await stats(gw)).connections.filter((c) => c.aid === aid && c.kind === 'long').length;
}

describe('GatewaySession push option', () => {
  it('sends the current push config in every auth.connect, including reconnects', async () => {
    const agentId = new Identity(agentAid);
    await agentId.register(gw.url);
    await agentId.login(gw.url, gw.httpUrl, gw.rootPem);
    const agent = await Session.open(gw.url, agentId);
    closers.push(() => agent.close());
    const alice = await Session.open(gw.url, await loggedIn(gw, 'alice'));
    closers.push(() => alice.close());

    const bob = await registered(gw, 'bob');
    let config: OfflinePushConfig | null = { push_notify_aid: agentAid, push_token: 'tok-first' };
    const s = new GatewaySession({
      url: gw.url, credentials: bob, trust: trustOf(gw), tokens: new MemoryTokenCache(), deviceId: 'browser-1', WebSocketImpl: WS,
      backoff: { baseMs: 50, maxMs: 200 }, push: () => config,
    });
    closers.push(() => s.close());
    s.start();
    await ready(s);

    // The app renewed its token; the next reconnect (here after a dropped socket) must carry it.
    config = { push_notify_aid: agentAid, push_token: 'tok-renewed' };
    await adminPost(gw, 'drop');
    await new Promise((r) => setTimeout(r, 100));
    await ready(s);
    s.close();
    for (let i = 0; i < 100 && (await longConnectionsOf(bob.aid)) > 0; i++) await new Promise((r) => setTimeout(r, 20));

    // The drop also cut the agent and alice: reopen them.
    const agent2 = await Session.open(gw.url, agentId);
    closers.push(() => agent2.close());
    const alice2 = await Session.open(gw.url, alice.identity);
    closers.push(() => alice2.close());
    await alice2.call('message.send', { to: bob.aid, payload: { type: 'text', text: 'x' } });
    const batch = await agent2.waitEvent('push.offline_message');
    expect((batch.items as { target_aid: string; push_token: string }[])[0]).toMatchObject({ target_aid: bob.aid, push_token: 'tok-renewed' });
  });
});
