// Malformed messages posted straight into the SharedWorker's port from a page of the app's origin
// (issue 13): garbage attach messages, wrong types, transferables, huge objects, cycles, deep
// nesting, and Comlink-shaped calls with bad paths and arguments on a properly attached port.
// The worker must stay alive, answer what it answers, and serve a well-behaved tab afterwards.

import type { BrowserContext, Page } from 'playwright-core';
import { FACADE_METHODS } from '../../protocol/tab.ts';
import { demoUrl, expectExactlyOnce, openTab, type Stack } from '../e2e/support.ts';
import type { FuzzSection } from './report.ts';
import { liveness } from './liveness.ts';

export interface PortFuzzOptions {
  stack: Stack;
  ctx: BrowserContext;
  /** The logged-in tab whose owner is fuzzed; it must keep working. */
  victim: Page;
  aid: string;
  incarnation: string;
  url: string;
  seed: number;
  count: number;
  until: number;
  realMessage(text: string): Promise<void>;
}

const CHUNK = 100;

interface ChunkResult { tried: number; answered: number; refused: number; cloneErrors: number; notes: string[] }

/**
 * Runs in the page, as source text (no bundler helpers may leak into it). A seeded mulberry32,
 * the same as tests/e2e/soak/prng.ts, picks every input.
 */
const IN_PAGE = String.raw`async (a) => {
  let st = a.seed >>> 0;
  const rnd = () => { st = (st + 0x6d2b79f5) >>> 0; let t = st; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
  const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = (xs) => xs[int(0, xs.length - 1)];
  const out = { tried: 0, answered: 0, refused: 0, cloneErrors: 0, notes: [] };
  const lock = 'fuzz-port-' + a.seed;
  await new Promise((held) => navigator.locks.request(lock, () => { held(); return new Promise(() => {}); }));
  const w = new SharedWorker(a.url, { type: 'module', name: a.name });
  w.port.start();
  const deep = (n) => { let o = {}; for (let i = 0; i < n; i++) o = { o }; return o; };
  const deepArray = (n) => { let o = []; for (let i = 0; i < n; i++) o = [o]; return o; };
  const cycle = () => { const o = { a: 1 }; o.self = o; o.list = [o, o]; return o; };
  const values = [
    () => null, () => undefined, () => 0, () => -1, () => NaN, () => Infinity, () => '', () => 'x', () => true, () => [], () => ({}),
    () => new Date(0), () => new Map([[1, { a: 2 }]]), () => new Set([1, 'a']), () => new Uint8Array(int(0, 4096)), () => new ArrayBuffer(int(0, 64)),
    () => /re/g, () => new Error('fuzz'), () => BigInt(7), () => new Blob(['x']), () => deep(int(10, 5000)), () => deepArray(int(10, 5000)), () => cycle(),
    () => ({ s: 'x'.repeat(int(1e4, 2e6)) }), () => Array.from({ length: int(0, 20000) }, (_, i) => i), () => ({ type: 'aun.attach' }),
    () => ({ __proto__: { type: 'APPLY' } }), () => ({ toString: 'x', valueOf: 1, then: 2 }), () => 'fuzz' + int(0, 1e9) + '.aun.local',
    () => () => 1, () => Symbol('s'),
  ];
  const g = () => pick(values)();
  const methods = [...a.methods, 'constructor', '__proto__', 'toString', 'then', 'hub', 'runtime', '', 'call.bind'];
  const RAW = (v) => ({ type: 'RAW', value: v });
  const comlink = () => pick([
    () => ({ id: 'f' + int(0, 1e9), type: 'APPLY', path: [pick(methods)], argumentList: Array.from({ length: int(0, 4) }, () => RAW(g())) }),
    () => ({ id: 'f', type: 'APPLY', path: [pick(a.methods)], argumentList: [RAW('fuzz-call'), RAW(g()), RAW(g()), RAW(g())] }),
    () => ({ id: 'f', type: 'GET', path: [pick(methods)] }),
    () => ({ id: 'f', type: 'SET', path: [pick(methods)], value: RAW(g()) }),
    () => ({ id: 'f', type: 'CONSTRUCT', path: [], argumentList: [] }),
    () => ({ id: 'f', type: 'ENDPOINT' }),
    () => ({ id: 'f', type: 'RELEASE' }),
    () => ({ id: 'f', type: 'APPLY', path: ['constructor', 'constructor'], argumentList: [RAW('return 1')] }),
    () => ({ id: 'f', type: 'APPLY', path: [pick(a.methods)], argumentList: [{ type: 'HANDLER', name: 'proxy', value: g() }] }),
    () => ({ id: g(), type: 'APPLY', path: g(), argumentList: g() }),
    () => g(),
  ])();
  const channels = [];
  const post = (port, m, transfer) => {
    out.tried++;
    try {
      port.postMessage(m, transfer);
    } catch (e) {
      out.cloneErrors++;
    }
  };
  while (out.tried < a.count) {
    const transfer = [];
    if (rnd() < 0.15) transfer.push(new MessageChannel().port1);
    if (rnd() < 0.1) transfer.push(new ArrayBuffer(int(1, 100000)));
    const kind = int(0, 9);
    if (kind <= 3) {
      const attachy = { type: 'aun.attach', tabId: pick([g(), 'a'.repeat(200), 'fz-' + out.tried]), tabLock: pick([g(), '', lock]), protocol: pick([1, g()]), build: pick(['fuzz', g()]), builtAt: pick([0, g()]), rpc: g(), events: g() };
      post(w.port, rnd() < 0.5 ? g() : attachy, transfer);
      continue;
    }
    const rpc = new MessageChannel();
    const events = new MessageChannel();
    channels.push(rpc, events);
    rpc.port1.onmessage = (e) => { out.answered++; const d = e.data; if (d && ((d.value && d.value.isError) || (d.value && d.value.ok === false))) out.refused++; };
    events.port1.onmessage = () => {};
    post(w.port, { type: 'aun.attach', tabId: 'fuzz-' + a.seed + '-' + out.tried, tabLock: lock, protocol: pick([1, 1, 1, 2, 0]), build: 'fuzz', builtAt: 0, rpc: rpc.port2, events: events.port2 }, [rpc.port2, events.port2]);
    for (let k = int(1, 6); k > 0 && out.tried < a.count; k--) post(rpc.port1, comlink(), rnd() < 0.1 ? [new ArrayBuffer(8)] : []);
  }
  await new Promise((r) => setTimeout(r, 1500));
  for (const c of channels) { c.port1.close(); }
  return out;
}`;

