// Session lifecycle across tabs: token refresh by the owner only, eviction by another device,
// the grace close after the last tab, and a later tab reconnecting with the cached token.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { Identity, Session } from '../support/aun-client.ts';
import { demoUrl, gatewayStats, longConnections, openTab, startStack, until, type Stack } from './support.ts';

let stack: Stack;
beforeAll(async () => {
  // 20 s tokens: the owner refreshes 10 s before expiry (min(1800 s, ttl/2)).
  stack = await startStack({ tokenTtl: 20 });
});
afterAll(() => stack?.close());

let n = 0;
const newAid = () => `life${Date.now() % 1e8}x${++n}.${stack.gateway.config.issuer}`;

type Aun = {
  identities: { import(aid: string, pem: string): Promise<unknown> };
  login(aid: string): Promise<{ state: string; detail: Record<string, unknown> }>;
  state: { state: string; detail: Record<string, unknown> } | null;
};

/** A tab of the demo without autologin, where the test drives `window.aun` itself. */
async function blankTab(ctx: Awaited<ReturnType<Stack['browser']['newContext']>>): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(demoUrl(stack));
  await page.waitForSelector('body[data-ready="1"]');
  return page;
}

async function importAndLogin(page: Page, id: Identity): Promise<Record<string, unknown>> {
  const pem = id.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return page.evaluate(async ([aid, key]) => {
    const aun = (globalThis as unknown as { aun: Aun }).aun;
    await aun.identities.import(aid!, key!);
    return (await aun.login(aid!)).detail;
  }, [id.aid, pem]);
}

describe('tokens', () => {
  it('are refreshed once, by the worker, however many tabs are open', async () => {
    const ctx = await stack.browser.newContext();
    const aid = newAid();
    const tabs = [await openTab(ctx, stack, aid)];
    for (let i = 0; i < 4; i++) tabs.push(await openTab(ctx, stack, aid));
    const base = await gatewayStats(stack);
    await until('the first refresh', async () => (await gatewayStats(stack)).refreshes > base.refreshes, 20_000);
    await new Promise((r) => setTimeout(r, 3000));
    const after = await gatewayStats(stack);
    expect(after.refreshes).toBe(base.refreshes + 1);
    expect(after.logins).toBe(base.logins);
    expect((await longConnections(stack, aid))).toHaveLength(1);
    await ctx.close();
  }, 60_000);
});

describe('another device on the same AID', () => {
  it('a second browser profile (another device) coexists; the same device and slot evicts, and the tab says so', async () => {
    const id = new Identity(newAid());
    await id.register(stack.gateway.url);
    const ctxA = await stack.browser.newContext();
    const a = await blankTab(ctxA);
    const detailA = await importAndLogin(a, id);
    await a.waitForSelector('#state[data-state="ready"]');
    const ctxB = await stack.browser.newContext();
    const b = await blankTab(ctxB);
    const detailB = await importAndLogin(b, id);
    await b.waitForSelector('#state[data-state="ready"]');
    expect(detailA.deviceId).not.toBe(detailB.deviceId);
    const live = await longConnections(stack, id.aid);
    expect(live.map((c) => c.device_id).sort()).toEqual([detailA.deviceId, detailB.deviceId].sort());

    // A client elsewhere claims device A's exact (aid, device, slot): A is evicted and stays down.
    await id.login(stack.gateway.url, stack.gateway.httpUrl, stack.gateway.rootPem);
    const intruder = await Session.open(stack.gateway.url, id, { deviceId: String(detailA.deviceId), slotId: 'default' });
    await a.waitForSelector('#state[data-state="evicted"]', { timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 2000));
    expect(await a.getAttribute('#state', 'data-state')).toBe('evicted');
    expect(await a.evaluate(() => (globalThis as unknown as { aun: Aun }).aun.state?.detail)).toMatchObject({ code: 4015 });
    expect(await b.getAttribute('#state', 'data-state')).toBe('ready');
    expect((await longConnections(stack, id.aid)).map((c) => c.device_id).sort()).toEqual([detailA.deviceId, detailB.deviceId].sort());
    // Logging in again is the explicit takeover: A is back on its slot.
    await a.evaluate((aid) => (globalThis as unknown as { aun: { login(x: string): Promise<unknown> } }).aun.login(aid), id.aid);
    await a.waitForSelector('#state[data-state="ready"]', { timeout: 10_000 });
    await until('A holds its slot again', async () => (await longConnections(stack, id.aid)).filter((c) => c.device_id === detailA.deviceId).length === 1);
    intruder.close();
    await ctxA.close();
    await ctxB.close();
  });
});

describe('the last tab', () => {
  it('closing it ends the session after the grace period; a new tab reconnects with the cached token', async () => {
    const ctx = await stack.browser.newContext();
    const aid = newAid();
    const first = await openTab(ctx, stack, aid);
    // Another page keeps the worker alive but is not logged in (`?aid=` empty: the demo would
    // otherwise follow the origin's session into the AID).
    const keep = await ctx.newPage();
    await keep.goto(demoUrl(stack, { aid: '' }));
    await keep.waitForSelector('body[data-ready="1"]');
    expect(await longConnections(stack, aid)).toHaveLength(1);
    await first.close();
    await new Promise((r) => setTimeout(r, 1000));
    expect(await longConnections(stack, aid)).toHaveLength(1);
    await until('session closed after grace', async () => (await longConnections(stack, aid)).length === 0, 10_000);
    const logins = (await gatewayStats(stack)).logins;
    const again = await openTab(ctx, stack, aid);
    expect(await again.textContent('#state')).toBe('ready');
    expect((await gatewayStats(stack)).logins).toBe(logins);
    expect(await longConnections(stack, aid)).toHaveLength(1);
    await ctx.close();
  });

  it('closing every tab kills the worker; the next tab starts a new one without a new login', async () => {
    const ctx = await stack.browser.newContext();
    const aid = newAid();
    const page = await openTab(ctx, stack, aid);
    const incarnation = await page.evaluate(() => (globalThis as unknown as { aun: { incarnation: string } }).aun.incarnation);
    await page.close();
    const logins = (await gatewayStats(stack)).logins;
    const next = await openTab(ctx, stack, aid);
    const now = await next.evaluate(() => (globalThis as unknown as { aun: { incarnation: string } }).aun.incarnation);
    expect(now).not.toBe(incarnation);
    expect((await gatewayStats(stack)).logins).toBe(logins);
    await ctx.close();
  });
});
