// Offline push end to end in Chromium: the demo's "Notify me when closed", every tab closed, a
// message → the gateway's batch → the push agent's Web Push to a test push service on loopback →
// the decrypted payload delivered to the demo's service worker (CDP ServiceWorker.deliverPushMessage)
// → a notification with no message text → its URL opens the app on the conversation, once.
//
// Headless Chromium has no reachable push service, so the page's PushManager.subscribe is replaced
// (window.__aunPushSubscribe) by a subscription whose keys the test push service holds: the agent's
// VAPID signature and aes128gcm encryption are checked for real there, and the plaintext the browser
// would have decrypted is what CDP hands the service worker.

import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPushAgent, type PushAgent } from '../../push-agent/agent.ts';
import { Session } from '../support/aun-client.ts';
import { loggedIn, newAid } from '../support/gateway.ts';
import { TestPushService } from '../support/push-service.ts';
import { longConnections, openTab, startStack, type Stack } from './support.ts';

let stack: Stack;
let agent: PushAgent;
let pushes: TestPushService;
const agentAid = newAid('notifier');

beforeAll(async () => {
  stack = await startStack({ pushAgents: [agentAid], push: { windowMs: 100 } });
  pushes = await TestPushService.start();
  agent = await startPushAgent({ aid: agentAid, gatewayUrl: stack.gateway.url, rootPem: stack.gateway.rootPem, dataDir: null });
  await agent.ready;
});

afterAll(async () => {
  await agent?.close();
  await pushes?.close();
  await stack?.close();
});

async function until<T>(probe: () => Promise<T | undefined | false>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface ShownNotification { title: string; body: string; tag: string; data: { url: string; target_aid: string } }

/** Every notification the origin's service workers show, read through a same-origin page. */
function notifications(page: Page): Promise<ShownNotification[]> {
  return page.evaluate(async () => {
    const regs = await navigator.serviceWorker.getRegistrations();
    const all = await Promise.all(regs.map((r) => r.getNotifications()));
    return all.flat().map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data as ShownNotification['data'] }));
  });
}

describe('offline push in Chromium', () => {
  it('notifies a closed app with metadata only, and the click opens the conversation with the message once', async () => {
    const ctx: BrowserContext = await stack.browser.newContext();
    try {
      await ctx.grantPermissions(['notifications'], { origin: stack.appUrl });
      const sub = pushes.subscribe();
      await ctx.addInitScript((s) => { (globalThis as { __aunPushSubscribe?: unknown }).__aunPushSubscribe = async () => s; }, sub);
      const bob = newAid('bob');
      const tab = await openTab(ctx, stack, bob, { push_agent: agent.httpUrl });
      await tab.click('#notify-closed');
      await tab.waitForSelector('#notify-closed-label[data-state="on"]', { timeout: 30_000 }).catch(async (err: Error) => {
        throw new Error(`${err.message}\npage error line: ${await tab.locator('#error').textContent()}`);
      });

      // Every tab closed: the owner goes away and the gateway sees bob offline.
      await tab.close();
      await until(async () => (await longConnections(stack, bob)).length === 0, 'bob offline');

      const alice = await Session.open(stack.gateway.url, await loggedIn(stack.gateway, 'alice'));
      const text = 'the meeting moved to noon';
      await alice.call('message.send', { to: bob, payload: { type: 'text', text } });
      const push = await pushes.waitFor(1, 30_000);
      expect(push.endpoint).toBe(sub.endpoint);
      expect(push.vapidKey).toBe(agent.vapidPublicKey);
      expect(push.plaintext).not.toContain('noon');
      expect(JSON.parse(push.plaintext)).toMatchObject({ target_aid: bob, unread_count: 1, senders: [alice.identity.aid] });
      await until(async () => agent.stats().acked === 1, 'the push agent\'s ack');
      alice.close();

      // A same-origin page that is not the app, to reach the service worker through CDP.
      const probe = await ctx.newPage();
      await probe.goto(`${stack.appUrl}/favicon.svg`);
      const cdp = await ctx.newCDPSession(probe);
      const regs: { registrationId: string; scopeURL: string; isDeleted: boolean }[] = [];
      cdp.on('ServiceWorker.workerRegistrationUpdated', (e: { registrations: typeof regs }) => regs.push(...e.registrations));
      await cdp.send('ServiceWorker.enable');
      const reg = await until(async () => regs.find((r) => !r.isDeleted && r.scopeURL.startsWith(stack.appUrl)), 'the service worker registration');
      await cdp.send('ServiceWorker.deliverPushMessage', { origin: new URL(stack.appUrl).origin, registrationId: reg.registrationId, data: push.plaintext });

      const [shown] = await until(async () => {
        const list = await notifications(probe);
        return list.length > 0 && list;
      }, 'the notification');
      expect(shown!.title).toBe(`New message from ${alice.identity.aid}`);
      expect(JSON.stringify(shown)).not.toContain('noon');
      expect(shown!.tag).toBe(`aun-push:${bob}`);
      const url = new URL(shown!.data.url);
      expect(url.origin).toBe(new URL(stack.appUrl).origin);
      expect(url.searchParams.get('chat')).toBe(alice.identity.aid);

      // The click handler opens data.url (clients.openWindow); CDP cannot click a notification, so
      // the test opens the same URL. The app reconnects, catches up and shows the message once.
      const opened = await ctx.newPage();
      await opened.goto(shown!.data.url);
      await opened.waitForSelector('#state[data-state="ready"]', { timeout: 30_000 });
      const bubbles = opened.locator('#conv-log .msg .body', { hasText: text });
      await bubbles.first().waitFor({ timeout: 30_000 });
      expect(await opened.locator('#conv-title').textContent()).toContain(alice.identity.aid);
      await new Promise((r) => setTimeout(r, 500));
      expect(await bubbles.count()).toBe(1);
    } finally {
      await ctx.close();
    }
  });
});