async function chunk(page: Page, args: { seed: number; count: number; url: string; name: string; methods: string[] }): Promise<ChunkResult> {
  return page.evaluate(`(${IN_PAGE})(${JSON.stringify(args)})`) as Promise<ChunkResult>;
}

export async function portFuzz(o: PortFuzzOptions): Promise<FuzzSection> {
  const s: FuzzSection = { name: 'worker port', tried: 0, clearErrors: 0, crashes: 0, hangs: 0, wrongAccepts: 0, lost: 0, notes: [] };
  const name = await o.victim.evaluate(async () => (await (globalThis as unknown as { aun: { inspect(): Promise<{ name: string }> } }).aun.inspect()).name);
  const page = await o.ctx.newPage();
  let answered = 0;
  try {
    await page.goto(demoUrl(o.stack));
    for (let done = 0, n = 0; done < o.count && Date.now() < o.until; n++) {
      const count = Math.min(CHUNK, o.count - done);
      const r = await chunk(page, { seed: o.seed * 1000 + n, count, url: o.url, name, methods: [...FACADE_METHODS] });
      done += r.tried;
      s.tried += r.tried;
      answered += r.answered;
      s.clearErrors += r.refused + r.cloneErrors;
      const l = await liveness(o.victim, o.incarnation);
      if (l.state !== 'ok') {
        if (l.state === 'crash') s.crashes++;
        else s.hangs++;
        s.notes.push(`seed ${o.seed}: ${l.state} after port chunk ${n} (seed ${o.seed * 1000 + n}): ${l.detail}`);
        return s;
      }
    }
  } finally {
    await page.close().catch(() => {});
  }
  // The owner still serves: a new well-behaved tab logs in, and a real message reaches both tabs once.
  try {
    const fresh = await openTab(o.ctx, o.stack, o.aid);
    const text = `real after the port fuzz ${o.seed}`;
    await o.realMessage(text);
    await expectExactlyOnce([o.victim, fresh], [text]);
    const l = await liveness(fresh, o.incarnation);
    if (l.state !== 'ok') {
      if (l.state === 'crash') s.crashes++;
      else s.hangs++;
      s.notes.push(`seed ${o.seed}: a fresh tab after the port fuzz: ${l.detail}`);
    }
  } catch (e) {
    s.lost++;
    s.notes.push(`seed ${o.seed}: after the port fuzz, a fresh tab or a real message failed: ${(e as Error).message}`);
  }
  s.notes.push(`seed ${o.seed}: ${answered} answers from the owner on fuzzed rpc ports`);
  return s;
}
