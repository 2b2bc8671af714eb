// Delivery rows of `npm run bench`: messages that a Node sender (tests/support/aun-client.ts) sends
// through the dev gateway to an AID open in 1, 5 and 20 demo tabs of one browser context, each
// next to the same messages received by a bare Node aun-client Session (one socket, no worker, no
// tabs), measured in the same run just before:
//  1. messages per second of a 1,000-message burst (all on the sender's socket at once), first
//     send → the last `message` event in the last tab (the runtime's delivery; the app's drawing is
//     load on the same cores). The row also says when every tab had drawn every line: the frame
//     after the last line went into its `#messages` (a MutationObserver: the demo adds a line in its
//     handler, an app that batches its drawing adds it later);
//  2. p50/p99 latency send → `message` event in the tab over every (tab, message) pair, for that
//     burst (queueing included) and for a paced run well under the burst rate (the idle latency);
//  3. the SharedWorker's JS heap (through CDP, after a GC) with 20 tabs attached, before and after
//     the messages, next to the same worker with 1 tab attached; the heap of one demo page for scale;
//  4. the paced run and the burst to 5 tabs again on a busy machine: another process spinning on one
//     core meanwhile, next to the bare Node Session measured with the same process spinning;
//  5. the burst to 1 tab again with the page not drawn (body display:none): the demo's handler
//     still adds every line, nothing is laid out or painted; what the runtime delivers when the
//     app's drawing costs nothing, next to the same bare Node baseline;
//  6. the paced run and the burst end-to-end encrypted (V2 envelopes made by the sender beforehand)
//     to 1 tab, next to a bare Node Session that receives the same kind of envelopes.
// Every tab is checked message by message: each message once, in seq order, and shown in the page.
// The worker's console (its log) and uncaught exceptions are read through CDP and reported.
// `BENCH_PROFILE=<dir>` (with an unminified build) also takes a V8 CPU profile of the worker and of
// the first tab during the burst to 20 tabs (`BENCH_PROFILE_TABS=n` for another count,
// `BENCH_PROFILE_RUN=paced` for the paced run), writes both
// as .cpuprofile files and prints their top self-time functions and the CPU time per browser process.

import { mkdirSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import type { AunClient } from '../../client-stub/index.ts';
import type { InboundMessage } from '../../protocol/tab.ts';
import { encryptP2P, type Envelope } from '../../worker/e2ee/envelope.ts';
import { scalarFromPkcs8, type P256PrivateKey } from '../../worker/e2ee/keys.ts';
import { importPrivateKey } from '../../worker/e2ee/noble.ts';
import { Identity, makeSpk, Session } from '../support/aun-client.ts';
import { targetsFrom } from '../support/e2ee-peer.ts';
import { launchTabStrip } from '../support/chromium.ts';
import { withBrowserStack, type BrowserStack } from './browser-stack.ts';
import { STRIP_HEAD, type BenchRow } from './report.ts';
import { summarize, type Summary } from './stats.ts';

interface DetailedRow extends BenchRow {
  detail?: Record<string, unknown>;
}

const BURST = 1000;
const PACED = 100;
const PACED_INTERVAL_MS = 20;
/** `BENCH_TABS=1,5` runs only those tab counts (the heap rows need 20). */
const TABS = process.env.BENCH_TABS ? process.env.BENCH_TABS.split(',').map(Number) : [1, 5, 20];
const MEMORY_TABS = 20;
/** The tab count whose burst is run again with the pages not drawn. */
const UNDRAWN_TABS = 1;
/** The tab count run again as the tabs of one window, only one in front (run when BENCH_TABS includes it). */
const STRIP_TABS = 20;
/** The tab count of the busy-machine rows (run when BENCH_TABS includes it). */
const BUSY_TABS = 5;
const READY_TIMEOUT_MS = 30_000;
const DELIVERY_TIMEOUT_MS = 30_000;
const CDP_TIMEOUT_MS = 10_000;
/** A pause before each measured run, so that the previous one's teardown (a closed context) is over. */
const SETTLE_MS = 300;
/** Time for the worker to notice closed tabs (their Web Locks are released) before a heap reading. */
const DETACH_SETTLE_MS = 1000;

/** One kind of run: how many messages, and how far apart the sender puts them on its socket. */
interface Load {
  n: number;
  intervalMs: number;
}
const BURST_LOAD: Load = { n: BURST, intervalMs: 0 };
const PACED_LOAD: Load = { n: PACED, intervalMs: PACED_INTERVAL_MS };

/** What each tab records for one run; installed before it, next to the demo's own `message` handler. */
interface TabRecord {
  n: number;
  arrivals: [number, number][];
  seen: Set<number>;
  duplicates: number[];
  disorder: number;
  lastSeq: number;
  /** The frame after the run's last line went into `#messages`; -1 in a background tab (nothing drawn). */
  shownAt: number;
  done: Promise<void>;
  finish: () => void;
}
type DemoGlobals = { aun: AunClient; __delivery?: Record<string, TabRecord> };

interface TabResult {
  arrivals: [number, number][];
  shownAt: number;
  duplicates: number[];
  disorder: number;
  shown: number;
}

interface Outcome {
  n: number;
  /** Messages per second: n over first send → last message in the last tab (or at the Node socket). */
  rate: number;
  elapsedMs: number;
  /** First send → the frame after the last line went into every tab's feed (tabs only). */
  drawnMs?: number;
  /** Send → arrival over every (receiver, message) pair. */
  latency: Summary;
  /** Send → arrival in the last receiver, per message. */
  allReceivers: Summary;
  problems: string[];
}

/** Send times: wall clock (compared with tab clocks, 1 ms steps) and this process's monotonic clock. */
type Sent = { sentAt: number[]; sentHr: number[] };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const count = (n: number) => n.toLocaleString('en');

function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

let seq = 0;
const runId = (tag: string) => `${tag}${Date.now() % 1e8}x${++seq}`;

async function nodeIdentity(stack: BrowserStack, tag: string): Promise<Identity> {
  const id = new Identity(`bench${runId(tag)}.${stack.gateway.config.issuer}`);
  await id.register(stack.gateway.url);
  await id.login(stack.gateway.url, stack.gateway.httpUrl, stack.gateway.rootPem);
  return id;
}

/** Compact list of message indexes: `3-5, 9`. */
function ranges(xs: number[]): string {
  const s = [...new Set(xs)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < s.length;) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    out.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return out.length > 12 ? `${out.slice(0, 12).join(', ')}, …` : out.join(', ');
}

const missingOf = (n: number, got: Set<number>) => ranges(Array.from({ length: n }, (_, i) => i).filter((i) => !got.has(i)));

/**
 * Another process keeping one core busy (a Node busy loop), as other work on a user's machine
 * does; returns its stop. Started before a run and stopped after it, whatever happens.
 */
function spinOneCore(): () => void {
  const child = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  child.on('error', (e) => console.warn(`warning: delivery: the busy-loop process: ${e.message}`));
  return () => void child.kill('SIGKILL');
}

// ---- the sender ----

/**
 * Puts `load.n` message.send requests on the sender's socket, `load.intervalMs` apart (0: back to
 * back); `make(i, now)` builds each payload at its send time. Resolves with each send time once
 * the gateway has answered them all.
 */
async function send(sender: Session, to: string, load: Load, make: (i: number, now: number) => Record<string, unknown>): Promise<Sent> {
  const sentAt: number[] = [];
  const sentHr: number[] = [];
  const answers: Promise<{ status?: string }>[] = [];
  const start = Date.now();
  for (let i = 0; i < load.n; i++) {
    if (load.intervalMs) {
      const wait = start + i * load.intervalMs - Date.now();
      if (wait > 0) await sleep(wait);
    }
    const now = Date.now();
    sentAt.push(now);
    sentHr.push(performance.now());
    answers.push(sender.call<{ status?: string }>('message.send', { to, payload: make(i, now) }));
  }
  const refused = (await Promise.all(answers)).filter((r) => r.status !== 'delivered' && r.status !== 'sent');
  if (refused.length) console.warn(`warning: delivery: ${refused.length}/${load.n} sends answered ${JSON.stringify(refused[0])}`);
  return { sentAt, sentHr };
}

const plaintext = (run: string) => (i: number, t: number) => ({ type: 'text', text: `${run} ${i}`, bench: run, i, t });

/** `shownAt`: per tab, the frame after its feed got the run's last line (0: never). */
function outcome(n: number, sentAt: number[], perReceiver: [number, number][][], problems: string[], shownAt: number[] = []): Outcome {
  const latencies: number[] = [];
  const lastAt = new Map<number, number>();
  let end = sentAt[0]!;
  for (const arrivals of perReceiver) {
    for (const [i, at] of arrivals) {
      latencies.push(at - sentAt[i]!);
      lastAt.set(i, Math.max(lastAt.get(i) ?? 0, at));
      end = Math.max(end, at);
    }
  }
  const elapsedMs = end - sentAt[0]!;
  const drawing = shownAt.filter((at) => at !== -1); // background tabs draw nothing
  const drawn = drawing.length && drawing.every((at) => at > 0) ? Math.max(...drawing) - sentAt[0]! : undefined;
  return {
    ...(drawn === undefined ? {} : { drawnMs: drawn }),
    n,
    rate: n / (elapsedMs / 1000),
    elapsedMs,
    latency: summarize(latencies),
    allReceivers: summarize([...lastAt].map(([i, at]) => at - sentAt[i]!)),
    problems,
  };
}

// ---- the baseline: a bare Node Session ----

/** The payload of a push to the bare Session, for the pushes a run produces. */
type Reader = (method: string, params: Record<string, unknown>) => { bench?: unknown; i?: unknown } | null;

const readPlain: Reader = (method, params) => (method === 'event/message.received' ? params.payload as { bench?: unknown; i?: unknown } : null);

async function bareNode(probe: Session, run: string, n: number, read: Reader, go: () => Promise<Sent>): Promise<Outcome> {
  const arrivals: [number, number][] = [];
  const seen = new Set<number>();
  const duplicates: number[] = [];
  const onMessage = (data: unknown) => {
    const now = performance.now();
    const f = JSON.parse(String(data)) as { method?: string; params?: Record<string, unknown> };
    const p = f.method && f.params ? read(f.method, f.params) : null;
    if (p?.bench !== run || typeof p.i !== 'number') return;
    if (seen.has(p.i)) duplicates.push(p.i);
    else {
      seen.add(p.i);
      arrivals.push([p.i, now]);
    }
  };
  probe.ws.on('message', onMessage);
  try {
    const { sentHr } = await go();
    const until = Date.now() + DELIVERY_TIMEOUT_MS;
    while (seen.size < n && Date.now() < until) await sleep(20);
    const problems: string[] = [];
    if (seen.size < n) problems.push(`bare Node Session got ${seen.size}/${n}; missing ${missingOf(n, seen)}`);
    if (duplicates.length) problems.push(`bare Node Session got duplicates of ${ranges(duplicates)}`);
    for (const p of problems) console.warn(`warning: delivery baseline: ${p}`);
    return outcome(n, sentHr, [arrivals], problems);
  } finally {
    probe.ws.off('message', onMessage);
  }
}

// ---- the worker through CDP ----

/**
 * The SharedWorker of one browser context, through a browser CDP session: its heap and its
 * console. Playwright's CDPSession does not route flattened child sessions it did not create, so
 * this attaches in the (deprecated, still supported) non-flattened mode and talks through
 * Target.sendMessageToTarget.
 */
class WorkerProbe {
  readonly console: string[] = [];
  readonly exceptions: string[] = [];
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly cdp: CDPSession, private readonly sessionId: string) {
    cdp.on('Target.receivedMessageFromTarget', (e) => {
      if (e.sessionId === this.sessionId) this.onMessage(JSON.parse(e.message) as Record<string, unknown>);
    });
  }

  static async attach(browser: Browser, ctx: BrowserContext, page: Page): Promise<WorkerProbe> {
    const pageCdp = await ctx.newCDPSession(page);
    const { targetInfo } = await pageCdp.send('Target.getTargetInfo');
    await pageCdp.detach();
    const cdp = await browser.newBrowserCDPSession();
    try {
      const { targetInfos } = await cdp.send('Target.getTargets');
      const workers = targetInfos.filter((t) => t.type === 'shared_worker' && t.browserContextId === targetInfo.browserContextId);
      if (workers.length !== 1) throw new Error(`expected one shared_worker in the context, found ${workers.length}`);
      const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: workers[0]!.targetId, flatten: false });
      const probe = new WorkerProbe(cdp, sessionId);
      await probe.send('Runtime.enable');
      return probe;
    } catch (e) {
      await cdp.detach().catch(() => {});
      throw e;
    }
  }

  private onMessage(m: Record<string, unknown>): void {
    if (m.method === 'Runtime.consoleAPICalled') {
      const { args } = m.params as { args: { value?: unknown; description?: string }[] };
      this.console.push(args.map((a) => (typeof a.value === 'string' ? a.value : a.description ?? JSON.stringify(a.value))).join(' '));
    } else if (m.method === 'Runtime.exceptionThrown') {
      const { exceptionDetails: d } = m.params as { exceptionDetails: { text: string; exception?: { description?: string } } };
      this.exceptions.push(d.exception?.description ?? d.text);
    }
    const p = typeof m.id === 'number' ? this.pending.get(m.id) : undefined;
    if (!p) return;
    this.pending.delete(m.id as number);
    if (m.error) p.reject(new Error(`worker CDP: ${(m.error as { message: string }).message}`));
    else p.resolve(m.result);
  }

  private send<R>(method: string, params: Record<string, unknown> = {}): Promise<R> {
    const id = ++this.nextId;
    const answer = new Promise<R>((resolve, reject) => this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject }));
    this.cdp.send('Target.sendMessageToTarget', { sessionId: this.sessionId, message: JSON.stringify({ id, method, params }) })
      .catch((e: Error) => this.pending.get(id)?.reject(e));
    return deadline(answer, CDP_TIMEOUT_MS, method).finally(() => this.pending.delete(id));
  }

  /** Starts the V8 sampling profiler in the worker (BENCH_PROFILE). */
  async profileStart(): Promise<void> {
    await this.send('Profiler.enable');
    await this.send('Profiler.setSamplingInterval', { interval: PROFILE_INTERVAL_US });
    await this.send('Profiler.start');
  }

  async profileStop(): Promise<CpuProfile> {
    return (await this.send<{ profile: CpuProfile }>('Profiler.stop')).profile;
  }

  /** CPU seconds used so far by each process of the browser (CDP SystemInfo), summed by process type. */
  async processCpu(): Promise<Map<string, number>> {
    const { processInfo } = await this.cdp.send('SystemInfo.getProcessInfo');
    const by = new Map<string, number>();
    for (const p of processInfo) by.set(p.type, (by.get(p.type) ?? 0) + p.cpuTime);
    return by;
  }

  /** Used JS heap in MiB after a full GC. */
  async heapMiB(): Promise<number> {
    await this.send('HeapProfiler.collectGarbage');
    return (await this.send<{ usedSize: number }>('Runtime.getHeapUsage')).usedSize / 2 ** 20;
  }

  async close(): Promise<void> {
    await this.cdp.send('Target.detachFromTarget', { sessionId: this.sessionId }).catch(() => {});
    await this.cdp.detach().catch(() => {});
  }
}

