// Delivery guarantees seen from the tabs: history for late tabs and reloads from the local log,
// sends issued while the gateway cannot be reached go out once, and a frozen tab neither
// blocks the others nor loses anything when it wakes.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { Identity, Session } from '../support/aun-client.ts';
import { adminPost, openTab, startStack, until, type Stack } from './support.ts';

let stack: Stack;
let sender: Session;
beforeAll(async () => {
  stack = await startStack();
  const id = new Identity(`dsender${Date.now() % 1e8}.${stack.gateway.config.issuer}`);
  await id.register(stack.gateway.url);
  await id.login(stack.gateway.url, stack.gateway.httpUrl, stack.gateway.rootPem);
  sender = await Session.open(stack.gateway.url, id, { deviceId: 'node-sender' });
});
afterAll(async () => {
  sender?.close();
  await stack?.close();
});

let n = 0;
const newAid = () => `deliv${Date.now() % 1e8}x${++n}.${stack.gateway.config.issuer}`;
const inbound = (page: Page) => page.$$eval('#messages li.inbound .text', (els) => els.map((e) => e.textContent ?? ''));
const sendTexts = async (to: string, texts: string[]) => {
  for (const text of texts) await sender.call('message.send', { to, payload: { type: 'text', text } });
};

describe('the local event log', () => {
  it('a tab opened later gets the whole history once, and a reload gets it again without doubles', async () => {
    const ctx = await stack.browser.newContext();
    const aid = newAid();
    const first = await openTab(ctx, stack, aid);
    await sendTexts(aid, ['one', 'two', 'three']);
    await until('first tab has 3', async () => (await inbound(first)).length === 3);
    const late = await openTab(ctx, stack, aid);
    await until('late tab has 3', async () => (await inbound(late)).length === 3);
    await sendTexts(aid, ['four']);
    await until('both have 4', async () => (await inbound(late)).length === 4 && (await inbound(first)).length === 4);
    await late.reload();
    await late.waitForSelector('#state[data-state="ready"]');
    await until('reloaded tab has 4', async () => (await inbound(late)).length === 4);
    await new Promise((r) => setTimeout(r, 300));
    for (const p of [first, late]) expect(await inbound(p)).toEqual(['one', 'two', 'three', 'four']);
    await ctx.close();
  });
});

describe('the outbox', () => {
  it('a send issued while the gateway does not answer is queued and delivered once afterwards', async () => {
    const ctx = await stack.browser.newContext();
    const aid = newAid();
    const page = await openTab(ctx, stack, aid);
    await adminPost(stack, 'pause');
    let result: unknown;
    try {
      result = await page.evaluate((to) => (globalThis as unknown as { aun: { send(a: string, b: unknown, c: unknown): Promise<unknown> } }).aun
        .send(to, { type: 'text', text: 'sent in the dark' }, { timeoutMs: 1500 }), sender.identity.aid);
    } finally {
      await adminPost(stack, 'resume');
    }
    expect(result).toMatchObject({ status: 'queued', message_id: expect.stringMatching(/^m-/) });
    await sender.until(() => sender.eventsNamed('peer.v2.message_received').find((e) => e.from_aid === aid), 30_000, 'the queued message');
    await page.waitForFunction(() => [...document.querySelectorAll('#messages li.outbound .text')].some((e) => e.textContent === 'sent in the dark'), undefined, { timeout: 30_000 });
    await new Promise((r) => setTimeout(r, 1500));
    expect(sender.eventsNamed('peer.v2.message_received').filter((e) => e.from_aid === aid)).toHaveLength(1);
    expect(await page.$$eval('#messages li.outbound .text', (els) => els.filter((e) => e.textContent === 'sent in the dark').length)).toBe(1);
    await ctx.close();
  }, 60_000);
});

describe('flow control', () => {
  it('a frozen tab does not hold the others back and catches up exactly once when it wakes', async () => {
    const ctx: BrowserContext = await stack.browser.newContext();
    const aid = newAid();
    const awake = await openTab(ctx, stack, aid);
    const frozen = await openTab(ctx, stack, aid);
    const cdp = await ctx.newCDPSession(frozen);
    await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
    const total = 1500;
    const texts = Array.from({ length: total }, (_, i) => `burst ${i}`);
    await Promise.all(texts.map((text) => sender.call('message.send', { to: aid, payload: { type: 'text', text } })));
    await until('the awake tab got the burst', async () => (await awake.$$eval('#messages li.inbound', (els) => els.length)) === total, 60_000);
    await cdp.send('Page.setWebLifecycleState', { state: 'active' });
    await until('the frozen tab caught up', async () => (await frozen.$$eval('#messages li.inbound', (els) => els.length)) >= total, 60_000);
    await new Promise((r) => setTimeout(r, 500));
    const got = await inbound(frozen);
    expect(got).toHaveLength(total);
    expect(new Set(got).size).toBe(total);
    expect((await inbound(awake)).slice(0, 3)).toEqual(['burst 0', 'burst 1', 'burst 2']);
    await ctx.close();
  }, 120_000);
});
