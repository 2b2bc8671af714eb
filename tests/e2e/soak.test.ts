// Issue 5's fault soak: a sender AID (its own browser context, one tab, its worker's outbox)
// sends thousands of 1:1 and group messages to a receiving AID open in 3 tabs, while a fault
// injector driven by a fixed seed drops and closes the gateway's sockets, SIGKILLs and restarts
// the gateway process on the same data dir, pauses it past the heartbeat deadline, kills the
// receiver's worker (all tabs closed and reopened) and reloads single tabs. At the end every
// receiver tab must show every message exactly once, in order per conversation, and the sender's
// page every send once as outbound.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { launchBrowser, serveApp } from './support.ts';
import { checkTab, describeReport, type Expected, type TabReport } from './soak/check.ts';
import { freePort } from '../support/ports.ts';
import { GatewayProcess } from './soak/gateway-process.ts';
import {
  contextIdOf, countTexts, createGroup, demoUrl, diagnose, incarnation, openTab, openTabSettled, outages, recordStates, rendered, sendBatch,
  sessionState, sharedWorkers, waitLoggedIn, type SendItem, type SendOutcome,
} from './soak/pages.ts';
import { seeded } from './soak/prng.ts';
import { workerLogs } from './soak/worker-logs.ts';

const SEED = Number(process.env.SOAK_SEED ?? 0x5eed);
/** At least this many sends; the sender goes on until the fault schedule is done too. */
const TOTAL = Number(process.env.SOAK_TOTAL ?? 2000);
const GROUP_SHARE = 0.3;
const BATCH = 10;
/** The sender's steady pace: one batch every this many ms (or at once when a batch took longer). */
const BATCH_EVERY_MS = Number(process.env.SOAK_BATCH_EVERY_MS ?? 600);
/** The whole test, setup excluded: the run must stay under 5 minutes on a 2-core CI machine. */
const BUDGET_MS = 270_000;
/** Per send: past it the send resolves `queued` and the worker's outbox owns it. */
const SEND_TIMEOUT_MS = 2000;
const RECEIVER_TABS = 3;
/** Announced by the gateway; the worker's floor is 10 s, so two lost pings take 20 s. */
const HEARTBEAT_S = 10;
/** Past the worker's heartbeat deadline wherever the pause falls in the ping cycle (at most 3 intervals). */
const LONG_PAUSE_MS = 31_000;
const FAULTS_ENABLED = process.env.SOAK_FAULTS !== '0';
/** For exploring one fault kind at a time: `SOAK_ONLY=reload-tab,drop`. */
const ONLY = process.env.SOAK_ONLY?.split(',');

type Fault =
  | { kind: 'drop' }
  | { kind: 'close'; code: 1001 | 1011 }
  | { kind: 'restart'; downMs: number }
  | { kind: 'pause'; ms: number }
  | { kind: 'kill-worker' }
  | { kind: 'reload-tab'; tab: number };

function schedule(seed: number): { faults: Fault[]; gaps: number[] } {
  const rng = seeded(seed);
  const faults: Fault[] = [
    { kind: 'drop' }, { kind: 'drop' }, { kind: 'drop' },
    { kind: 'close', code: 1001 }, { kind: 'close', code: 1001 },
    { kind: 'close', code: 1011 }, { kind: 'close', code: 1011 },
    { kind: 'restart', downMs: rng.int(200, 2500) }, { kind: 'restart', downMs: rng.int(200, 2500) }, { kind: 'restart', downMs: rng.int(200, 2500) },
    { kind: 'pause', ms: LONG_PAUSE_MS },
    { kind: 'pause', ms: rng.int(2500, 6000) }, { kind: 'pause', ms: rng.int(2500, 6000) },
    { kind: 'kill-worker' }, { kind: 'kill-worker' },
    { kind: 'reload-tab', tab: rng.int(0, RECEIVER_TABS - 1) }, { kind: 'reload-tab', tab: rng.int(0, RECEIVER_TABS - 1) },
    { kind: 'reload-tab', tab: rng.int(0, RECEIVER_TABS - 1) },
  ];
  const order = rng.shuffle(faults).filter((f) => !ONLY || ONLY.includes(f.kind));
  return { faults: order, gaps: order.map(() => rng.int(4000, 8000)) };
}

