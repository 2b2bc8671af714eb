// Ladder rows of `npm run bench` (issue 6), per rung (shared, leader, single, forced through the
// demo's `?rung=`), each next to the reference approach measured in the same run: a tab that owns
// its WebSocket and does a full two-phase login itself (page/ref.ts, this repo's login code).
//  1. Tab open → ready with the session already up: OPEN_TABS more demo tabs on an AID whose
//     session one tab already holds, timed in the page from the `aun:connect` mark
//     (demo/connect.ts, right before connect()) and from navigation start, to the moment
//     #state says data-state="ready". The single rung has no session to share (every tab starts
//     its own owner and gateway session): it is measured anyway and its rows say so.
//     Baseline: a fresh reference tab opened after each demo tab, from the same mark (right
//     before its login) and from navigation start to its #state ready.
//     The shared and leader rungs are measured again with every measured tab's CPU throttled 4×
//     (CDP Emulation.setCPUThrottlingRate; its reference tabs too): a busy or slow machine. CDP
//     cannot throttle workers, so the SharedWorker (and the leader's dedicated worker) run as is.
//  2. Failover: the owner is killed (shared: CDP Target.closeTarget on the shared_worker; leader:
//     the leader tab closed), FAILOVERS times; timed on the wall clock (Date.now(), the same clock
//     in Node and in the page) from the kill command to (a) the new owner's hello in a surviving
//     tab — the client's `owner` event, which it emits once re-attached and logged back in to the
//     new owner — and (b) that tab's session ready again. The single rung's owner dies with its
//     only tab: its rows time a reload → (a) connect() resolved (the owner's hello) and (b) ready.
//     Baseline, measured just before each rung with only the reference tab on the gateway: the
//     gateway drops the reference tab's socket (admin drop) and the tab logs in afresh and
//     reconnects; for the single rung, a reference tab's reload → ready.
// Every scenario gets its own browser context and AID. No timing is asserted anywhere.
// While a tab is being timed, Playwright runs nothing in it (see ready-signal.ts).

import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import type { AunClient, SessionSnapshot } from '../../client-stub/index.ts';
import type { GatewayStats } from '../../gateway/http.ts';
import type { Rung } from '../../protocol/tab.ts';
import { adminFetch, adminStats } from '../support/admin.ts';
import { Identity } from '../support/aun-client.ts';
import { withBrowserStack, type BrowserStack } from './browser-stack.ts';
import { READY_PROBE, untilReady, type ReadyRecord } from './ready-signal.ts';
import type { RefTabParams, RefTabRecord } from './page/ref-api.ts';
import type { BenchRow } from './report.ts';
import { summarize } from './stats.ts';

interface DetailedRow extends BenchRow {
  detail?: Record<string, unknown>;
}

const RUNGS: readonly Rung[] = ['shared', 'leader', 'single'];
const OPEN_TABS = 10;
const FAILOVERS = 5;
const READY_TIMEOUT_MS = 30_000;
const PROBE_TIMEOUT_MS = 15_000;
const SETTLE_MS = 300;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the init script records in every page (`globalThis.__ladder`). */
interface LadderRecord {
  /** performance.now() and Date.now() when the demo assigned `globalThis.aun`, i.e. connect() resolved after the owner's hello. */
  aunAt: number | null;
  aunWall: number | null;
}

/** What the failover probe records in a surviving tab (`globalThis.__fail`). */
interface FailRecord {
  ownerWall: number | null;
  readyWall: number | null;
  readyVia: string | null;
  incarnation: string | null;
  strategy: string | null;
  states: string[];
}

type PageGlobals = {
  aun: AunClient;
  __ladder: LadderRecord;
  __benchReady: ReadyRecord;
  __fail?: FailRecord;
  __failHooked?: boolean;
  ref?: RefTabRecord;
};

// Plain JS, like READY_PROBE (which runs beside it): notes when the demo assigns `aun`.
const PROBE = `(() => {
  const rec = { aunAt: null, aunWall: null };
  globalThis.__ladder = rec;
  let client;
  Object.defineProperty(globalThis, 'aun', {
    configurable: true,
    enumerable: true,
    get() { return client; },
    set(v) {
      client = v;
      if (rec.aunAt === null) { rec.aunAt = performance.now(); rec.aunWall = Date.now(); }
    },
  });
})();`;

let aidSeq = 0;
function newAid(stack: BrowserStack, tag: string): string {
  return `ladder${tag}${Date.now() % 1e8}x${++aidSeq}.${stack.gateway.config.issuer}`;
}

