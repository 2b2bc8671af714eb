// Issue 12: one owner per origin, whatever order the tabs arrive in. Tabs are opened the way
// browsers open them on a session restore: all at once (Promise.all, no wait between them), each
// page CPU-throttled 4× through CDP, on a new AID (every tab's autologin races to create it), on
// the build and on a cold dev server; then the browser is closed and relaunched on the same
// profile. A tab forced to the leader rung next to auto tabs; a tab whose `state` handler is
// added before login(). Each time: one long connection ever, every tab ready, every message once.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_FLAGS } from '../../scripts/chromium.mjs';
import { demoUrl, expectExactlyOnce, gatewayStats, longConnections, openSender, openTab, startStack, until, type Stack } from './support.ts';

const TABS = 5;
/** Generous: five 4×-throttled tabs on a loaded 2-core machine, one of them creating the identity. */
const READY_MS = 120_000;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ tokenTtl: 3600 });
});
afterAll(() => stack?.close());

let n = 0;
const newAid = () => `arr${Date.now() % 1e8}x${++n}.${stack.gateway.config.issuer}`;

const connects = async () => (await gatewayStats(stack)).connects;
const stateOf = (p: Page) => p.getAttribute('#state', 'data-state');
const rungOf = (p: Page) => p.evaluate(() => (globalThis as unknown as { aun: { rung: string | null } }).aun.rung);

/** A new page of `ctx` whose main thread runs 4× slower (CDP Emulation.setCPUThrottlingRate). */
async function throttledPage(ctx: BrowserContext): Promise<Page> {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
  return page;
}

/** Opens `count` throttled tabs of `url` at the same moment and waits until every one is ready. */
async function openTogether(ctx: BrowserContext, url: string, count = TABS): Promise<Page[]> {
  const pages = await Promise.all(Array.from({ length: count }, () => throttledPage(ctx)));
  await Promise.all(pages.map((p) => p.goto(url)));
  await Promise.all(pages.map((p) => p.waitForSelector('#state[data-state="ready"]', { timeout: READY_MS })));
  return pages;
}

/** One long connection, and every message once in every tab, all of them still ready. */
async function expectOneOwner(pages: Page[], aid: string, label: string, connectsBefore: number): Promise<void> {
  expect(await longConnections(stack, aid)).toHaveLength(1);
  // Only one owner ever logged in: nobody was evicted on the way.
  expect(await connects() - connectsBefore).toBe(1);
  const s = await openSender(stack.gateway, newAid());
  try {
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) {
      const text = `${label}-${i}`;
      await s.call('message.send', { to: aid, payload: { type: 'text', text } });
      sent.push(text);
    }
    await expectExactlyOnce(pages, sent);
  } finally {
    s.close();
  }
  expect(await longConnections(stack, aid)).toHaveLength(1);
  for (const p of pages) expect(await stateOf(p)).toBe('ready');
}

