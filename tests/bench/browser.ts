// Browser rows of `npm run bench`, each next to a baseline measured in the same run:
//  1. RPC round trip tab → worker → gateway (`aun.call('meta.ping')`) vs a bare SharedWorker
//     MessagePort echo, a bare Comlink noop, and a direct WebSocket meta.ping from the page.
//  2. Event fan-out of a 1,000-event gateway burst to 1, 5 and 20 tabs vs a bare SharedWorker
//     posting 1,000 one-way messages to as many pages. The admin inject endpoint paces the real
//     burst (~1 k events/s here) while the baseline posts all 1,000 in one task, so compare p50s;
//     the row also carries the gateway hop alone (the same burst to a Node socket).
//  3. Tab open → ready while the session is up vs the first tab's full login on a fresh store.
//  4. Gateway long connections and logins for 1, 5 and 20 tabs vs what the reference SDK opens.
// Pages of one browser context share one SharedWorker (and one IndexedDB), so every scenario
// gets its own context and its own AID.

import type { BrowserContext, Page } from 'playwright-core';
import type { AunClient } from '../../client-stub/index.ts';
import type { GatewayStats } from '../../gateway/http.ts';
import { adminFetch, adminStats } from '../support/admin.ts';
import { Identity, Session } from '../support/aun-client.ts';
import { withBrowserStack, type BrowserStack } from './browser-stack.ts';
import { READY_PROBE, untilReady, type ReadyRecord } from './ready-signal.ts';
import type { BenchPageApi } from './page/api.ts';
import type { BenchRow } from './report.ts';
import { summarize, type Summary } from './stats.ts';

/** A row with the raw summaries kept for bench/results.json (the table shows name and value). */
export interface DetailedRow extends BenchRow {
  detail?: Record<string, unknown>;
}

const RPC_WARMUP = 200;
const RPC_ROUNDS = 4;
const RPC_PER_ROUND = 500;
const BURST = 1000;
const INJECT_CONCURRENCY = 16;
const FANOUT_TABS = [1, 5, 20];
const EXTRA_TABS = 20;
const READY_TIMEOUT_MS = 30_000;
const DELIVERY_TIMEOUT_MS = 20_000;

type DemoGlobals = { aun: AunClient; __benchFanout?: { latencies: number[]; seen: Set<number> }; __benchReady: ReadyRecord };
type PageGlobals = { bench: BenchPageApi };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const us = (s: Summary) => `mean ${s.mean.toFixed(0)}, p50/p99 ${s.p50.toFixed(0)}/${s.p99.toFixed(0)} µs`;

let aidSeq = 0;
function newAid(stack: BrowserStack, tag: string): string {
  return `bench${tag}${Date.now() % 1e8}x${++aidSeq}.${stack.gateway.config.issuer}`;
}

function demoUrl(stack: BrowserStack, aid: string): string {
  return `${stack.demoOrigin}/?${new URLSearchParams({ gateway: stack.gateway.url, aid, autologin: '1' })}`;
}

async function gatewayStats(stack: BrowserStack): Promise<GatewayStats> {
  return adminStats<GatewayStats>(stack.gateway.httpUrl, stack.gateway.adminToken);
}

async function newPage(ctx: BrowserContext, label: string): Promise<Page> {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(`[bench ${label}] ${e.message}`));
  return page;
}

/** Opens a demo tab logged in as `aid`, waits for `ready`, and returns it with its timings. */
async function openDemoTab(ctx: BrowserContext, stack: BrowserStack, aid: string): Promise<{ page: Page; inPageMs: number | null; wallMs: number }> {
  const page = await newPage(ctx, aid);
  await page.addInitScript({ content: READY_PROBE });
  const t0 = Date.now();
  await untilReady(page, () => page.goto(demoUrl(stack, aid)), READY_TIMEOUT_MS);
  const [timeOrigin, readyAt] = await page.evaluate(() => [performance.timeOrigin, (globalThis as unknown as DemoGlobals).__benchReady.at] as const);
  return { page, inPageMs: readyAt, wallMs: readyAt === null ? Date.now() - t0 : timeOrigin + readyAt - t0 };
}