function demoUrl(stack: BrowserStack, aid: string, rung: Rung): string {
  return `${stack.demoOrigin}/?${new URLSearchParams({ gateway: stack.gateway.url, aid, autologin: '1', rung })}`;
}

async function newContext(stack: BrowserStack): Promise<BrowserContext> {
  const ctx = await stack.browser.newContext();
  await ctx.addInitScript({ content: READY_PROBE });
  await ctx.addInitScript({ content: PROBE });
  return ctx;
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = PROBE_TIMEOUT_MS, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * CPU slow-down of the measured tabs in the throttled rows: the main thread of each new page runs
 * this many times slower (CDP Emulation.setCPUThrottlingRate, set before navigation). CDP cannot
 * throttle a worker ("only supported for pages"), so the SharedWorker runs at full speed.
 */
const THROTTLE = 4;
const THROTTLED_RUNGS: readonly Rung[] = ['shared', 'leader'];

async function openTab(ctx: BrowserContext, url: string, label: string, throttle = 1): Promise<Page> {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(`[bench ladder ${label}] ${e.message}`));
  if (throttle !== 1) {
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: throttle });
  }
  await untilReady(page, () => page.goto(url), READY_TIMEOUT_MS);
  return page;
}


interface OpenSample {
  /** `aun:connect` mark → #state ready. */
  fromMark: number;
  /** `aun:connect` → `aun:attached`: connect() alone, before the app logs in (null if unmarked). */
  attach: number | null;
  /** Navigation start → #state ready. */
  fromNav: number;
  rung: string | null;
  incarnation: string | null;
  strategy: string | null;
}

/** The page's own timings of its way to ready (every value measured in the page). */
function readOpen(page: Page): Promise<OpenSample> {
  return page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals;
    const mark = performance.getEntriesByName('aun:connect')[0];
    const attached = performance.getEntriesByName('aun:attached')[0];
    const ready = g.__benchReady;
    if (!mark || ready.at === null) throw new Error('no aun:connect mark or no ready seen in this page');
    const snap = g.aun?.state as (SessionSnapshot & { detail?: { strategy?: string } }) | null | undefined;
    return {
      fromMark: ready.at - mark.startTime,
      attach: attached ? attached.startTime - mark.startTime : null,
      fromNav: ready.at,
      rung: g.aun?.rung ?? null,
      incarnation: g.aun?.incarnation ?? null,
      strategy: snap?.detail?.strategy ?? null,
    };
  });
}

async function gatewayStats(stack: BrowserStack): Promise<GatewayStats> {
  return adminStats<GatewayStats>(stack.gateway.httpUrl, stack.gateway.adminToken);
}

async function longConnections(stack: BrowserStack, aid: string): Promise<number> {
  return (await gatewayStats(stack)).connections.filter((c) => c.aid === aid && c.kind === 'long').length;
}

// ---- the reference approach: own socket + full two-phase login per tab ----

interface RefTabs {
  /** Opens one more reference tab (its CPU `throttle`× slower), reads its timings and closes it. */
  openOne(throttle?: number): Promise<OpenSample>;
  /** The gateway drops the socket of a live reference tab: drop → noticed, and → fresh login + long connection ready. Needs the gateway to itself. */
  recovery(n: number): Promise<{ lostMs: number; readyMs: number }[]>;
  /** page.reload() of a reference tab → ready (wall clock), and navigation start → ready (in the page). */
  reload(n: number): Promise<{ readyMs: number; fromNav: number }[]>;
  close(): Promise<void>;
}

