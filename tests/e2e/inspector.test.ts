// The inspector page shows the owner's state without devtools, and its counts prove that rapid
// tab churn leaks neither tabs nor sessions in the worker, over one gateway connection.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { gatewayStats, openTab, startStack, until, type Stack } from './support.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

const counts = (page: Page) => page.evaluate(() => ({ tabs: Number(document.body.dataset.tabs), sessions: Number(document.body.dataset.sessions) }));

describe('inspector', () => {
  it('shows sessions, tabs and recent events, and returns to baseline after 100 rapid tab open/close cycles', async () => {
    const ctx = await stack.browser.newContext();
    const aid = `insp${Date.now() % 1e8}.${stack.gateway.config.issuer}`;
    const anchor = await openTab(ctx, stack, aid);
    const inspector = await ctx.newPage();
    await inspector.goto(`${stack.appUrl}/inspector.html`);
    await inspector.waitForSelector('body[data-ready="1"]');
    await until('inspector sees 2 tabs and the session', async () => {
      const c = await counts(inspector);
      return c.tabs === 2 && c.sessions === 1;
    });
    expect(await inspector.textContent('#sessions')).toContain(aid);
    expect(await inspector.textContent('#sessions')).toContain('ready');
    expect(await inspector.textContent('#owner')).toMatch(/rung shared · incarnation [0-9a-f]{16}/);
    await anchor.evaluate((to) => (globalThis as unknown as { aun: { send(a: string, b: unknown): Promise<unknown> } }).aun.send(to, { type: 'text', text: 'note to self' }), aid);
    await until('the send shows in recent events', async () => (await inspector.textContent('#recent'))?.includes('message'));

    const connectsBefore = (await gatewayStats(stack)).connects;
    for (let i = 0; i < 100; i++) {
      const p = await ctx.newPage();
      await p.goto(`${stack.appUrl}/?gateway=${encodeURIComponent(stack.gateway.url)}&aid=${aid}&autologin=1`);
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