async function openBasePage(ctx: BrowserContext, stack: BrowserStack): Promise<Page> {
  const page = await newPage(ctx, 'baseline');
  await page.goto(stack.pageUrl);
  await page.waitForSelector('#status[data-ready="1"]', { timeout: READY_TIMEOUT_MS });
  return page;
}

// ---- 1. RPC round trip ----

async function benchRpc(stack: BrowserStack): Promise<DetailedRow[]> {
  const ctx = await stack.browser.newContext();
  try {
    const { page: demo } = await openDemoTab(ctx, stack, newAid(stack, 'rpc'));
    const base = await openBasePage(ctx, stack);
    // The reference SDK's path: the page's own authenticated socket (a second AID, so the
    // worker's long connection is not evicted).
    const direct = new Identity(newAid(stack, 'ws'));
    await direct.register(stack.gateway.url);
    await direct.login(stack.gateway.url, stack.gateway.httpUrl, stack.gateway.rootPem);
    await base.evaluate(([url, token]) => (globalThis as unknown as PageGlobals).bench.wsOpen(url!, token!, 'bench-page'), [stack.gateway.url, direct.accessToken]);

    const paths: Record<'worker' | 'raw' | 'comlink' | 'ws', (n: number) => Promise<number[]>> = {
      worker: (n) => demo.evaluate(async (count) => {
        const { aun } = globalThis as unknown as DemoGlobals;
        const out: number[] = [];
        for (let i = 0; i < count; i++) {
          const t0 = performance.now();
          await aun.call('meta.ping', {});
          out.push((performance.now() - t0) * 1000);
        }
        return out;
      }, n),
      raw: (n) => base.evaluate((count) => (globalThis as unknown as PageGlobals).bench.rawEcho(count), n),
      comlink: (n) => base.evaluate((count) => (globalThis as unknown as PageGlobals).bench.comlinkNoop(count), n),
      ws: (n) => base.evaluate((count) => (globalThis as unknown as PageGlobals).bench.wsPing(count), n),
    };
    const order = Object.keys(paths) as (keyof typeof paths)[];
    const samples = Object.fromEntries(order.map((k) => [k, [] as number[]])) as Record<keyof typeof paths, number[]>;
    for (const k of order) await paths[k](RPC_WARMUP);
    // Interleaved rounds, rotating the order, so VM noise spreads over all four paths.
    for (let round = 0; round < RPC_ROUNDS; round++) {
      for (let j = 0; j < order.length; j++) {
        const k = order[(round + j) % order.length]!;
        samples[k].push(...(await paths[k](RPC_PER_ROUND)));
      }
    }
    await base.evaluate(() => (globalThis as unknown as PageGlobals).bench.wsClose());

    const s = Object.fromEntries(order.map((k) => [k, summarize(samples[k])])) as Record<keyof typeof paths, Summary>;
    const n = RPC_ROUNDS * RPC_PER_ROUND;
    const name = `browser: aun.call('meta.ping') tab→worker→gateway, ${n.toLocaleString('en')} sequential (${us(s.worker)})`;
    const row = (k: 'raw' | 'comlink' | 'ws', label: string): DetailedRow => ({
      name,
      value: s.worker.mean,
      unit: 'µs',
      baseline: { name: `${label} (${us(s[k])})`, value: s[k].mean, unit: 'µs' },
      // Pages are not cross-origin isolated (like the demo), so performance.now() is coarsened to
      // 100 µs: p50/p99 are quantised, means are not.
      detail: { samples: n, timerResolutionUs: 100, value: s.worker, baseline: s[k] },
    });
    return [
      row('ws', 'direct WebSocket meta.ping from the page, reference-SDK path'),
      row('comlink', 'bare SharedWorker, Comlink noop()'),
      row('raw', 'bare SharedWorker, MessagePort echo'),
    ];
  } finally {
    await ctx.close();
  }
}