/** One AID registered from Node; every reference tab logs in to it with a device id of its own. */
async function referenceTabs(stack: BrowserStack): Promise<RefTabs> {
  const id = new Identity(newAid(stack, 'ref'));
  await id.register(stack.gateway.url);
  const pkcs8 = id.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
  let device = 0;
  const url = () => {
    const params: RefTabParams = { gateway: stack.gateway.url, aid: id.aid, cert: id.cert, pkcs8, deviceId: `bench-ref-${++device}` };
    return `${stack.refUrl}#${encodeURIComponent(JSON.stringify(params))}`;
  };
  const readRef = (p: Page) => p.evaluate(() => (globalThis as unknown as PageGlobals).ref!);
  const ctx = await newContext(stack);
  // One tab first so the page's files are in the HTTP cache, as the demo's first tab does.
  await (await openTab(ctx, url(), 'ref')).close();
  return {
    async openOne(throttle = 1) {
      const page = await openTab(ctx, url(), 'ref', throttle);
      const s = await readOpen(page);
      await page.close();
      return s;
    },
    async recovery(n) {
      const page = await openTab(ctx, url(), 'ref');
      const out: { lostMs: number; readyMs: number }[] = [];
      for (let i = 0; i < n; i++) {
        await sleep(SETTLE_MS);
        const before = (await readRef(page)).recoveries.length;
        const killedAt = Date.now();
        const res = await adminFetch(stack.gateway.httpUrl, stack.gateway.adminToken, 'drop');
        if (!res.ok) throw new Error(`admin drop: ${res.status}`);
        const rec = await until('the reference tab back up', async () => {
          const r = await readRef(page);
          if (r.error) throw new Error(`reference tab: ${r.error}`);
          return r.recoveries.length > before ? r.recoveries[before]! : null;
        });
        out.push({ lostMs: rec.lostAt - killedAt, readyMs: rec.readyAt - killedAt });
      }
      await page.close();
      return out;
    },
    async reload(n) {
      const page = await openTab(ctx, url(), 'ref');
      const out: { readyMs: number; fromNav: number }[] = [];
      for (let i = 0; i < n; i++) {
        await sleep(SETTLE_MS);
        const t0 = Date.now();
        await untilReady(page, () => page.reload(), READY_TIMEOUT_MS);
        const ready = await page.evaluate(() => (globalThis as unknown as PageGlobals).__benchReady);
        out.push({ readyMs: ready.wall! - t0, fromNav: ready.at! });
      }
      await page.close();
      return out;
    },
    close: () => ctx.close(),
  };
}

// ---- 1. tab open → ready, session up ----

interface OpenFigures {
  first: OpenSample;
  more: OpenSample[];
  /** Reference tabs, one opened after each of `more`. */
  ref: OpenSample[];
  /** The bare SharedWorker attach floor (shared rung only). */
  floor?: number[];
}

/** `throttle`: the CPU slow-down of every measured tab (the more tabs and their reference tabs). */
async function measureOpen(stack: BrowserStack, rung: Rung, ref: RefTabs, throttle = 1): Promise<OpenFigures> {
  const ctx = await newContext(stack);
  try {
    const aid = newAid(stack, rung);
    // The first tab creates the identity and logs in: the session is up from here on.
    const firstPage = await openTab(ctx, demoUrl(stack, aid, rung), rung);
    const first = await readOpen(firstPage);
    // A single-rung owner cannot take other tabs, and one AID has one session in the origin: a
    // second single-rung tab waits for the first one's session until that tab goes.
    if (rung === 'single') await firstPage.close();
    const more: OpenSample[] = [];
    const refs: OpenSample[] = [];
    for (let i = 0; i < OPEN_TABS; i++) {
      const page = await openTab(ctx, demoUrl(stack, aid, rung), rung, throttle);
      more.push(await readOpen(page));
      // Single-rung tabs share nothing: each holds its own owner, and the AID's session only while
      // it is open, so each is closed once measured.
      if (rung === 'single') await page.close();
      // The baseline interleaved, so both see the same load on the machine.
      refs.push(await ref.openOne(throttle));
    }
    const wrong = [first, ...more].filter((s) => s.rung !== rung);
    if (wrong.length) throw new Error(`${wrong.length} tab(s) ran on rung ${wrong[0]!.rung}, not ${rung}`);
    if (rung !== 'single' && more.some((s) => s.incarnation !== first.incarnation)) throw new Error(`${rung}: a later tab got another owner than the first`);
    return { first, more, ref: refs };
  } finally {
    await ctx.close();
  }
}

// ---- 2. failover ----

interface FailSample {
  /** Kill command → the new owner's hello in the surviving tab (single: connect() resolved after reload). */
  ownerMs: number;
  /** Kill command → that tab's session ready again. */
  readyMs: number;
  readyVia: string | null;
  strategy: string | null;
}