describe('tabs opened at once (the build)', () => {
  it(`${TABS} throttled tabs at once on a new AID: it is created once, one owner, every tab ready, every message once`, async () => {
    const ctx = await stack.browser.newContext();
    try {
      const aid = newAid();
      const before = await connects();
      const pages = await openTogether(ctx, demoUrl(stack, { aid, autologin: '1' }));
      for (const p of pages) expect(await p.textContent('#error')).toBe('');
      await expectOneOwner(pages, aid, 'together', before);
    } finally {
      await ctx.close();
    }
  }, 240_000);

  it('closing the browser and relaunching it on the same profile (session restore): one owner again, every message once', async () => {
    const profile = mkdtempSync(join(tmpdir(), 'aun-e2e-profile-'));
    const launch = () => chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: [...CHROMIUM_FLAGS], headless: true,
    });
    const aid = newAid();
    const url = demoUrl(stack, { aid, autologin: '1' });
    try {
      let ctx = await launch();
      let before = await connects();
      await expectOneOwner(await openTogether(ctx, url), aid, 'first-run', before);
      await ctx.close();
      await until('the first run gone from the gateway', async () => (await longConnections(stack, aid)).length === 0);
      ctx = await launch();
      try {
        before = await connects();
        // The identity is in IndexedDB now: every tab logs in at once, none creates it.
        await expectOneOwner(await openTogether(ctx, url), aid, 'restored', before);
      } finally {
        await ctx.close();
      }
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  }, 300_000);

  it('a ?rung=leader tab first, then two auto tabs at once: they join its owner, no eviction, every message once', async () => {
    const ctx = await stack.browser.newContext();
    try {
      const aid = newAid();
      const before = await connects();
      const leader = await openTab(ctx, stack, aid, { rung: 'leader' });
      const auto = await openTogether(ctx, demoUrl(stack, { aid, autologin: '1' }), 2);
      for (const p of auto) expect(await rungOf(p)).toBe('leader');
      await expectOneOwner([leader, ...auto], aid, 'leader-first', before);
    } finally {
      await ctx.close();
    }
  }, 240_000);

  it('an auto tab first, then a ?rung=leader tab: the leader tab joins the SharedWorker, one owner, every message once', async () => {
    const ctx = await stack.browser.newContext();
    try {
      const aid = newAid();
      const before = await connects();
      const first = await openTab(ctx, stack, aid);
      const forced = await openTab(ctx, stack, aid, { rung: 'leader' });
      expect(await rungOf(forced)).toBe('shared');
      await expectOneOwner([first, forced], aid, 'shared-first', before);
    } finally {
      await ctx.close();
    }
  }, 240_000);

  it("on('state') added before login() on an already-ready session gets `ready` at once", async () => {
    const ctx = await stack.browser.newContext();
    try {
      const aid = newAid();
      await openTab(ctx, stack, aid);
      const second = await ctx.newPage();
      await second.goto(demoUrl(stack));
      await second.waitForSelector('body[data-ready="1"]');
      const seen = await second.evaluate(async (a) => {
        type Aun = { on(e: 'state', h: (s: { aid: string; state: string }) => void): () => void; login(aid: string): Promise<unknown> };
        const aun = (globalThis as unknown as { aun: Aun }).aun;
        const states: string[] = [];
        aun.on('state', (s) => states.push(`${s.aid}:${s.state}`));
        await aun.login(a);
        await new Promise((r) => setTimeout(r, 200));
        // Added now, while ready: it hears the current state at once.
        const late: string[] = [];
        aun.on('state', (s) => late.push(s.state));
        return { states, late };
      }, aid);
      expect(seen.states).toEqual([`${aid}:ready`]);
      expect(seen.late).toEqual(['ready']);
    } finally {
      await ctx.close();
    }
  }, 120_000);
});

describe('tabs opened at once (a cold dev server, as `npm start` serves them)', () => {
  let server: ViteDevServer;
  let cacheDir: string;
  beforeAll(async () => {
    cacheDir = mkdtempSync(join(tmpdir(), 'aun-e2e-vite-'));
    server = await createServer({ configFile: 'vite.config.ts', logLevel: 'silent', cacheDir, server: { port: 0, strictPort: false, host: '127.0.0.1' } });
    await server.listen();
  });
  afterAll(async () => {
    await server?.close();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  it(`${TABS} throttled tabs at once on a new AID, nothing warmed: one owner, every tab ready, every message once`, async () => {
    const ctx = await stack.browser.newContext();
    try {
      const aid = newAid();
      const before = await connects();
      const base = server.resolvedUrls!.local[0]!;
      const pages = await openTogether(ctx, `${base}?${new URLSearchParams({ gateway: stack.gateway.url, aid, autologin: '1' })}`);
      await expectOneOwner(pages, aid, 'cold-dev', before);
    } finally {
      await ctx.close();
    }
  }, 300_000);
});