async function pageHeapMiB(ctx: BrowserContext, page: Page): Promise<number> {
  const cdp = await ctx.newCDPSession(page);
  try {
    await cdp.send('HeapProfiler.collectGarbage');
    return (await cdp.send('Runtime.getHeapUsage')).usedSize / 2 ** 20;
  } finally {
    await cdp.detach().catch(() => {});
  }
}

// ---- CPU profiles (BENCH_PROFILE=<dir>) ----

/** The parts of a V8 CPU profile (CDP Profiler.Profile) read here. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  startTime: number;
  endTime: number;
}

const PROFILE_INTERVAL_US = 200;
/** With BENCH_PROFILE set, the worker and the first tab are profiled during the burst to this many tabs. */
const PROFILE_TABS = Number(process.env.BENCH_PROFILE_TABS ?? 20);
/** Which run of those tabs is profiled: `BENCH_PROFILE_RUN=paced`, or the burst by default. */
const PROFILE_RUN = process.env.BENCH_PROFILE_RUN === 'paced' ? 'paced' : 'burst';
let profileSeq = 0;

/** The functions with the most self time (ms), heaviest first, as text lines. */
function topSelf(profile: CpuProfile, n: number): string[] {
  const total = profile.nodes.reduce((a, x) => a + (x.hitCount ?? 0), 0);
  const ms = (profile.endTime - profile.startTime) / 1000;
  const by = new Map<string, number>();
  for (const node of profile.nodes) {
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\//, '')}:${f.lineNumber + 1}`;
    by.set(key, (by.get(key) ?? 0) + (node.hitCount ?? 0));
  }
  return [...by].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([k, hits]) => `${(hits / total * ms).toFixed(0).padStart(6)} ms ${(hits / total * 100).toFixed(1).padStart(5)}%  ${k}`);
}

