// `npx tsx tests/bench/ladder-ab.ts <other checkout>`: the ladder's "tab open → ready, session
// up" rows of this tree against another checkout of the repo (e.g. a `git worktree` of main),
// measured in ONE run: both demos built and served side by side (two origins, so two owners), one
// gateway, one browser, and a tab of each opened in turn (A, B, A, B, …), so both see the same load
// on a shared machine. Per rung, the medians of `aun:connect` → #state ready and of navigation
// start → ready. Prints a table; asserts nothing. AB_TABS tabs per side and rung (default 15).
// With AB_KEEP=1 every measured tab stays open, as the ladder bench keeps its tabs (each new tab
// then opens beside all the earlier ones of both sides).

import { join, resolve } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { build, preview, type InlineConfig, type PreviewServer } from 'vite';
import { startGateway } from '../../gateway/server.ts';
import type { Rung } from '../../protocol/tab.ts';
import { immutableAssets } from './browser-stack.ts';
import { launchChromium } from '../support/chromium.ts';
import { READY_PROBE, untilReady, type ReadyRecord } from './ready-signal.ts';
import { summarize } from './stats.ts';

const here = resolve(import.meta.dirname, '../..');
const other = process.argv[2];
if (!other) {
  console.error('usage: npx tsx tests/bench/ladder-ab.ts <path of the other checkout>');
  process.exit(2);
}
const TABS = Number(process.env.AB_TABS ?? 15);
const KEEP = process.env.AB_KEEP === '1';
const RUNGS: Rung[] = ['shared', 'leader'];

const config = (repo: string, tag: string): InlineConfig => ({
  configFile: join(repo, 'vite.config.ts'),
  root: join(repo, 'demo'),
  logLevel: 'warn',
  plugins: [immutableAssets],
  build: { outDir: join(here, `dist/bench-ab/${tag}`), emptyOutDir: true },
});

const origin = (s: PreviewServer) => s.resolvedUrls!.local[0]!.replace(/\/$/, '');

const sides = [{ tag: 'A (this tree)', repo: here }, { tag: 'B (other)', repo: resolve(other) }];
const servers: PreviewServer[] = [];
for (const [i, s] of sides.entries()) {
  const c = config(s.repo, String(i));
  await build(c);
  servers.push(await preview({ ...c, preview: { port: 0, strictPort: false, host: '127.0.0.1' } }));
}
const gateway = await startGateway({ dataDir: ':memory:', tokenTtl: 3600, admin: true });
const browser = await launchChromium();
try {
  for (const rung of RUNGS) {
    const contexts: { ctx: BrowserContext; url: string; mark: number[]; nav: number[] }[] = [];
    for (const [i, server] of servers.entries()) {
      const ctx = await browser.newContext();
      await ctx.addInitScript({ content: READY_PROBE });
      const aid = `ab${i}${rung}${Date.now() % 1e8}.${gateway.config.issuer}`;
      const url = `${origin(server)}/?${new URLSearchParams({ gateway: gateway.url, aid, autologin: '1', rung })}`;
      const first = await ctx.newPage();
      await untilReady(first, () => first.goto(url), 30_000);
      contexts.push({ ctx, url, mark: [], nav: [] });
    }
    for (let n = 0; n < TABS; n++) {
      for (const c of contexts) {
        const page = await c.ctx.newPage();
        await untilReady(page, () => page.goto(c.url), 30_000);
        const t = await page.evaluate(() => {
          const ready = (globalThis as unknown as { __benchReady: ReadyRecord }).__benchReady;
          return { mark: ready.at! - performance.getEntriesByName('aun:connect')[0]!.startTime, nav: ready.at! };
        });
        c.mark.push(t.mark);
        c.nav.push(t.nav);
        if (!KEEP) await page.close();
      }
    }
    for (const [i, c] of contexts.entries()) {
      const m = summarize(c.mark);
      const v = summarize(c.nav);
      console.log(`${rung.padEnd(6)} ${sides[i]!.tag.padEnd(14)} aun:connect → ready median ${m.p50.toFixed(1)} ms (mean ${m.mean.toFixed(1)}), navigation → ready median ${v.p50.toFixed(1)} ms, ${m.n} tabs`);
      await c.ctx.close();
    }
  }
} finally {
  await browser.close();
  await gateway.close();
  for (const s of servers) await s.close();
}
