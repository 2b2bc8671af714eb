// `npx tsx tests/bench/ladder-trace.ts [rung…]`: the steps of one new demo tab's way to `ready` on
// each rung, with the session already up (as the ladder bench's "tab open" rows): every
// performance mark the page set (`aun:*`, from client-stub and the demo), the script chunks it
// loaded and the navigation milestones, each as the median over TRACE_TABS tabs, in ms from
// navigation start and from the `aun:connect` mark. With TRACE_CDP=1 the last tab of each rung is
// also recorded with Chromium's tracing, and every task that ran on a thread of any process
// between that tab's `aun:connect` mark and its ready (the owner's worker, a leader tab) is
// listed with its biggest inner events. With TRACE_KEEP=1 every tab stays open once traced, as
// the ladder bench keeps its tabs (each new tab then opens beside all the earlier ones). Prints
// tables; asserts nothing.

import { writeFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import type { Rung } from '../../protocol/tab.ts';
import { withBrowserStack } from './browser-stack.ts';
import { READY_PROBE, untilReady, type ReadyRecord } from './ready-signal.ts';
import { summarize } from './stats.ts';

const TRACE_TABS = Number(process.env.TRACE_TABS ?? 10);
const rungs = (process.argv.slice(2).length ? process.argv.slice(2) : ['shared', 'leader']) as Rung[];

interface Step { name: string; at: number }

/** Every step the page can name, in ms since navigation start. */
function steps(page: Page): Promise<Step[]> {
  return page.evaluate(() => {
    const out: { name: string; at: number }[] = [];
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
    if (nav) {
      out.push({ name: 'nav: responseEnd (HTML)', at: nav.responseEnd });
      out.push({ name: 'nav: domInteractive', at: nav.domInteractive });
      out.push({ name: 'nav: domContentLoaded end', at: nav.domContentLoadedEventEnd });
    }
    for (const r of performance.getEntriesByType('resource') as PerformanceResourceTiming[]) {
      const file = r.name.replace(/^.*\//, '').replace(/-[\w-]{8}\.js$/, '.js');
      out.push({ name: `load: ${r.initiatorType} ${file} (start)`, at: r.startTime });
      out.push({ name: `load: ${r.initiatorType} ${file} (end)`, at: r.responseEnd });
    }
    for (const m of performance.getEntriesByType('mark')) if (m.name.startsWith('aun:')) out.push({ name: `mark: ${m.name}`, at: m.startTime });
    const ready = (globalThis as unknown as { __benchReady: ReadyRecord }).__benchReady;
    if (ready.at !== null) out.push({ name: '#state ready (bench probe)', at: ready.at });
    return out.sort((a, b) => a.at - b.at);
  });
}

interface TraceEvent { name: string; ph: string; ts: number; dur?: number; pid: number; tid: number; cat: string; args?: { name?: string } }

/** Runs `go` under Chromium's tracing; lists the tasks between the `aun:connect` mark and ready. */
async function traced(browser: Browser, page: Page, go: () => Promise<void>): Promise<void> {
  await browser.startTracing(page, { categories: ['devtools.timeline', 'blink.user_timing', 'v8', 'v8.execute', 'disabled-by-default-v8.compile', 'disabled-by-default-devtools.timeline', 'toplevel', 'blink', 'loading'] });
  await go();
  const raw = (await browser.stopTracing()).toString('utf8');
  if (process.env.TRACE_FILE) writeFileSync(process.env.TRACE_FILE, raw);
  const events = (JSON.parse(raw) as { traceEvents: TraceEvent[] }).traceEvents;
  const names = new Map<string, string>();
  for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args?.name ?? '?');
  const mark = events.find((e) => e.name === 'aun:connect' && e.cat.includes('user_timing'));
  const ready = events.filter((e) => e.cat.includes('user_timing') && e.name === 'aun:ready' && e.pid === mark?.pid).at(-1);
  if (!mark || !ready) {
    console.log('  (trace: no aun:connect / aun:ready marks found)');
    return;
  }
  const t0 = mark.ts;
  console.log(`  trace of the last tab: aun:connect → aun:ready ${((ready.ts - t0) / 1000).toFixed(1)} ms; tasks ≥ 0.2 ms in that window (ms from the mark)`);
  const owners = /^(CrRendererMain|SharedWorker thread|DedicatedWorker thread)$/;
  const tasks = events.filter((e) => e.ph === 'X' && e.name === 'ThreadControllerImpl::RunTask' && owners.test(names.get(`${e.pid}:${e.tid}`) ?? '') && e.ts + (e.dur ?? 0) >= t0 && e.ts <= ready.ts && (e.dur ?? 0) >= 200);
  const wrappers = /^(ThreadControllerImpl::RunTask|RunTask|SimpleWatcher::OnHandleReady|Receive mojo .*|v8.callFunction|FunctionCall|RunMicrotasks|BlinkScheduler_PerformMicrotaskCheckpoint|V8.Execute)$/;
  tasks.sort((a, b) => a.ts - b.ts);
  for (const t of tasks) {
    const inner = events.filter((e) => e.ph === 'X' && e.pid === t.pid && e.tid === t.tid && e.ts >= t.ts && e.ts < t.ts + t.dur! && !wrappers.test(e.name) && (e.dur ?? 0) >= 100);
    inner.sort((a, b) => b.dur! - a.dur!);
    const top = inner.slice(0, 5).map((e) => `${e.name}${(e.args as { data?: { url?: string; functionName?: string } } | undefined)?.data?.functionName ? `(${(e.args as { data: { functionName: string } }).data.functionName})` : ''} ${(e.dur! / 1000).toFixed(1)}`).join(', ');
    const who = `${t.pid === mark.pid ? 'tab' : `pid ${t.pid}`} ${names.get(`${t.pid}:${t.tid}`) ?? t.tid}`;
    console.log(`  ${((t.ts - t0) / 1000).toFixed(1).padStart(7)} +${(t.dur! / 1000).toFixed(1).padStart(5)}  ${who.padEnd(40)} ${top}`);
  }
  for (const m of events.filter((e) => e.cat.includes('user_timing') && e.pid === mark.pid && e.name.startsWith('aun:') && e.ts >= t0 && e.ts <= ready.ts).sort((a, b) => a.ts - b.ts)) {
    console.log(`  ${((m.ts - t0) / 1000).toFixed(1).padStart(7)}         mark ${m.name}`);
  }
}

await withBrowserStack(async (stack) => {
  for (const rung of rungs) {
    const ctx = await stack.browser.newContext();
    await ctx.addInitScript({ content: READY_PROBE });
    const aid = `trace${rung}${Date.now() % 1e8}.${stack.gateway.config.issuer}`;
    const url = `${stack.demoOrigin}/?${new URLSearchParams({ gateway: stack.gateway.url, aid, autologin: '1', rung })}`;
    const open = async () => {
      const page = await ctx.newPage();
      page.on('pageerror', (e) => console.error(`[trace ${rung}] ${e.message}`));
      await untilReady(page, () => page.goto(url), 30_000);
      return page;
    };
    await open();
    const all = new Map<string, number[]>();
    const fromMark = new Map<string, number[]>();
    for (let i = 0; i < TRACE_TABS; i++) {
      const page = await open();
      const s = await steps(page);
      const mark = s.find((x) => x.name === 'mark: aun:connect')?.at ?? NaN;
      for (const x of s) {
        (all.get(x.name) ?? all.set(x.name, []).get(x.name)!).push(x.at);
        (fromMark.get(x.name) ?? fromMark.set(x.name, []).get(x.name)!).push(x.at - mark);
      }
      if (!process.env.TRACE_KEEP) await page.close();
    }
    const rows = [...all].map(([name, v]) => ({ name, nav: summarize(v).p50, mark: summarize(fromMark.get(name)!).p50, n: v.length }));
    rows.sort((a, b) => a.nav - b.nav);
    console.log(`\n${rung} rung: a new tab, session up; medians of ${TRACE_TABS} tabs (ms)`);
    console.log('  from nav  from aun:connect  step');
    for (const r of rows) console.log(`  ${r.nav.toFixed(1).padStart(8)}  ${r.mark.toFixed(1).padStart(16)}  ${r.name}${r.n < TRACE_TABS ? ` (${r.n} tabs)` : ''}`);
    if (process.env.TRACE_CDP) {
      const page = await ctx.newPage();
      await traced(stack.browser, page, () => untilReady(page, () => page.goto(url), 30_000));
    }
    await ctx.close();
  }
});
