// The inspector page shows the owner's state without devtools, and its counts prove that rapid
// tab churn leaks neither tabs nor sessions in the worker, over one gateway connection.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { demoUrl, gatewayStats, openSender, startStack, until, type Stack } from './support.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

const counts = (page: Page) => page.evaluate(() => ({ tabs: Number(document.body.dataset.tabs), sessions: Number(document.body.dataset.sessions) }));

describe.each(['shared', 'leader'] as const)('inspector, %s rung', (rung) => {
  it('shows sessions, tabs and recent events, and returns to baseline after 100 rapid tab open/close cycles', async () => {
    const ctx = await stack.browser.newContext();
    const aid = `insp${Date.now() % 1e8}.${stack.gateway.config.issuer}`;
    const anchor = await ctx.newPage();
    await anchor.goto(demoUrl(stack, { aid, autologin: '1', rung }));
    await anchor.waitForSelector('#state[data-state="ready"]', { timeout: 30_000 });
    const inspector = await ctx.newPage();
    await inspector.goto(`${stack.appUrl}/inspector.html?rung=${rung}`);
    await inspector.waitForSelector('body[data-ready="1"]');
    await until('inspector sees 2 tabs and the session', async () => {
      const c = await counts(inspector);
      return c.tabs === 2 && c.sessions === 1;
    });
    expect(await inspector.textContent('#sessions')).toContain(aid);
    expect(await inspector.textContent('#sessions')).toContain('ready');
    expect(await inspector.textContent('#owner')).toMatch(new RegExp(`rung ${rung} · incarnation [0-9a-f]{16}`));
    await anchor.evaluate((to) => (globalThis as unknown as { aun: { send(a: string, b: unknown): Promise<unknown> } }).aun.send(to, { type: 'text', text: 'note to self' }), aid);
    await until('the send shows in recent events', async () => (await inspector.textContent('#recent'))?.includes('message'));
    // The live chart: a bar for the messages of that second, a latency dot for the inbound copy,
    // and the session's band in the connection timeline, in its state.
    await until('the chart shows the message', async () => (await inspector.locator('#chart rect.rate').count()) > 0);
    // A note to self is logged once, as sent: the latency dot needs a message from someone else.
    const sender = await openSender(stack.gateway, `snd${rung.slice(0, 1)}${Date.now() % 1e8}.${stack.gateway.config.issuer}`);
    try {
      await sender.call('message.send', { to: aid, payload: { type: 'text', text: 'from node' } });
    } finally {
      sender.close();
    }
    await until('and its delivery latency', async () => (await inspector.locator('#chart circle.latency').count()) > 0);
    expect(await inspector.locator('#chart rect[data-state="ready"]').count()).toBeGreaterThan(0);
    expect(await inspector.textContent('#chart')).toContain(`${aid} · ready`);

    const connectsBefore = (await gatewayStats(stack)).connects;
    for (let i = 0; i < 100; i++) {
      const p = await ctx.newPage();
      await p.goto(demoUrl(stack, { aid, autologin: '1', rung }));
      if (i % 2 === 0) await p.waitForSelector('#state[data-state="ready"]');
      await p.close();
    }
    await until('back to baseline', async () => {
      const c = await counts(inspector);
      return c.tabs === 2 && c.sessions === 1;
    }, 20_000);
    const stats = await gatewayStats(stack);
    expect(stats.connections.filter((c) => c.aid === aid && c.kind === 'long')).toHaveLength(1);
    expect(stats.connects).toBe(connectsBefore);
    expect(await anchor.getAttribute('#state', 'data-state')).toBe('ready');
    await ctx.close();
  }, 120_000);
});