/**
 * Runs `run` with the V8 profiler on in the worker and in `page`; writes both profiles to
 * BENCH_PROFILE (open them in devtools) and prints the functions with the most self time.
 */
async function profiled<T>(ctx: BrowserContext, worker: WorkerProbe, page: Page, label: string, run: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_PROFILE!;
  // Runs of one kind (plaintext, then E2EE) share a label: each writes files of its own.
  label = `${label}-${++profileSeq}`;
  const pageCdp = await ctx.newCDPSession(page);
  await pageCdp.send('Profiler.enable');
  await pageCdp.send('Profiler.setSamplingInterval', { interval: PROFILE_INTERVAL_US });
  await pageCdp.send('Profiler.start');
  await worker.profileStart();
  const cpuBefore = await worker.processCpu();
  const t0 = performance.now();
  const out = await run();
  const seconds = (performance.now() - t0) / 1000;
  const cpuAfter = await worker.processCpu();
  const w = await worker.profileStop();
  const p = (await pageCdp.send('Profiler.stop')).profile as unknown as CpuProfile;
  await pageCdp.detach().catch(() => {});
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/${label}-worker.cpuprofile`, JSON.stringify(w));
  writeFileSync(`${dir}/${label}-tab.cpuprofile`, JSON.stringify(p));
  const cpu = [...cpuAfter].map(([type, s]) => `${type} ${(s - (cpuBefore.get(type) ?? 0)).toFixed(2)} s`).join(', ');
  console.error(`[bench] profile ${label}: CPU time by browser process type over ${seconds.toFixed(1)} s: ${cpu}`);
  console.error(`[bench] profile ${label}, worker (top self time):\n${topSelf(w, 25).join('\n')}`);
  console.error(`[bench] profile ${label}, first tab (top self time):\n${topSelf(p, 25).join('\n')}`);
  return out;
}

/** The trace events of one thread of a Chrome trace, summed by name (ms, heaviest first, top-level slices only). */
function topSlices(trace: { traceEvents: { name: string; ph: string; dur?: number; pid: number; tid: number; ts: number; args?: { name?: string } }[] }, n: number): string[] {
  const events = trace.traceEvents;
  const main = events.find((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain' && events.some((x) => x.pid === e.pid && x.name === 'Paint'));
  if (!main) return ['no renderer main thread that painted'];
  const slices = events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X' && e.dur).sort((a, b) => a.ts - b.ts);
  const by = new Map<string, number>();
  // Nested slices are counted inside their parent only: the self time of the outermost.
  let end = 0;
  for (const e of slices) {
    if (e.ts < end) continue;
    end = e.ts + e.dur!;
    by.set(e.name, (by.get(e.name) ?? 0) + e.dur! / 1000);
  }
  // And the inner slices by name, wherever they sit: layout and style run inside script too.
  const inner = new Map<string, number>();
  for (const e of slices) if (['Layout', 'UpdateLayoutTree', 'Paint', 'PrePaint', 'Layerize', 'Commit', 'MajorGC', 'MinorGC', 'V8.GC_SCAVENGER', 'ParseHTML'].includes(e.name)) inner.set(e.name, (inner.get(e.name) ?? 0) + e.dur! / 1000);
  const fmt = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, ms]) => `${ms.toFixed(1).padStart(8)} ms  ${k}`);
  return ['top-level:', ...fmt(by), 'inner, by name:', ...fmt(inner)];
}

/**
 * Runs `run` with a Chrome trace of `page` (BENCH_TRACE=<dir>; the tab in front in a tab strip);
 * writes it (open it in the Performance panel) and prints the main thread's slices by time.
 */
async function traced<T>(browser: Browser, page: Page, label: string, run: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_TRACE!;
  mkdirSync(dir, { recursive: true });
  const path = `${dir}/${label}-${++profileSeq}.json`;
  await browser.startTracing(page, { path, categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8', 'blink', 'toplevel'] });
  const out = await run();
  const buf = await browser.stopTracing();
  console.error(`[bench] trace ${path}, the tab's main thread:\n${topSlices(JSON.parse(buf.toString()), 15).join('\n')}`);
  return out;
}

// ---- tabs ----

