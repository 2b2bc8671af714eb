// Arrival rows of `npm run bench` (issue 12): how tabs reach `ready` in the ways browsers and
// people open them, not one at a time. `BENCH_ONLY=arrival npm run bench`, or alone:
// `tsx tests/bench/cold-start.ts [cold|together]`.
//  1. Cold `npm start`: a fresh Vite dev server (an empty dependency cache, as on a new clone)
//     and a fresh browser; the first tab's navigation → #state ready on a new AID (autologin
//     creates it). Baseline: a second tab on a new AID right after, on the now-warm server.
//  2. 5 tabs at once: five demo tabs of one AID opened with Promise.all on the build (a new
//     browser context each round), each navigation → ready, median and max over all tabs of all
//     rounds. Baseline: one tab alone, same build, same AID kind, same run.
// Timed in the page from navigation start (performance.now() in READY_PROBE). No assertions.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { createServer } from 'vite';
import { startGateway } from '../../gateway/server.ts';
import { CHROMIUM_FLAGS } from '../../scripts/chromium.mjs';
import { withBrowserStack } from './browser-stack.ts';
import { READY_PROBE, untilReady, type ReadyRecord } from './ready-signal.ts';
import type { BenchRow } from './report.ts';
import { summarize } from './stats.ts';

const TABS = 5;
const ROUNDS = 3;
const READY_TIMEOUT_MS = 90_000;

let n = 0;
const newAid = (issuer: string) => `arrive${Date.now() % 1e8}x${++n}.${issuer}`;

async function readyAt(page: Page): Promise<number> {
  return page.evaluate(() => (globalThis as unknown as { __benchReady: ReadyRecord }).__benchReady.at!);
}

/** Opens `url` in a new page of `browser`'s context and returns navigation → ready, ms. */
async function timeTab(open: () => Promise<Page>, url: string): Promise<number> {
  const page = await open();
  await page.addInitScript(READY_PROBE);
  await untilReady(page, () => page.goto(url), READY_TIMEOUT_MS);
  return readyAt(page);
}

const launch = (): Promise<Browser> => chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: [...CHROMIUM_FLAGS], headless: true,
});

/** Cold `npm start`: first tab → ready on a fresh dev server, then a second (warm) tab. */
export async function benchColdStart(): Promise<BenchRow[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'aun-bench-cold-gw-'));
  const cacheDir = mkdtempSync(join(tmpdir(), 'aun-bench-cold-vite-'));
  const gateway = await startGateway({ dataDir, tokenTtl: 3600 });
  const server = await createServer({ configFile: 'vite.config.ts', logLevel: 'silent', cacheDir, server: { port: 0, strictPort: false, host: '127.0.0.1' } });
  let browser: Browser | null = null;
  try {
    await server.listen();
    const base = server.resolvedUrls!.local[0]!;
    const url = () => `${base}?${new URLSearchParams({ gateway: gateway.url, aid: newAid(gateway.config.issuer), autologin: '1' })}`;
    browser = await launch();
    const ctx = await browser.newContext();
    const cold = await timeTab(() => ctx.newPage(), url());
    const warm = await timeTab(() => ctx.newPage(), url());
    console.log(`[bench] cold npm start: first tab ${cold.toFixed(0)} ms, next tab ${warm.toFixed(0)} ms`);
    return [{
      name: 'arrival: cold npm start, first tab → ready (new AID)', value: cold, unit: 'ms',
      baseline: { name: 'next tab, warm server', value: warm, unit: 'ms' },
    }];
  } finally {
    await browser?.close();
    await server.close();
    await gateway.close();
    rmSync(cacheDir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** 5 tabs of one AID opened at once on the build, against one tab alone. */
export async function benchTogether(): Promise<BenchRow[]> {
  return withBrowserStack(async (stack) => {
    const url = (aid: string) => `${stack.demoOrigin}/?${new URLSearchParams({ gateway: stack.gateway.url, aid, autologin: '1' })}`;
    const together: number[] = [];
    const alone: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const solo = await stack.browser.newContext();
      alone.push(await timeTab(() => solo.newPage(), url(newAid(stack.gateway.config.issuer))));
      await solo.close();
      const ctx = await stack.browser.newContext();
      const aid = newAid(stack.gateway.config.issuer);
      together.push(...await Promise.all(Array.from({ length: TABS }, () => timeTab(() => ctx.newPage(), url(aid)))));
      await ctx.close();
    }
    const t = summarize(together);
    const a = summarize(alone);
    return [
      { name: `arrival: ${TABS} tabs at once (new AID), median tab → ready`, value: t.p50, unit: 'ms', baseline: { name: 'one tab alone, median', value: a.p50, unit: 'ms' } },
      { name: `arrival: ${TABS} tabs at once (new AID), slowest tab → ready`, value: t.max, unit: 'ms', baseline: { name: 'one tab alone, max', value: a.max, unit: 'ms' } },
    ];
  });
}

export async function benchArrival(): Promise<BenchRow[]> {
  return [...await benchColdStart(), ...await benchTogether()];
}

if (process.argv[1]?.endsWith('cold-start.ts')) {
  const { table } = await import('./report.ts');
  const which = process.argv[2];
  const rows = which === 'cold' ? await benchColdStart() : which === 'together' ? await benchTogether() : await benchArrival();
  console.log(table(rows));
}