/** Arms the probe in a surviving tab: the next `owner` event, and the session ready after it. */
function armFailover(page: Page): Promise<void> {
  return page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals;
    // Reset after hooking: on('state') hands a new handler the current state at once, which is
    // the state before the kill, not the recovery.
    // (No named function in here: the bundler would wrap it in a helper the page does not have.)
    const empty = JSON.stringify({ ownerWall: null, readyWall: null, readyVia: null, incarnation: null, strategy: null, states: [] });
    g.__fail = JSON.parse(empty);
    if (g.__failHooked) return;
    g.__failHooked = true;
    g.aun.on('owner', (o) => {
      const r = g.__fail!;
      if (r.ownerWall !== null) return;
      r.ownerWall = Date.now();
      r.incarnation = o.incarnation;
      // The re-attach logs the tab back in; if the new owner's session was up by then, the
      // answer says ready and no state event follows for this tab.
      const snap = g.aun.state as (SessionSnapshot & { detail?: { strategy?: string } }) | null;
      if (r.readyWall === null && snap?.state === 'ready') {
        r.readyWall = r.ownerWall;
        r.readyVia = 'login answer at re-attach';
        r.strategy = snap.detail?.strategy ?? null;
      }
    });
    g.aun.on('state', (s) => {
      const r = g.__fail!;
      const now = Date.now();
      r.states.push(`${s.state}@${now}`);
      if (s.state !== 'ready' || r.readyWall !== null) return;
      r.readyWall = now;
      r.readyVia = 'state event';
      r.strategy = (s as SessionSnapshot & { detail?: { strategy?: string } }).detail?.strategy ?? null;
    });
    g.__fail = JSON.parse(empty);
  });
}

const failOf = (page: Page) => page.evaluate(() => (globalThis as unknown as PageGlobals).__fail!);
const isLeader = (page: Page) => page.evaluate(() => Boolean((globalThis as unknown as { aun: { linker?: { transport?: { isLeader?: boolean } } } }).aun.linker?.transport?.isLeader));

async function sharedWorkerTargets(cdp: CDPSession, origin: string): Promise<string[]> {
  const { targetInfos } = (await cdp.send('Target.getTargets')) as { targetInfos: { targetId: string; type: string; url: string }[] };
  return targetInfos.filter((t) => t.type === 'shared_worker' && t.url.startsWith(origin)).map((t) => t.targetId);
}

/** Every tab on the same, new owner and ready; one long connection left for the AID. */
async function settle(stack: BrowserStack, tabs: Page[], aid: string, incarnation: string): Promise<void> {
  for (const t of tabs) {
    await until('every tab on the new owner and ready', () => t.evaluate((inc) => {
      const a = (globalThis as unknown as PageGlobals).aun;
      return a.incarnation === inc && a.state?.state === 'ready';
    }, incarnation));
  }
  await until('one long connection for the AID', async () => (await longConnections(stack, aid)) === 1, 5_000, 50).catch((e: Error) => console.warn(`warning: ladder: ${e.message}`));
  await sleep(SETTLE_MS);
}

async function measureFailover(stack: BrowserStack, rung: Rung): Promise<FailSample[]> {
  const ctx = await newContext(stack);
  const aid = newAid(stack, `${rung}fail`);
  const open = () => openTab(ctx, demoUrl(stack, aid, rung), rung);
  const samples: FailSample[] = [];
  let cdp: CDPSession | null = null;
  try {
    if (rung === 'single') {
      const page = await open();
      for (let i = 0; i < FAILOVERS; i++) {
        await sleep(SETTLE_MS);
        const t0 = Date.now();
        await untilReady(page, () => page.reload(), READY_TIMEOUT_MS);
        const { aun, ready } = await page.evaluate(() => {
          const g = globalThis as unknown as PageGlobals;
          return { aun: g.__ladder, ready: g.__benchReady };
        });
        const s = await readOpen(page);
        samples.push({ ownerMs: aun.aunWall! - t0, readyMs: ready.wall! - t0, readyVia: 'reload, #state ready', strategy: s.strategy });
      }
      return samples;
    }

    const tabs = [await open(), await open()];
    if (rung === 'shared') cdp = await stack.browser.newBrowserCDPSession();
    for (let i = 0; i < FAILOVERS; i++) {
      let victim: Page | null = null;
      let targetId: string | null = null;
      if (rung === 'leader') {
        const leaders = await Promise.all(tabs.map(isLeader));
        if (leaders.filter(Boolean).length !== 1) throw new Error(`leader rung: ${leaders.filter(Boolean).length} leaders among ${tabs.length} tabs`);
        victim = tabs[leaders.indexOf(true)]!;
      } else {
        const ids = await until('one shared worker', async () => {
          const found = await sharedWorkerTargets(cdp!, stack.demoOrigin);
          return found.length === 1 ? found : null;
        }, 5_000, 50);
        targetId = ids[0]!;
      }
      const prober = tabs.find((t) => t !== victim)!;
      await armFailover(prober);

      const killedAt = Date.now();
      if (targetId) await cdp!.send('Target.closeTarget', { targetId });
      else {
        await victim!.close();
        tabs.splice(tabs.indexOf(victim!), 1);
      }
      const rec = await until('the new owner and the session ready in the surviving tab', async () => {
        const r = await failOf(prober);
        return r.ownerWall !== null && r.readyWall !== null ? r : null;
      });
      samples.push({ ownerMs: rec.ownerWall! - killedAt, readyMs: rec.readyWall! - killedAt, readyVia: rec.readyVia, strategy: rec.strategy });
      if (rung === 'leader') tabs.push(await open());
      await settle(stack, tabs, aid, rec.incarnation!);
    }
    return samples;
  } finally {
    await cdp?.detach().catch(() => {});
    await ctx.close();
  }
}