async function openTab(ctx: BrowserContext, stack: BrowserStack, aid: string, strip = false): Promise<Page> {
  const page = await ctx.newPage();
  // The viewport of a page in a context Playwright makes (the tab strip's window is smaller).
  if (strip) await page.setViewportSize({ width: 1280, height: 720 });
  page.on('pageerror', (e) => console.error(`[bench delivery ${aid}] ${e.message}`));
  await page.goto(`${stack.demoOrigin}/?${new URLSearchParams({ gateway: stack.gateway.url, aid, autologin: '1' })}`);
  await page.waitForSelector('#state[data-state="ready"]', { timeout: READY_TIMEOUT_MS });
  return page;
}

function installRecorder(page: Page, run: string, n: number): Promise<void> {
  return page.evaluate(async ([r, total]) => {
    const g = globalThis as unknown as DemoGlobals;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    // A background tab is not drawn (no animation frame runs; the demo builds its lines later, in one
    // go): it is done when it has every event.
    const background = document.visibilityState === 'hidden';
    const rec: TabRecord = { n: total, arrivals: [], seen: new Set(), duplicates: [], disorder: 0, lastSeq: 0, shownAt: background ? -1 : 0, done, finish };
    (g.__delivery ??= {})[r] = rec;
    // Lines of this run as they enter the feed.
    // (No named functions in here: tsx would wrap them in a helper the page does not have.)
    // A line added to a page that is added in the same task shows in both records: counted once.
    let shown = 0;
    const counted = new WeakSet<Element>();
    const watch = new MutationObserver((records) => {
      for (const record of records) {
        for (const node of record.addedNodes) {
          if (!(node instanceof Element)) continue;
          for (const li of node.matches('li.inbound') ? [node] : node.querySelectorAll('li.inbound')) {
            if (counted.has(li) || !(li.querySelector('.text')?.textContent ?? '').startsWith(`${r} `)) continue;
            counted.add(li);
            shown++;
          }
        }
      }
      if (shown < rec.n) return;
      watch.disconnect();
      // Drawn: the next frame after the last line went in (for lines added in a frame's own
      // animation callbacks, this is one frame late).
      requestAnimationFrame(() => {
        rec.shownAt = Date.now();
        if (rec.seen.size === rec.n) rec.finish();
      });
    });
    if (!background) watch.observe(document.getElementById('messages')!, { childList: true, subtree: true });
    g.aun.on('message', (m: InboundMessage) => {
      const now = Date.now();
      const { bench, i } = m.payload as { bench?: unknown; i?: unknown };
      if (m.direction !== 'inbound' || bench !== r || typeof i !== 'number') return;
      if (m.seq <= rec.lastSeq) rec.disorder++;
      rec.lastSeq = m.seq;
      if (rec.seen.has(i)) {
        rec.duplicates.push(i);
        return;
      }
      rec.seen.add(i);
      rec.arrivals.push([i, now]);
      if (rec.seen.size === rec.n && rec.shownAt) rec.finish();
    });
    // Same port, same order: once this answers, the worker knows the tab listens.
    await g.aun.call('meta.ping', {});
  }, [run, n] as const);
}

const readTab = (page: Page, run: string): Promise<TabResult> => page.evaluate((r) => {
  const rec = (globalThis as unknown as DemoGlobals).__delivery![r]!;
  const shown = [...document.querySelectorAll('#messages li.inbound .text')].filter((el) => el.textContent?.startsWith(`${r} `)).length;
  return { arrivals: rec.arrivals, shownAt: rec.shownAt, duplicates: rec.duplicates, disorder: rec.disorder, shown };
}, run);

/** Waits until every tab saw all `n` (or the deadline), then checks each tab message by message. */
async function collectTabs(pages: Page[], run: string, n: number, sentAt: number[]): Promise<Outcome> {
  const waits = pages.map((p) => p.evaluate((r) => (globalThis as unknown as DemoGlobals).__delivery![r]!.done, run));
  for (const w of waits) w.catch(() => {});
  await deadline(Promise.all(waits), DELIVERY_TIMEOUT_MS, 'every tab to show every message').catch(() => {});
  const tabs = await Promise.all(pages.map((p) => readTab(p, run)));
  const problems: string[] = [];
  tabs.forEach((t, k) => {
    const got = new Set(t.arrivals.map(([i]) => i));
    const where = `tab ${k + 1}/${tabs.length}`;
    if (got.size < n) problems.push(`${where} got ${got.size}/${n} messages; missing ${missingOf(n, got)}`);
    if (t.duplicates.length) problems.push(`${where} got ${t.duplicates.length} duplicate message events: ${ranges(t.duplicates)}`);
    if (t.disorder) problems.push(`${where} got ${t.disorder} message events out of seq order`);
    if (t.shownAt !== -1 && t.shown !== got.size) problems.push(`${where} shows ${t.shown} #messages li.inbound of this run for ${got.size} distinct message events`);
  });
  for (const p of problems) console.warn(`warning: delivery (${pages.length} tabs, ${n} messages): ${p}`);
  return outcome(n, sentAt, tabs.map((t) => t.arrivals), problems, tabs.map((t) => t.shownAt));
}

interface Heap {
  workerOneTabMiB: number;
  workerAllTabsMiB: number;
  workerAfterMiB: number;
  workerBackToOneMiB: number;
  pageMiB: number;
}