function describeFault(f: Fault): string {
  switch (f.kind) {
    case 'drop': return 'drop every socket (no close frame)';
    case 'close': return `close every socket with ${f.code}`;
    case 'restart': return `SIGKILL the gateway, ${f.downMs} ms down, restart on the same port and data dir`;
    case 'pause': return f.ms > 3 * HEARTBEAT_S * 1000
      ? `pause the gateway ${f.ms} ms (past the heartbeat deadline: 2 lost pings, 20-30 s)`
      : `pause the gateway ${f.ms} ms (a short pause, under the ${2 * HEARTBEAT_S} s heartbeat deadline)`;
    case 'kill-worker': return `kill the receiver's worker: close its ${RECEIVER_TABS} tabs, reopen ${RECEIVER_TABS}`;
    case 'reload-tab': return `reload receiver tab ${f.tab}`;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const started = Date.now();
const log = (line: string) => console.log(`[soak +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);

describe('fault soak', () => {
  let gw: GatewayProcess;
  let dataDir: string;
  let app: PreviewServer;
  let appUrl: string;
  let browser: Browser;
  let rCtx: BrowserContext;
  let sCtx: BrowserContext;
  let rCtxId: string;
  let rTabs: Page[] = [];
  let sPage: Page;
  const suffix = `${Date.now() % 1e8}`;
  const rAid = `soakr${suffix}.aun.local`;
  const sAid = `soaks${suffix}.aun.local`;
  let groupId: string;
  const contextLabels = new Map<string, string>();

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'aun-soak-'));
    gw = new GatewayProcess({ port: await freePort(), dataDir, heartbeatS: HEARTBEAT_S, log });
    await gw.start();
    app = await serveApp();
    appUrl = app.resolvedUrls!.local[0]!.replace(/\/$/, '');
    browser = await launchBrowser();
    rCtx = await browser.newContext();
    sCtx = await browser.newContext();
    for (let i = 0; i < RECEIVER_TABS; i++) rTabs.push(await openTab(rCtx, demoUrl(appUrl, gw.url, rAid), `R${i}`, log));
    rCtxId = await contextIdOf(rCtx, rTabs[0]!);
    contextLabels.set(rCtxId, `R (${rAid}) worker`);
    sPage = await openTab(sCtx, demoUrl(appUrl, gw.url, sAid), 'S', log);
    contextLabels.set(await contextIdOf(sCtx, sPage), `S (${sAid}) worker`);
    groupId = await createGroup(sPage, rAid);
    await recordStates(sPage);
    log(`gateway ${gw.url} (data ${dataDir}), app ${appUrl}, R=${rAid} x${RECEIVER_TABS} tabs, S=${sAid}, group ${groupId}, seed ${SEED}`);
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await gw?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it(`${TOTAL}+ messages, 1:1 and group, through drops, closes, restarts, pauses, worker kills and reloads`, async () => {
    const { faults, gaps } = FAULTS_ENABLED ? schedule(SEED) : { faults: [], gaps: [] };
    const kindRng = seeded(SEED ^ 0x9e3779b9);
    const outcomes = new Map<number, SendOutcome>();
    let nextN = 1;
    let faultsDone = false;
    let faultsRun = 0;
    const faultNotes: string[] = [];
    const faultErrors: string[] = [];

    log(`fault schedule (seed ${SEED}): ${faults.map((f, i) => `+${(gaps[i]! / 1000).toFixed(1)}s ${f.kind}${f.kind === 'close' ? ` ${f.code}` : f.kind === 'pause' ? ` ${f.ms} ms` : f.kind === 'restart' ? ` ${f.downMs} ms down` : f.kind === 'reload-tab' ? ` R${f.tab}` : ''}`).join(', ')}`);
    const sendStart = Date.now();
    const deadline = sendStart + BUDGET_MS;
    const sender = (async () => {
      while (nextN <= TOTAL || !faultsDone) {
        const batchStart = Date.now();
        const items: SendItem[] = [];
        for (let i = 0; i < BATCH; i++) items.push({ n: nextN++, group: kindRng.next() < GROUP_SHARE });
        for (const o of await sendBatch(sPage, rAid, groupId, items, SEND_TIMEOUT_MS)) outcomes.set(o.n, o);
        await sleep(Math.max(0, BATCH_EVERY_MS - (Date.now() - batchStart)));
      }
    })();

    const injector = (async () => {
      try {
        for (const [i, f] of faults.entries()) {
          await sleep(gaps[i]!);
          const t0 = Date.now();
          log(`fault ${i + 1}/${faults.length} (sent so far ${nextN - 1}): ${describeFault(f)}`);
          // A fault that cannot be carried out (a tab that cannot attach, a gateway that will not
          // start) is a finding too: note it and go on, so the end report still comes.
          const note = await inject(f).catch((err: Error) => {
            faultErrors.push(`fault ${i + 1} (${describeFault(f)}): ${err.message}`);
            return `FAILED: ${err.message}`;
          });
          faultsRun++;
          faultNotes.push(`${i + 1}. ${describeFault(f)}${note ? ` — ${note}` : ''}`);
          log(`fault ${i + 1} done in ${Date.now() - t0} ms${note ? `: ${note}` : ''}`);
        }
      } finally {
        faultsDone = true;
      }
    })();

    async function inject(f: Fault): Promise<string> {
      switch (f.kind) {
        case 'drop':
          await gw.admin('drop');
          return '';
        case 'close':
          await gw.admin('close', { code: f.code });
          return '';
        case 'restart':
          await gw.kill();
          await sleep(f.downMs);
          await gw.start();
          return `gateway start #${gw.starts}`;
        case 'pause': {
          await gw.admin('pause');
          const seen = { S: new Set<string>(), R0: new Set<string>() };
          const until = Date.now() + f.ms;
          try {
            while (Date.now() < until) {
              seen.S.add((await sessionState(sPage)) ?? '?');
              seen.R0.add((await sessionState(rTabs[0]!)) ?? '?');
              await sleep(500);
            }
          } finally {
            await gw.admin('resume');
          }
          return `session states seen while paused: S ${[...seen.S].join('/')}, R0 ${[...seen.R0].join('/')}`;
        }
        case 'kill-worker': {
          const before = await incarnation(rTabs[0]!);
          await Promise.all(rTabs.map((p) => p.close()));
          const cdp = await browser.newBrowserCDPSession();
          try {
            const giveUp = Date.now() + 15_000;
            while ((await sharedWorkers(browser, cdp, rCtxId)) > 0) {
              if (Date.now() > giveUp) throw new Error('the receiver worker outlived its tabs by 15 s');
              await sleep(100);
            }
          } finally {
            await cdp.detach().catch(() => {});
          }
          const opened = await Promise.all(Array.from({ length: RECEIVER_TABS }, (_, i) => openTabSettled(rCtx, demoUrl(appUrl, gw.url, rAid), `R${i}`, log)));
          rTabs = opened.map((o) => o.page);
          const failed = opened.flatMap((o) => (o.error ? [o.error.message] : []));
          if (failed.length) throw new Error(failed.join('; '));
          const after = await incarnation(rTabs[0]!);
          if (after === before) throw new Error(`the receiver worker was not replaced (incarnation ${after})`);
          return `worker incarnation ${before?.slice(0, 8)} -> ${after?.slice(0, 8)}`;
        }
        case 'reload-tab': {
          const page = rTabs[f.tab]!;
          await page.reload();
          await waitLoggedIn(page, `R${f.tab}`);
          return '';
        }
      }
    }

    await Promise.all([sender, injector]);
    const sent = nextN - 1;
    const sendSeconds = (Date.now() - sendStart) / 1000;
    const statusCounts = new Map<string, number>();
    for (const o of outcomes.values()) statusCounts.set(o.status ?? 'error', (statusCounts.get(o.status ?? 'error') ?? 0) + 1);
    log(`sending done: ${sent} sends (${[...outcomes.values()].filter((o) => o.group).length} to the group), outcomes ${JSON.stringify(Object.fromEntries(statusCounts))}, ${faultsRun} faults`);

    const expected: Expected = { kinds: new Map(), ids: new Map() };
    for (const o of outcomes.values()) {
      expected.kinds.set(o.n, o.group);
      if (o.messageId) expected.ids.set(o.n, o.messageId);
    }
    const errors = [...outcomes.values()].filter((o) => o.error);

    // Every send acknowledged: the sender's page shows it as outbound once the gateway took it.
    // Generous, but bounded by what is left of the budget so that a failure still reports in time.
    const left = (cap: number) => Math.max(5_000, Math.min(cap, deadline - Date.now()));
    await waitFor('every send acknowledged (outbound on S)', () => countTexts(sPage, 'outbound'), sent, left(90_000));
    for (const [i, t] of rTabs.entries()) await waitFor(`receiver tab R${i} has everything`, () => countTexts(t, 'inbound'), sent, left(60_000));
    await sleep(2000);

    const reports: TabReport[] = [];
    for (const [i, t] of rTabs.entries()) reports.push(checkTab(`R${i}`, await rendered(t), expected, 'inbound', groupId));
    const sReport = checkTab('S', await rendered(sPage), expected, 'outbound', groupId);
    const stats = await gw.stats();
    const delivered = [...expected.kinds.keys()].filter((n) => reports.every((r) => r.found.has(n))).length;
    const duplicated = reports.reduce((a, r) => a + r.duplicateCount, 0) + sReport.duplicateCount;
    // The sender's page lists its sends in acknowledgement order (a lost answer is logged when the
    // resend is answered), so only the receivers are held to conversation order.
    const clean = (r: TabReport, ordered: boolean) => r.missing.length === 0 && r.duplicateCount === 0
      && (!ordered || (!r.disorder.p2p.length && !r.disorder.group.length))
      && !r.misplaced.length && !r.wrongIds.length && !r.undecryptable.length;
    const ok = errors.length === 0 && faultErrors.length === 0 && reports.every((r) => clean(r, true)) && clean(sReport, false);
    const showSend = (n: number) => {
      const o = outcomes.get(n);
      return `s${n} ${o?.group ? 'group' : '1:1'} ${o?.status ?? o?.error} in ${Math.round(o?.ms ?? 0)} ms`;
    };
    if (!ok) {
      for (const r of [...reports, sReport]) {
        log(describeReport(r));
        if (r.late.length && r !== sReport) log(`  overtaken sends on ${r.label}: ${r.late.slice(0, 30).map(showSend).join('; ')}`);
      }
      for (const [i, t] of rTabs.entries()) log(`R${i} diagnostics: ${JSON.stringify(await diagnose(t, i === 0))}`);
      log(`S diagnostics: ${JSON.stringify(await diagnose(sPage, true))}`);
      const unacked = [...outcomes.values()].filter((o) => sReport.missing.includes(o.n));
      if (unacked.length) log(`sends S never showed as outbound: ${unacked.map((o) => showSend(o.n)).join('; ')}`);
      if (errors.length) log(`sends that threw: ${errors.slice(0, 20).map((o) => `s${o.n}: ${o.error}`).join('; ')}`);
      log(`worker logs:\n  ${await workerLogs(browser, contextLabels)}`);
      log(`gateway stats: ${JSON.stringify({ ...stats, connections: stats.connections.map((c) => `${c.aid}/${c.device_id}/${c.kind}`) })}`);
    }
    log(`faults:\n  ${faultNotes.join('\n  ')}`);
    log(`S outages (left ready -> ready again): ${(await outages(sPage)).map((o) => `+${((o.at - started) / 1000).toFixed(1)}s ${o.ms} ms via ${o.via}`).join('; ')}`);
    const queued = [...outcomes.values()].filter((o) => o.status === 'queued').map((o) => o.n);
    log(`sends answered "queued" (sent later from the outbox): ${queued.length}, delivered to every tab: ${queued.filter((n) => reports.every((r) => r.found.has(n))).length}`);
    log(`send phase ${sendSeconds.toFixed(0)} s; total ${((Date.now() - started) / 1000).toFixed(0)} s; gateway messages_stored ${stats.messages_stored}, logins ${stats.logins}, connects ${stats.connects}`);
    console.log(`soak: sent=${sent} delivered=${delivered} lost=${sent - delivered} duplicated=${duplicated} faults=${faultsRun}`);

    expect(faultErrors, 'faults that could not be carried out').toEqual([]);
    expect(errors.map((o) => `s${o.n}: ${o.error}`)).toEqual([]);
    for (const r of [...reports, sReport]) {
      expect(r.missing, `${r.label} missing`).toEqual([]);
      expect([...r.duplicated], `${r.label} duplicated`).toEqual([]);
      if (r !== sReport) expect(r.disorder, `${r.label} order`).toEqual({ p2p: [], group: [] });
      expect(r.misplaced, `${r.label} misplaced`).toEqual([]);
      expect(r.wrongIds, `${r.label} message ids`).toEqual([]);
      expect(r.undecryptable, `${r.label} undecryptable`).toEqual([]);
    }
    expect(sent).toBeGreaterThanOrEqual(TOTAL);
    expect(faultsRun).toBe(faults.length);
  }, BUDGET_MS + 20_000);
});

/** Polls `count` until it reaches `want`; logs progress, and gives up (without throwing) at the deadline. */
async function waitFor(what: string, count: () => Promise<number>, want: number, timeoutMs: number): Promise<boolean> {
  const t0 = Date.now();
  let last = -1;
  let lastLog = t0;
  for (;;) {
    last = await count().catch(() => last);
    if (last >= want) {
      log(`${what}: ${last}/${want} after ${Date.now() - t0} ms`);
      return true;
    }
    if (Date.now() - t0 > timeoutMs) {
      log(`${what}: gave up at ${last}/${want} after ${timeoutMs} ms`);
      return false;
    }
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log(`${what}: ${last}/${want} …`);
    }
    await sleep(250);
  }
}