// ---- rows ----

const LABEL: Record<Rung, string> = {
  shared: 'shared rung (SharedWorker, session up)',
  leader: 'leader rung (owner in the leader tab\'s dedicated worker, session up)',
  single: 'single rung — NO shared session: every tab starts its own owner and gateway session',
};

const KILL: Record<Rung, string> = {
  shared: 'kill (CDP Target.closeTarget on the shared_worker)',
  leader: 'kill (the leader tab closed)',
  single: 'no failover on this rung (the owner dies with its only tab): reload',
};

function counts(values: (string | null)[]): string {
  const m = new Map<string, number>();
  for (const v of values) m.set(v ?? 'n/a', (m.get(v ?? 'n/a') ?? 0) + 1);
  return [...m].map(([k, n]) => `${k}×${n}`).join(', ');
}

const REF = 'reference approach: a fresh tab with its own WebSocket and a full two-phase login in the page (login1 + login2 short sockets, auth-server chain check, long socket auth.connect)';

function openRows(rung: Rung, r: OpenFigures, throttle = 1): DetailedRow[] {
  const mark = summarize(r.more.map((s) => s.fromMark));
  const nav = summarize(r.more.map((s) => s.fromNav));
  const refMark = summarize(r.ref.map((s) => s.fromMark));
  const refNav = summarize(r.ref.map((s) => s.fromNav));
  const n = r.more.length;
  const tokens = rung === 'single' ? ` (token: ${counts(r.more.map((s) => s.strategy))})` : '';
  const detail = { tabs: n, throttle, fromMark: mark, fromNav: nav, first: r.first, samples: r.more, baseline: { tabs: r.ref.length, fromMark: refMark, fromNav: refNav, samples: r.ref } };
  // Throttled rows say so before the rung, so that no goal (set for an unthrottled tab) reads them.
  const slow = throttle === 1 ? '' : `tabs' CPU throttled ${throttle}× (CDP; the SharedWorker is not), `;
  const row = (stat: 'p50' | 'p99', from: 'mark' | 'nav'): DetailedRow => {
    const [v, b] = from === 'mark' ? [mark, refMark] : [nav, refNav];
    const which = stat === 'p50' ? 'median' : `p99 (= max of ${n})`;
    const span = from === 'mark' ? 'aun:connect mark → #state ready' : 'navigation start → #state ready';
    const goal = from === 'mark' && stat === 'p50' && throttle === 1 ? ', goal < 20 ms' : '';
    return {
      name: `ladder: tab open → ready, ${slow}${LABEL[rung]}${tokens}: ${span}, ${which} of ${n} more tabs${goal}`,
      value: v[stat],
      unit: 'ms',
      baseline: { name: `${REF}${throttle === 1 ? '' : `, its CPU throttled ${throttle}× too`}, ${from === 'mark' ? 'the same mark right before its login' : 'navigation start'} → ready, ${which} of ${b.n} tabs interleaved with these`, value: b[stat], unit: 'ms' },
      detail,
    };
  };
  const rows = [row('p50', 'mark'), row('p99', 'mark'), row('p50', 'nav'), row('p99', 'nav')];
  const attach = r.more.map((s) => s.attach).filter((x): x is number => x !== null);
  if (r.floor && attach.length) {
    const a = summarize(attach);
    const f = summarize(r.floor);
    rows.push({
      name: `ladder: connect() alone (aun:connect → aun:attached: tab lock, worker lookup, attach, hello), ${LABEL[rung]}, median of ${a.n} tabs`,
      value: a.p50,
      unit: 'ms',
      baseline: { name: `bare SharedWorker already running: new SharedWorker → its first echo, median of ${f.n} pages (the browser's own attach floor)`, value: f.p50, unit: 'ms' },
      detail: { attach: a, floor: f },
    });
  }
  return rows;
}