interface TabsRun {
  paced?: Outcome;
  burst: Outcome;
  /** The burst again with the pages not drawn (display:none), when asked for. */
  undrawn?: Outcome;
  heap?: Heap;
  /** The worker's log lines during the run, other than tabs attaching and detaching. */
  workerLog: string[];
  workerExceptions: string[];
}

type Sender = (aid: string, run: string, load: Load) => Promise<Sent>;

/**
 * Opens `tabs` demo tabs on a fresh AID, then (with `paced`) a paced run, then the burst (with
 * `undrawn`, then the burst again with the pages hidden), each waited for in every tab. With
 * `measureHeap`, reads the worker's heap with 1 tab, with all tabs, after the messages, and again
 * with 1 tab once the others are closed.
 */
async function tabsRun(stack: BrowserStack, tabs: number, opts: { paced: boolean; measureHeap: boolean; undrawn?: boolean; strip?: boolean }, go: Sender): Promise<TabsRun> {
  // With `strip`, the tabs of one window in a browser of their own (launchTabStrip).
  const strip = opts.strip ? await launchTabStrip() : null;
  const browser = strip?.browser ?? stack.browser;
  const ctx = strip?.ctx ?? await browser.newContext();
  let worker: WorkerProbe | null = null;
  try {
    const aid = `bench${runId(`dlv${tabs}t`)}.${stack.gateway.config.issuer}`;
    const pages = [await openTab(ctx, stack, aid, !!strip)];
    worker = await WorkerProbe.attach(browser, ctx, pages[0]!);
    const workerOneTabMiB = opts.measureHeap ? await worker.heapMiB() : NaN;
    while (pages.length < tabs) pages.push(await openTab(ctx, stack, aid, !!strip));
    if (strip) {
      const visible = (await Promise.all(pages.map((p) => p.evaluate(() => document.visibilityState)))).filter((v) => v === 'visible').length;
      if (visible !== 1) throw new Error(`tabs of one window: expected 1 visible tab of ${tabs}, found ${visible}`);
    }
    const workerAllTabsMiB = opts.measureHeap ? await worker.heapMiB() : NaN;

    const one = async (load: Load) => {
      await sleep(SETTLE_MS);
      const run = runId('r');
      for (const p of pages) await installRecorder(p, run, load.n);
      const { sentAt } = await go(aid, run, load);
      return collectTabs(pages, run, load.n, sentAt);
    };
    const probe = worker;
    const picked = (kind: 'paced' | 'burst') => tabs === PROFILE_TABS && PROFILE_RUN === kind;
    const measured = (kind: 'paced' | 'burst', load: Load) => process.env.BENCH_PROFILE && picked(kind)
      ? profiled(ctx, probe, pages[0]!, `${kind}-${tabs}tabs`, () => one(load))
      : process.env.BENCH_TRACE && picked(kind)
        ? traced(browser, pages.at(-1)!, `${kind}-${tabs}tabs`, () => one(load))
        : one(load);
    const paced = opts.paced ? await measured('paced', PACED_LOAD) : undefined;
    const burst = await measured('burst', BURST_LOAD);
    // The same burst with no page laid out or painted (body display:none), the demo's handler
    // still adding its lines: what the runtime delivers when drawing takes nothing.
    let undrawn: Outcome | undefined;
    if (opts.undrawn) {
      const display = (value: string) => Promise.all(pages.map((p) => p.evaluate((v) => void (document.body.style.display = v), value)));
      await display('none');
      undrawn = await one(BURST_LOAD);
      await display('');
    }

    let heap: Heap | undefined;
    if (opts.measureHeap) {
      const workerAfterMiB = await worker.heapMiB();
      const pageMiB = await pageHeapMiB(ctx, pages[0]!);
      for (const p of pages.slice(1)) await p.close();
      await sleep(DETACH_SETTLE_MS);
      heap = { workerOneTabMiB, workerAllTabsMiB, workerAfterMiB, workerBackToOneMiB: await worker.heapMiB(), pageMiB };
    }
    const workerLog = worker.console.filter((l) => !/\] (attach|detach) /.test(l));
    for (const e of worker.exceptions) console.warn(`warning: delivery: uncaught in the worker: ${e}`);
    return { ...(paced ? { paced } : {}), burst, ...(undrawn ? { undrawn } : {}), ...(heap ? { heap } : {}), workerLog, workerExceptions: [...worker.exceptions] };
  } finally {
    await worker?.close();
    if (strip) await strip.close();
    else await ctx.close();
  }
}

// ---- E2EE ----

/** The devices of `aid` with their prekeys, once each has published one. */
async function bootstrapWithSpk(sender: Session, aid: string): Promise<Record<string, unknown>[]> {
  const until = Date.now() + 10_000;
  for (;;) {
    const boot = await sender.call<{ peer_devices: Record<string, unknown>[] }>('message.v2.bootstrap', { peer_aid: aid });
    if (boot.peer_devices.length && boot.peer_devices.every((d) => typeof d.spk_id === 'string')) return boot.peer_devices;
    if (Date.now() > until) throw new Error(`${aid} published no prekey within 10 s: ${JSON.stringify(boot.peer_devices)}`);
    await sleep(100);
  }
}

/** The sender's identity key as WebCrypto handles: with its raw scalar, worker/e2ee signs in JS. */
async function webCryptoKey(id: Identity): Promise<P256PrivateKey> {
  return importPrivateKey(scalarFromPkcs8(new Uint8Array(id.privateKey.export({ format: 'der', type: 'pkcs8' }))), { keepScalar: false });
}

