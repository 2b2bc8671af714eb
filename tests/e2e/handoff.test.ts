// Issue 6: a new build deployed mid-session. The same origin serves build A, then build B (a
// changed worker script under a new versioned name). A tab of B asks A's owner to drain and takes
// over; A's tabs move to B's owner without being closed and are told an update is required; an A
// tab opened after B is running is sent to B as well. Messages sent throughout arrive once.

import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { build } from 'vite';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import type { Session } from '../support/aun-client.ts';
import { expectExactlyOnce, launchBrowser, openSender, until } from './support.ts';
import type { Browser } from 'playwright-core';

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.json': 'application/json',
};

/** A static server whose root can be swapped: the "deploy". */
function staticServer(): Promise<{ server: Server; url: string; serve(dir: string): void }> {
  let root = '';
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    let file = join(root, path);
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    resolve({ server, url: `http://127.0.0.1:${port}`, serve: (dir) => (root = dir) });
  }));
}

async function buildAs(id: string, builtAt: number, outDir: string): Promise<void> {
  const saved = { build: process.env.AUN_BUILD, at: process.env.AUN_BUILT_AT };
  process.env.AUN_BUILD = id;
  process.env.AUN_BUILT_AT = String(builtAt);
  try {
    await build({ configFile: 'vite.config.ts', logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  } finally {
    if (saved.build === undefined) delete process.env.AUN_BUILD;
    else process.env.AUN_BUILD = saved.build;
    if (saved.at === undefined) delete process.env.AUN_BUILT_AT;
    else process.env.AUN_BUILT_AT = saved.at;
  }
}

interface Aun {
  incarnation: string | null;
  updateRequired: { yours: { build: string }; running: { build: string } } | null;
  inspect(): Promise<{ build: string; tabs: unknown[] }>;
}

let gateway: Gateway;
let browser: Browser;
let site: Awaited<ReturnType<typeof staticServer>>;
let dirs: { a: string; b: string; base: string };

beforeAll(async () => {
  const base = mkdtempSync(join(tmpdir(), 'aun-handoff-'));
  dirs = { base, a: join(base, 'a'), b: join(base, 'b') };
  await buildAs('build-a', 1_000, dirs.a);
  await buildAs('build-b', 2_000, dirs.b);
  gateway = await startGateway({ dataDir: join(base, 'gw'), tokenTtl: 3600 });
  site = await staticServer();
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  site?.server.close();
  await gateway?.close();
  rmSync(dirs.base, { recursive: true, force: true });
});

const aidOf = (name: string) => `${name}${Date.now() % 1e8}.${gateway.config.issuer}`;
const url = (aid: string, rung?: string) => `${site.url}/?${new URLSearchParams({ gateway: gateway.url, aid, autologin: '1', ...(rung ? { rung } : {}) })}`;

/** Sends `<label>-0`, `-1`, … every 20 ms (at least 10) until stopped; `stop` resolves with what was sent. */
function traffic(s: Session, to: string, label: string): { stop(): Promise<string[]> } {
  const sent: string[] = [];
  let sending = true;
  const done = (async () => {
    for (let i = 0; sending || i < 10; i++) {
      const text = `${label}-${i}`;
      await s.call('message.send', { to, payload: { type: 'text', text } });
      sent.push(text);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      sending = false;
      await done;
      return sent;
    },
  };
}
const aun = <T>(page: Page, fn: (a: Aun) => T | Promise<T>) => page.evaluate(`(${fn.toString()})(globalThis.aun)`) as Promise<T>;
const longOf = async (aid: string) => gateway.stats().connections.filter((c) => c.aid === aid && c.kind === 'long').length;

async function open(ctx: BrowserContext, aid: string, rung?: string): Promise<Page> {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  await page.goto(url(aid, rung));
  await page.waitForSelector('#state[data-state="ready"]', { timeout: 30_000 });
  return page;
}

describe('a new build deployed mid-session', () => {
  it('hands over without closing tabs, tells old tabs to update, loses and doubles nothing', async () => {
    const ctx = await browser.newContext();
    const aid = aidOf('deploy');
    site.serve(dirs.a);
    const oldTabs = [await open(ctx, aid), await open(ctx, aid)];
    const ownerA = await aun(oldTabs[0]!, (a) => a.incarnation);
    expect((await aun(oldTabs[0]!, (a) => a.inspect())).build).toBe('build-a');

    const s = await openSender(gateway, aidOf('sender'));
    const flow = traffic(s, aid, 'deploy');

    // Deploy: the origin now serves build B; a new tab loads it.
    await new Promise((r) => setTimeout(r, 300));
    site.serve(dirs.b);
    const newTab = await open(ctx, aid);
    const ownerB = await aun(newTab, (a) => a.incarnation);
    expect(ownerB).not.toBe(ownerA);
    expect((await aun(newTab, (a) => a.inspect())).build).toBe('build-b');
    expect(await aun(newTab, (a) => a.updateRequired)).toBeNull();

    // The old tabs were not closed: they moved to B's owner and were told to update.
    for (const t of oldTabs) {
      expect(t.isClosed()).toBe(false);
      await until('old tab on the new owner', async () => (await aun(t, (a) => a.incarnation)) === ownerB, 15_000);
      expect(await aun(t, (a) => a.updateRequired)).toMatchObject({ yours: { build: 'build-a' }, running: { build: 'build-b' } });
      await t.waitForSelector('#update-banner');
    }
    // The new tab logged in with history: it sees everything, each once, like the others.
    await expectExactlyOnce([...oldTabs, newTab], await flow.stop());
    expect((await aun(newTab, (a) => a.inspect())).tabs).toHaveLength(3);
    await until('one long connection', async () => (await longOf(aid)) === 1);

    // A tab of the old build opened now is sent to the running (newer) owner, and told to update.
    site.serve(dirs.a);
    const late = await open(ctx, aid);
    expect(await aun(late, (a) => a.incarnation)).toBe(ownerB);
    expect(await aun(late, (a) => a.updateRequired)).toMatchObject({ yours: { build: 'build-a' }, running: { build: 'build-b' } });
    expect(await longOf(aid)).toBe(1);
    s.close();
    await ctx.close();
  });

  it('on the leader rung, a tab of the new build asks the leader to hand over and leads; nothing lost or doubled', async () => {
    const ctx = await browser.newContext();
    const aid = aidOf('leaderdeploy');
    site.serve(dirs.a);
    const oldTabs = [await open(ctx, aid, 'leader'), await open(ctx, aid, 'leader')];
    const isLeader = (p: Page) => p.evaluate(() => Boolean((globalThis as unknown as { aun?: { linker?: { transport?: { isLeader?: boolean } } } }).aun?.linker?.transport?.isLeader));
    expect(await isLeader(oldTabs[0]!)).toBe(true);
    expect((await aun(oldTabs[1]!, (a) => a.inspect())).build).toBe('build-a');

    const s = await openSender(gateway, aidOf('lsender'));
    const flow = traffic(s, aid, 'ldeploy');

    await new Promise((r) => setTimeout(r, 300));
    site.serve(dirs.b);
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
    await page.goto(url(aid, 'leader'));
    await until('the new tab leads', () => isLeader(page), 15_000);
    await page.waitForSelector('#state[data-state="ready"]', { timeout: 30_000 });
    expect((await aun(page, (a) => a.inspect())).build).toBe('build-b');
    const ownerB = await aun(page, (a) => a.incarnation);
    expect(await isLeader(oldTabs[0]!)).toBe(false);
    for (const t of oldTabs) {
      expect(t.isClosed()).toBe(false);
      await until('old tab on the new leader', async () => (await aun(t, (a) => a.incarnation)) === ownerB, 15_000);
      expect(await aun(t, (a) => a.updateRequired)).toMatchObject({ yours: { build: 'build-a' }, running: { build: 'build-b' } });
    }
    await expectExactlyOnce([...oldTabs, page], await flow.stop());
    await until('one long connection', async () => (await longOf(aid)) === 1);
    s.close();
    await ctx.close();
  });
});