// ---- 2 and 4. Fan-out and gateway footprint ----

/**
 * Writes `n` event frames to the AID's sockets through the admin API, `INJECT_CONCURRENCY`
 * requests in flight on keep-alive connections opened beforehand. The admin endpoint tops out
 * at ~1.5 k requests/s here whatever the concurrency; more lanes only queue requests in Node
 * (64 lanes gave ~1 s outliers before the frame even reached the gateway socket).
 */
export async function injectBurst(stack: BrowserStack, aid: string, n: number): Promise<{ sockets: number; ms: number }> {
  const inject = async (target: string, params: unknown) => {
    // Not an `app.*` event: those are notify() messages, which the owner passes on only with the
    // gateway's `_notify` stamp (an unstamped one is dropped, never published as raw).
    const frame = JSON.stringify({ jsonrpc: '2.0', method: 'event/bench.tick', params });
    const res = await adminFetch(stack.gateway.httpUrl, stack.gateway.adminToken, 'inject', { aid: target, frame });
    if (!res.ok) throw new Error(`admin inject: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { sockets: number }).sockets;
  };
  // Opens the lanes' connections to an AID nobody holds, so the burst does not pay for them.
  await Promise.all(Array.from({ length: INJECT_CONCURRENCY }, () => inject('nobody.bench', {})));
  let next = 0;
  let sockets = 0;
  const t0 = Date.now();
  const lane = async () => {
    while (next < n) {
      const i = next++;
      sockets = Math.max(sockets, await inject(aid, { i, t: Date.now() }));
    }
  };
  await Promise.all(Array.from({ length: INJECT_CONCURRENCY }, lane));
  return { sockets, ms: Date.now() - t0 };
}

/** The same burst to a Node socket: what the gateway hop alone costs, the floor of the real path. */
async function injectFloor(stack: BrowserStack, probe: Session): Promise<Summary> {
  const latencies: number[] = [];
  const onMessage = (data: unknown) => {
    const now = Date.now();
    const f = JSON.parse(String(data)) as { method?: string; params?: { t: number } };
    if (f.method === 'event/bench.tick') latencies.push(now - f.params!.t);
  };
  probe.ws.on('message', onMessage);
  try {
    await injectBurst(stack, probe.identity.aid, BURST);
    const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
    while (latencies.length < BURST && Date.now() < deadline) await sleep(50);
  } finally {
    probe.ws.off('message', onMessage);
  }
  if (latencies.length < BURST) console.warn(`warning: inject floor: the Node socket got ${latencies.length}/${BURST} events`);
  return summarize(latencies);
}

interface Delivery {
  latencies: number[];
  perTab: number[];
}

/** Polls every page until each saw `n` distinct events or the deadline passes. */
async function collect(pages: Page[], read: (p: Page) => Promise<{ latencies: number[]; distinct: number }>, n: number): Promise<Delivery> {
  const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
  for (;;) {
    const counts = await Promise.all(pages.map(async (p) => (await read(p)).distinct));
    if (counts.every((c) => c >= n) || Date.now() > deadline) break;
    await sleep(200);
  }
  const records = await Promise.all(pages.map(read));
  return { latencies: records.flatMap((r) => r.latencies), perTab: records.map((r) => r.distinct) };
}

function warnIncomplete(what: string, d: Delivery, n: number): number {
  let missing = 0;
  d.perTab.forEach((got, i) => {
    if (got < n) {
      missing += n - got;
      console.warn(`warning: ${what}: tab ${i + 1}/${d.perTab.length} got ${got}/${n} events`);
    }
  });
  return missing;
}

const readDemo = (p: Page) => p.evaluate(() => {
  const r = (globalThis as unknown as DemoGlobals).__benchFanout!;
  return { latencies: r.latencies, distinct: r.seen.size };
});
const readBase = (p: Page) => p.evaluate(() => (globalThis as unknown as PageGlobals).bench.received());

async function fanoutReal(stack: BrowserStack, tabs: number): Promise<{ delivery: Delivery; sockets: number; burstMs: number; connections: number; longConnections: number; logins: number }> {
  const ctx = await stack.browser.newContext();
  try {
    const aid = newAid(stack, `fan${tabs}t`);
    const before = await gatewayStats(stack);
    const pages: Page[] = [];
    for (let i = 0; i < tabs; i++) pages.push((await openDemoTab(ctx, stack, aid)).page);
    await sleep(300); // lets the short login sockets close
    const after = await gatewayStats(stack);
    const mine = after.connections.filter((c) => c.aid === aid);
    for (const p of pages) {
      await p.evaluate(async () => {
        const g = globalThis as unknown as DemoGlobals;
        const rec = { latencies: [] as number[], seen: new Set<number>() };
        g.__benchFanout = rec;
        g.aun.on('raw', (d) => {
          const now = Date.now();
          if (d.event !== 'bench.tick') return;
          const { i, t } = d.params as { i: number; t: number };
          rec.latencies.push(now - t);
          rec.seen.add(i);
        });
        // Same port, same order: once this answers, the subscription is in place.
        await g.aun.call('meta.ping', {});
      });
    }
    const burst = await injectBurst(stack, aid, BURST);
    const delivery = await collect(pages, readDemo, BURST);
    return {
      delivery, sockets: burst.sockets, burstMs: burst.ms,
      connections: mine.length, longConnections: mine.filter((c) => c.kind === 'long').length, logins: after.logins - before.logins,
    };
  } finally {
    await ctx.close();
  }
}

async function fanoutBare(stack: BrowserStack, tabs: number): Promise<Delivery> {
  const ctx = await stack.browser.newContext();
  try {
    const pages: Page[] = [];
    for (let i = 0; i < tabs; i++) pages.push(await openBasePage(ctx, stack));
    const attached = await pages[0]!.evaluate(() => (globalThis as unknown as PageGlobals).bench.attached());
    if (attached !== tabs) throw new Error(`bare SharedWorker has ${attached} pages attached, expected ${tabs}`);
    await pages[0]!.evaluate((n) => (globalThis as unknown as PageGlobals).bench.broadcast(n), BURST);
    return await collect(pages, readBase, BURST);
  } finally {
    await ctx.close();
  }
}

async function benchFanout(stack: BrowserStack): Promise<{ fanout: DetailedRow[]; footprint: DetailedRow[] }> {
  const fanout: DetailedRow[] = [];
  const footprint: DetailedRow[] = [];
  const probeId = new Identity(newAid(stack, 'probe'));
  await probeId.register(stack.gateway.url);
  await probeId.login(stack.gateway.url, stack.gateway.httpUrl, stack.gateway.rootPem);
  const probe = await Session.open(stack.gateway.url, probeId, { deviceId: 'bench-probe' });
  try {
    for (const tabs of FANOUT_TABS) {
      const label = `${tabs} tab${tabs === 1 ? '' : 's'}`;
      const floor = await injectFloor(stack, probe);
      const real = await fanoutReal(stack, tabs);
      const bare = await fanoutBare(stack, tabs);
      if (real.sockets !== 1) console.warn(`warning: fan-out ${label}: the gateway wrote each event to ${real.sockets} sockets, expected 1`);
      const missing = warnIncomplete(`fan-out via worker, ${label}`, real.delivery, BURST);
      const missingBare = warnIncomplete(`fan-out bare SharedWorker, ${label}`, bare, BURST);
      const r = summarize(real.delivery.latencies);
      const b = summarize(bare.latencies);
      const incomplete = missing ? `, ${missing} of ${tabs * BURST} events MISSING` : '';
      const incompleteBare = missingBare ? `, ${missingBare} of ${tabs * BURST} MISSING` : '';
      const detail = { tabs, events: BURST, injectConcurrency: INJECT_CONCURRENCY, injectMs: real.burstMs, value: r, baseline: b, gatewayHopOnly: floor, missing, missingBare };
      for (const stat of ['p50', 'p99'] as const) {
        fanout.push({
          name: `browser: fan-out of ${BURST.toLocaleString('en')} gateway events (injected in ${real.burstMs} ms) → ${label}, ${stat} over (tab, event); gateway hop alone ${stat} ${floor[stat]} ms${incomplete}`,
          value: r[stat],
          unit: 'ms',
          baseline: { name: `bare SharedWorker posting ${BURST.toLocaleString('en')} one-way messages back to back → ${tabs} page${tabs === 1 ? '' : 's'}, ${stat}${incompleteBare}`, value: b[stat], unit: 'ms' },
          detail,
        });
      }
      footprint.push(
        {
          name: `browser: gateway connections for ${label} on one AID (long: ${real.longConnections})`,
          value: real.connections,
          unit: 'connections',
          baseline: { name: `reference SDK: ${tabs} long connection${tabs === 1 ? '' : 's'}, one per tab (by construction, not measured)`, value: tabs, unit: 'connections' },
        },
        {
          name: `browser: gateway logins for ${label} on one AID`,
          value: real.logins,
          unit: 'logins',
          baseline: { name: `reference SDK: ${tabs} login${tabs === 1 ? '' : 's'}, one per tab (by construction, not measured)`, value: tabs, unit: 'logins' },
        },
      );
    }
  } finally {
    probe.close();
  }
  return { fanout, footprint };
}

// ---- 3. Tab open → ready ----

async function benchTabOpen(stack: BrowserStack): Promise<DetailedRow[]> {
  const ctx = await stack.browser.newContext();
  try {
    const aid = newAid(stack, 'open');
    const first = await openDemoTab(ctx, stack, aid);
    const more: { inPageMs: number | null; wallMs: number }[] = [];
    for (let i = 0; i < EXTRA_TABS; i++) more.push(await openDemoTab(ctx, stack, aid));
    if (first.inPageMs === null || more.some((m) => m.inPageMs === null)) throw new Error('the ready probe did not fire in every tab');
    const s = summarize(more.map((m) => m.inPageMs!));
    const wall = summarize(more.map((m) => m.wallMs));
    const detail = { tabs: EXTRA_TABS, inPage: s, gotoToReady: wall, first: { inPageMs: first.inPageMs, gotoToReadyMs: first.wallMs } };
    const baseline = { name: `first tab, fresh origin store: create identity + full login (goto→ready ${first.wallMs.toFixed(0)} ms)`, value: first.inPageMs, unit: 'ms' };
    return [
      { name: `browser: tab open → ready with the session up, median of ${EXTRA_TABS} more tabs (navigation start → data-state=ready; goto→ready ${wall.p50.toFixed(0)} ms)`, value: s.p50, unit: 'ms', baseline, detail },
      { name: `browser: tab open → ready with the session up, p99 of ${EXTRA_TABS} more tabs (goto→ready ${wall.p99.toFixed(0)} ms)`, value: s.p99, unit: 'ms', baseline, detail },
    ];
  } finally {
    await ctx.close();
  }
}

export async function benchBrowser(): Promise<BenchRow[]> {
  return withBrowserStack(async (stack) => {
    const step = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
      const t0 = Date.now();
      const out = await run();
      console.error(`[bench] ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return out;
    };
    const rpc = await step('rpc round trips', () => benchRpc(stack));
    const { fanout, footprint } = await step('fan-out and gateway footprint', () => benchFanout(stack));
    const open = await step('tab open', () => benchTabOpen(stack));
    return [...rpc, ...fanout, ...open, ...footprint];
  });
}