/**
 * `n` envelopes to `aid` (3DH to each device), made before they are sent: worker/e2ee under Node
 * takes ~5 ms an envelope here, which would otherwise be the figure.
 */
async function envelopes(sender: Session, me: { aid: string; deviceId: string; ik: P256PrivateKey }, aid: string, run: string, n: number): Promise<Envelope[]> {
  const targets = targetsFrom(await bootstrapWithSpk(sender, aid), aid);
  const out: Envelope[] = [];
  for (let i = 0; i < n; i++) out.push(await encryptP2P(me, targets, { type: 'text', text: `${run} ${i}`, bench: run, i }));
  return out;
}

// ---- rows ----

/** What the worker logged during a run (exceptions are warned about at once): prekey uploads counted, the rest quoted. */
function workerNotes(label: string, run: TabsRun): string[] {
  const prekeys = run.workerLog.filter((l) => l.includes('uploaded prekey')).length;
  return [
    `${label}: the worker uploaded ${plural(prekeys, 'prekey')}`,
    ...run.workerLog.filter((l) => !l.includes('uploaded prekey')).map((l) => `${label}: worker log: ${l}`),
  ];
}

function problemsNote(o: Outcome): string {
  return o.problems.length ? ` — ${o.problems.length} PROBLEM${o.problems.length === 1 ? '' : 'S'}: ${o.problems.join('; ')}` : '';
}

function latencyRows(what: string, real: Outcome, base: Outcome, baseName: string, detail: Record<string, unknown>): DetailedRow[] {
  return (['p50', 'p99'] as const).map((stat) => ({
    name: `${what}, ${stat} over (tab, message); message in every tab ${stat} ${real.allReceivers[stat]} ms${problemsNote(real)}`,
    value: real.latency[stat],
    unit: 'ms',
    baseline: { name: `${baseName}, ${stat}${problemsNote(base)}`, value: base.latency[stat], unit: 'ms' },
    detail,
  }));
}

/** `head` starts every row name (`delivery:`, or `delivery: <condition>:` for a run under a condition). */
function burstRows(kind: string, label: string, real: Outcome, base: Outcome, baseName: string, detail: Record<string, unknown>, head = 'delivery:'): DetailedRow[] {
  return [
    {
      name: `${head} ${count(BURST)} ${kind} burst from a Node sender → ${label}, first send → every message event in every tab (${real.elapsedMs.toFixed(0)} ms${real.drawnMs === undefined ? '' : `; all drawn by ${real.drawnMs.toFixed(0)} ms`})${problemsNote(real)}`,
      value: real.rate,
      unit: 'msg/s',
      baseline: { name: `${baseName} (${base.elapsedMs.toFixed(0)} ms)${problemsNote(base)}`, value: base.rate, unit: 'msg/s' },
      detail,
    },
    ...latencyRows(`${head} latency send → tab within that ${count(BURST)}-message burst → ${label} (queueing included)`, real, base, baseName, detail),
  ];
}