/** The floor under any attach: a page joining a running bare SharedWorker and hearing back once. */
async function measureAttachFloor(stack: BrowserStack): Promise<number[]> {
  const ctx = await newContext(stack);
  try {
    const open = async () => {
      const page = await ctx.newPage();
      await untilReady(page, () => page.goto(stack.pageUrl), READY_TIMEOUT_MS);
      return page.evaluate(() => {
        const a = performance.getEntriesByName('bare:start')[0]!;
        const b = performance.getEntriesByName('bare:first-echo')[0]!;
        return b.startTime - a.startTime;
      });
    };
    await open();
    const out: number[] = [];
    for (let i = 0; i < OPEN_TABS; i++) out.push(await open());
    return out;
  } finally {
    await ctx.close();
  }
}

interface FailoverFigures {
  samples: FailSample[];
  /** shared, leader: the reference tab's recovery; single: its reload. */
  ref: { readyMs: number; lostMs?: number; fromNav?: number }[];
}

function failoverRows(rung: Rung, r: FailoverFigures): DetailedRow[] {
  const owner = summarize(r.samples.map((s) => s.ownerMs));
  const ready = summarize(r.samples.map((s) => s.readyMs));
  const base = summarize(r.ref.map((s) => s.readyMs));
  const n = r.samples.length;
  const baseName = rung === 'single'
    ? `reference approach: a reference tab reloaded → ready (new page, its own socket, full two-phase login), median of ${base.n}, measured just before`
    : `reference approach recovery: the gateway drops a reference tab's socket (admin drop, noticed after ${summarize(r.ref.map((s) => s.lostMs!)).p50.toFixed(0)} ms) → that tab's fresh two-phase login + new long connection ready, median of ${base.n}, measured just before`;
  const baseline = { name: baseName, value: base.p50, unit: 'ms' };
  const detail = { repetitions: n, owner, ready, samples: r.samples, baseline: { summary: base, samples: r.ref } };
  const a = rung === 'single' ? 'connect() resolved after the owner\'s hello' : 'the new owner\'s hello in a surviving tab (its \'owner\' event)';
  const b = rung === 'single' ? 'the tab\'s session ready (#state ready)' : `that tab's session ready again (seen by ${counts(r.samples.map((s) => s.readyVia))}; token: ${counts(r.samples.map((s) => s.strategy))})`;
  return [
    { name: `ladder: failover, ${rung} rung: ${KILL[rung]} → ${a}, median of ${n}`, value: owner.p50, unit: 'ms', baseline, detail },
    { name: `ladder: failover, ${rung} rung: ${KILL[rung]} → ${b}, median of ${n}`, value: ready.p50, unit: 'ms', baseline, detail },
  ];
}

export async function benchLadder(): Promise<BenchRow[]> {
  return withBrowserStack(async (stack) => {
    const step = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
      const t0 = Date.now();
      const out = await run();
      console.error(`[bench] ladder ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return out;
    };
    const ref = await referenceTabs(stack);
    try {
      const open: DetailedRow[] = [];
      const failover: DetailedRow[] = [];
      for (const rung of RUNGS) {
        const figures = await step(`${rung} tab open (+ reference tabs)`, () => measureOpen(stack, rung, ref));
        if (rung === 'shared') figures.floor = await step('bare SharedWorker attach floor', () => measureAttachFloor(stack));
        open.push(...openRows(rung, figures));
      }
      for (const rung of THROTTLED_RUNGS) {
        const figures = await step(`${rung} tab open, tabs throttled ${THROTTLE}× (+ reference tabs)`, () => measureOpen(stack, rung, ref, THROTTLE));
        open.push(...openRows(rung, figures, THROTTLE));
      }
      for (const rung of RUNGS) {
        // Only the reference tab is on the gateway while its baseline runs (admin drop cuts all).
        const base: FailoverFigures['ref'] = rung === 'single'
          ? await step('reference reload', () => ref.reload(FAILOVERS))
          : await step('reference recovery', () => ref.recovery(FAILOVERS));
        const samples = await step(`${rung} failover`, () => measureFailover(stack, rung));
        failover.push(...failoverRows(rung, { samples, ref: base }));
      }
      return [...open, ...failover];
    } finally {
      await ref.close();
    }
  });
}
