// Engine rows of `npm run bench`: tab open → ready and event fan-out in Firefox (puppeteer-core
// over BiDi) and WebKit (MiniBrowser over WebKitWebDriver, under Xvfb), each next to the same
// measurement in Chromium in the same run. Each engine runs its default rung: Chromium and
// Firefox the shared rung, WebKit the leader rung (its SharedWorker cannot keep keys).
// Timed in the page: the demo's `aun:ready` mark (navigation start → #state first ready), and
// for fan-out Date.now() in the tab minus the inject time (one machine, one clock).

import type { BrowserContext } from 'playwright-core';
import { launchFirefox } from '../e2e/engines/firefox.ts';
import type { EngineProfile, EngineTab } from '../e2e/engines/tab.ts';
import { launchWebKit } from '../e2e/engines/webkit.ts';
import { injectBurst, type DetailedRow } from './browser.ts';
import { withBrowserStack, type BrowserStack } from './browser-stack.ts';
import type { BenchRow } from './report.ts';
import { summarize, type Summary } from './stats.ts';

const EXTRA_TABS = 8;
const FANOUT_TABS = 5;
const BURST = 1000;
const READY_TIMEOUT_MS = 45_000;
const DELIVERY_TIMEOUT_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;

/** Chromium through the bench stack's Playwright browser, seen as an EngineProfile. */
function chromiumProfile(stack: BrowserStack): EngineProfile & { ctx: Promise<BrowserContext> } {
  const ctx = stack.browser.newContext();
  return {
    engine: 'chromium',
    version: `chromium ${stack.browser.version()}`,
    ctx,
    async open(urls) {
      const c = await ctx;
      return Promise.all(urls.map(async (url) => {
        const page = await c.newPage();
        await page.goto(url);
        return { eval: (e: string) => page.evaluate(e), close: () => page.close() } as EngineTab;
      }));
    },
    async close() {
      await (await ctx).close();
    },
  };
}

async function readyTab(profile: EngineProfile, url: string): Promise<{ tab: EngineTab; readyMs: number }> {
  const [tab] = await profile.open([url]);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const at = await tab!.eval<number | null>(`performance.getEntriesByName('aun:ready')[0]?.startTime ?? null`);
    if (at !== null) return { tab: tab!, readyMs: at };
    if (Date.now() > deadline) throw new Error(`${profile.engine}: a tab was not ready within ${READY_TIMEOUT_MS} ms`);
    await sleep(50);
  }
}

interface EngineFigures {
  engine: string;
  version: string;
  rung: string;
  first: number;
  more: Summary;
  fanout: Summary;
  missing: number;
}

async function measure(stack: BrowserStack, profile: EngineProfile): Promise<EngineFigures> {
  const aid = `benchengine${profile.engine}${Date.now() % 1e8}x${++seq}.${stack.gateway.config.issuer}`;
  const url = `${stack.demoOrigin}/?${new URLSearchParams({ gateway: stack.gateway.url, aid, autologin: '1' })}`;
  const first = await readyTab(profile, url);
  const tabs = [first.tab];
  const more: number[] = [];
  for (let i = 0; i < EXTRA_TABS; i++) {
    const t = await readyTab(profile, url);
    tabs.push(t.tab);
    more.push(t.readyMs);
  }
  const rung = await first.tab.eval<string>('globalThis.aun.rung');
  for (const t of tabs.splice(FANOUT_TABS)) await t.close();
  for (const t of tabs) {
    await t.eval(`(async () => {
      const rec = { latencies: [], seen: new Set() };
      globalThis.__benchFanout = rec;
      globalThis.aun.on('raw', (d) => {
        const now = Date.now();
        if (d.event !== 'bench.tick') return;
        rec.latencies.push(now - d.params.t);
        rec.seen.add(d.params.i);
      });
      await globalThis.aun.call('meta.ping', {});
      return true;
    })()`);
  }
  await injectBurst(stack, aid, BURST);
  const read = (t: EngineTab) => t.eval<{ latencies: number[]; distinct: number }>(`({ latencies: globalThis.__benchFanout.latencies, distinct: globalThis.__benchFanout.seen.size })`);
  const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
  let records = await Promise.all(tabs.map(read));
  while (records.some((r) => r.distinct < BURST) && Date.now() < deadline) {
    await sleep(200);
    records = await Promise.all(tabs.map(read));
  }
  const missing = records.reduce((n, r) => n + BURST - r.distinct, 0);
  if (missing) console.warn(`warning: ${profile.engine} fan-out: ${missing} of ${tabs.length * BURST} events missing`);
  for (const t of tabs) await t.close();
  return { engine: profile.engine, version: profile.version, rung, first: first.readyMs, more: summarize(more), fanout: summarize(records.flatMap((r) => r.latencies)), missing };
}

export async function benchEngines(): Promise<BenchRow[]> {
  return withBrowserStack(async (stack) => {
    const figures: EngineFigures[] = [];
    for (const launch of [async () => chromiumProfile(stack), () => launchFirefox(), () => launchWebKit()]) {
      const profile = await launch();
      try {
        const t0 = Date.now();
        figures.push(await measure(stack, profile));
        console.error(`[bench] engines ${profile.engine}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      } finally {
        await profile.close();
      }
    }
    const [base, ...others] = figures as [EngineFigures, ...EngineFigures[]];
    const rows: DetailedRow[] = [];
    for (const f of others) {
      const who = `${f.version}, ${f.rung} rung`;
      const baseWho = `${base.version}, ${base.rung} rung, same measurement`;
      rows.push(
        {
          name: `engines: ${who}: tab open → ready with the session up, median of ${EXTRA_TABS} more tabs (navigation start → aun:ready; first tab, fresh profile: ${f.first.toFixed(0)} ms)`,
          value: f.more.p50,
          unit: 'ms',
          baseline: { name: `${baseWho} (first tab ${base.first.toFixed(0)} ms)`, value: base.more.p50, unit: 'ms' },
          detail: { engine: f, baseline: base },
        },
        ...(['p50', 'p99'] as const).map((stat): DetailedRow => ({
          name: `engines: ${who}: fan-out of ${BURST.toLocaleString('en')} gateway events → ${FANOUT_TABS} tabs, ${stat} over (tab, event)${f.missing ? `, ${f.missing} events MISSING` : ''}`,
          value: f.fanout[stat],
          unit: 'ms',
          baseline: { name: `${baseWho}${base.missing ? `, ${base.missing} events MISSING` : ''}`, value: base.fanout[stat], unit: 'ms' },
          detail: { engine: f, baseline: base },
        })),
      );
    }
    return rows;
  });
}