export async function benchDelivery(): Promise<BenchRow[]> {
  return withBrowserStack(async (stack) => {
    const t0 = Date.now();
    const loadBefore = loadavg()[0]!;
    const rows: DetailedRow[] = [];
    const senderDevice = 'bench-sender';
    const sender = await Session.open(stack.gateway.url, await nodeIdentity(stack, 'sender'), { deviceId: senderDevice });
    const probeId = await nodeIdentity(stack, 'probe');
    const probe = await Session.open(stack.gateway.url, probeId, { deviceId: 'bench-probe' });
    const notes: string[] = [];
    try {
      const plain: Sender = (aid, run, load) => send(sender, aid, load, plaintext(run));
      const bare = async (load: Load) => {
        await sleep(SETTLE_MS);
        const run = runId('b');
        return bareNode(probe, run, load.n, readPlain, () => plain(probeId.aid, run, load));
      };
      const baseName = 'bare Node aun-client Session, one socket, same sender';
      // One burst unmeasured: the JIT and the heap of this process (which also runs the gateway)
      // settle after the Vite builds.
      await bare(BURST_LOAD);
      // One tab count's plaintext rows: the bare Session's paced run and burst, then the tabs'.
      // With `busy`, all of it runs while another process keeps one core busy (spinOneCore), and
      // its rows are named apart, so that no goal and no chart curve reads them.
      const plainRows = async (tabs: number, busy: boolean, strip = false): Promise<TabsRun> => {
        const label = plural(tabs, 'tab');
        const stop = busy ? spinOneCore() : () => {};
        let basePaced: Outcome, baseBurst: Outcome, real: TabsRun;
        try {
          basePaced = await bare(PACED_LOAD);
          baseBurst = await bare(BURST_LOAD);
          real = await tabsRun(stack, tabs, { paced: true, measureHeap: !busy && !strip && tabs === MEMORY_TABS, undrawn: !busy && !strip && tabs === UNDRAWN_TABS, strip }, plain);
        } finally {
          stop();
        }
        const head = busy ? `delivery: busy machine (a process spinning on 1 of ${availableParallelism()} cores beside it):` : strip ? STRIP_HEAD : 'delivery:';
        const base = busy ? `${baseName}, the same process spinning beside it` : baseName;
        notes.push(...workerNotes(busy ? `busy machine, ${label}` : strip ? `one window, ${label}` : label, real));
        const detail = { tabs, encrypted: false, workerLog: real.workerLog, workerExceptions: real.workerExceptions, ...(busy ? { busy } : {}), ...(strip ? { strip } : {}) };
        rows.push(...burstRows('plaintext message', label, real.burst, baseBurst, base, { ...detail, load: BURST_LOAD, value: real.burst, baseline: baseBurst }, head));
        if (real.undrawn) {
          const undrawnHead = 'delivery: pages not drawn (body display:none; the runtime and the demo\'s handler, no layout or paint):';
          rows.push(...burstRows('plaintext message', label, real.undrawn, baseBurst, base, { ...detail, undrawn: true, load: BURST_LOAD, value: real.undrawn, baseline: baseBurst }, undrawnHead));
        }
        rows.push(...latencyRows(
          `${head} latency send → tab, ${count(PACED)} plaintext messages paced ${PACED_INTERVAL_MS} ms apart → ${label}`,
          real.paced!, basePaced, base, { ...detail, load: PACED_LOAD, value: real.paced, baseline: basePaced },
        ));
        return real;
      };
      let memory: Heap | undefined;
      for (const tabs of TABS) memory = (await plainRows(tabs, false)).heap ?? memory;
      if (TABS.includes(STRIP_TABS)) await plainRows(STRIP_TABS, false, true);
      if (TABS.includes(BUSY_TABS)) await plainRows(BUSY_TABS, true);

      // The same messages end-to-end encrypted, to 1 tab; the baseline receives the same kind of
      // envelopes (to its own device) without opening them: the gateway's relay alone.
      const spk = makeSpk(probeId);
      await probe.call('message.v2.put_peer_pk', spk.fields, { sign: true });
      const me = { aid: sender.identity.aid, deviceId: senderDevice, ik: await webCryptoKey(sender.identity) };
      const e2ee: Sender = async (aid, run, load) => {
        const env = await envelopes(sender, me, aid, run, load.n);
        await sleep(SETTLE_MS);
        return send(sender, aid, load, (i) => env[i] as unknown as Record<string, unknown>);
      };
      const bareE2ee = async (load: Load) => {
        const run = runId('b');
        const env = await envelopes(sender, me, probeId.aid, run, load.n);
        await sleep(SETTLE_MS);
        const index = new Map(env.map((e, i) => [e.aad.message_id, i]));
        const read: Reader = (method, params) => (method === 'event/peer.v2.message_received' ? { bench: run, i: index.get(params.message_id) } : null);
        return bareNode(probe, run, load.n, read, () => send(sender, probeId.aid, load, (i) => env[i] as unknown as Record<string, unknown>));
      };
      const e2eeBaseName = 'bare Node aun-client Session receiving the same kind of envelopes, not opening them';
      const basePaced = await bareE2ee(PACED_LOAD);
      const baseBurst = await bareE2ee(BURST_LOAD);
      const real = await tabsRun(stack, 1, { paced: true, measureHeap: false }, e2ee);
      notes.push(...workerNotes('E2EE, 1 tab', real));
      const workerLog = { workerLog: real.workerLog, workerExceptions: real.workerExceptions };
      rows.push(...burstRows('E2EE V2 (3DH) message', '1 tab', real.burst, baseBurst, e2eeBaseName, { tabs: 1, encrypted: true, load: BURST_LOAD, value: real.burst, baseline: baseBurst, ...workerLog }));
      rows.push(...latencyRows(
        `delivery: latency send → tab, ${count(PACED)} E2EE V2 (3DH) messages paced ${PACED_INTERVAL_MS} ms apart → 1 tab`,
        real.paced!, basePaced, e2eeBaseName, { tabs: 1, encrypted: true, load: PACED_LOAD, value: real.paced, baseline: basePaced, ...workerLog },
      ));

      if (memory) {
        const m = memory;
        const detail = { tabs: MEMORY_TABS, ...m, gc: 'HeapProfiler.collectGarbage before each reading', detachSettleMs: DETACH_SETTLE_MS };
        rows.push(
          {
            name: `delivery: SharedWorker JS heap with ${MEMORY_TABS} demo tabs logged in on one AID, before any message (one demo page: ${m.pageMiB.toFixed(1)} MiB after all messages)`,
            value: m.workerAllTabsMiB,
            unit: 'MiB',
            baseline: { name: 'the same worker with 1 tab attached, before the other tabs opened', value: m.workerOneTabMiB, unit: 'MiB' },
            detail,
          },
          {
            name: `delivery: SharedWorker JS heap with ${MEMORY_TABS} demo tabs attached, after ${count(PACED + BURST)} messages`,
            value: m.workerAfterMiB,
            unit: 'MiB',
            baseline: { name: `the same worker right after, with ${MEMORY_TABS - 1} of the tabs closed (1 attached)`, value: m.workerBackToOneMiB, unit: 'MiB' },
            detail,
          },
        );
      }
      // Other work on this 2-core machine shows in every figure here; the load average says how much.
      const load = { before: loadBefore, after: loadavg()[0]! };
      for (const r of rows) r.detail = { ...r.detail, loadAverage1m: load };
      for (const n of notes) console.error(`[bench] delivery: ${n}`);
      console.error(`[bench] delivery: ${((Date.now() - t0) / 1000).toFixed(1)} s (1-min load average ${load.before.toFixed(1)} before, ${load.after.toFixed(1)} after)`);
      return rows;
    } finally {
      sender.close();
      probe.close();
    }
  });
}
