// The worker half of the fuzz harness (issue 13). Starts its own stack (dev gateway in-process,
// the built demo, Chromium; loopback only), logs a tab in, then (a) injects mutated pushes and
// envelopes through the admin inject, interleaved with real messages from a real sender, and
// (b) posts malformed messages straight into the SharedWorker's port. Seeded and bounded in count
// and time; the figures come back as FuzzSections (report.ts).

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Envelope } from '../../worker/e2ee/envelope.ts';
import type { Session } from '../support/aun-client.ts';
import { envelopeTo, peerDevices } from '../support/forge.ts';
import setupBuild from '../e2e/global-setup.ts';
import { seeded } from '../e2e/soak/prng.ts';
import { adminPost, longConnections, openSender, openTab, startStack, until, type Stack } from '../e2e/support.ts';
import { FORGED_MARK, mutate, type Target } from './push-mutations.ts';
import type { FuzzSection } from './report.ts';
import { incarnationOf, liveness } from './liveness.ts';
import { portFuzz } from './worker-port.ts';

export interface WorkerFuzzOptions {
  seed: number;
  /** Mutated pushes and envelopes to inject (at least; the run stops early only at the deadline). */
  pushes: number;
  /** Malformed messages to post into the SharedWorker's port. */
  portMessages: number;
  /** For both input phases together, from the end of the setup; setup and the final checks have their own bounds. */
  deadlineMs: number;
}

/** The counts of a full run (issue 13). */
export const WORKER_FUZZ_DEFAULTS = { pushes: 2_000, portMessages: 1_000 } as const;

const SENDER_DEVICE = 'node-sender';
/** Frames per admin inject call, and the bytes after which a batch goes at once (the body limit is 1.1 MB). */
const BATCH = 25;
const BATCH_BYTES = 600_000;
/** A real message every this many injected inputs. */
const REAL_EVERY = 12;
/** The tab is asked `meta.ping` every this many inputs. */
const PROBE_EVERY = 200;
const FINAL_WAIT_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The demo bundle the stack serves; built once if it is not there (as the e2e global setup does). */
async function ensureBuilt(): Promise<void> {
  const dist = resolve(process.env.AUN_E2E_DIST ?? 'dist/demo');
  if (!existsSync(resolve(dist, 'index.html'))) await setupBuild();
}

/** Every text of the tab's message feed (inbound and group), for counting what it shows. */
const shownTexts = (page: Page): Promise<string[]> => page.$$eval('#messages li .text', (els) => els.map((e) => e.textContent ?? ''));

/**
 * Group changes the tab was told about, collected from the moment of the call. The tab also takes
 * the `raw` events, so every hostile frame's params cross the port to it as well.
 */
async function collectChanges(page: Page): Promise<void> {
  await page.evaluate(() => {
    const g = globalThis as unknown as { aun: { on(e: string, h: (d: unknown) => void): void }; fuzzChanges: unknown[]; fuzzRaw: number };
    g.fuzzChanges = [];
    g.fuzzRaw = 0;
    g.aun.on('group.changed', (d) => g.fuzzChanges.push(d));
    g.aun.on('raw', () => g.fuzzRaw++);
  });
}
const rawSeen = (page: Page) => page.evaluate(() => (globalThis as unknown as { fuzzRaw: number }).fuzzRaw);
const changesSeen = (page: Page) => page.evaluate(() => (globalThis as unknown as { fuzzChanges: { actor: string | null; member: string | null; action: string }[] }).fuzzChanges);

interface Victim {
  ctx: BrowserContext;
  page: Page;
  incarnation: string;
  target: Target;
  sender: Session;
}

async function setUp(stack: Stack, seed: number, envelopes: number): Promise<Victim> {
  const issuer = stack.gateway.config.issuer;
  const tag = `${seed.toString(36)}${Date.now() % 1e6}`;
  const aid = `fuzzv${tag}.${issuer}`;
  const senderAid = `fuzzs${tag}.${issuer}`;
  const sender = await openSender(stack.gateway, senderAid);
  const ctx = await stack.browser.newContext();
  const page = await openTab(ctx, stack, aid);
  await collectChanges(page);
  const deviceId = (await until('the tab\'s long connection', async () => (await longConnections(stack, aid))[0], 30_000)).device_id;
  const devices = await peerDevices(sender, aid, 30_000);
  const upcoming: Envelope[] = [];
  for (let i = 0; i < envelopes; i++) {
    upcoming.push(await envelopeTo(sender, SENDER_DEVICE, devices, aid, { type: 'text', text: `real e2ee ${i}` }, `m-fuzz-${tag}-${i}`));
  }
  const { group } = await sender.call<{ group: { group_id: string } }>('group.create', { name: `fuzz ${tag}` });
  await sender.call('group.add_member', { group_id: group.group_id, group_aid: group.group_id, aid }, { sign: true });
  await until('the tab follows the group', async () => (await changesSeen(page)).some((c) => c.action === 'member_added'), 30_000);
  return {
    ctx, page, sender, incarnation: await incarnationOf(page),
    target: {
      aid, deviceId, senderAid, forgerAid: `fuzzf${tag}.${issuer}`, groupId: group.group_id,
      nextSeq: 1, nextGroupSeq: 1, nextEventSeq: 2, sent: [], upcoming,
    },
  };
}

function section(name: string): FuzzSection {
  return { name, tried: 0, clearErrors: 0, crashes: 0, hangs: 0, wrongAccepts: 0, lost: 0, notes: [] };
}

/** Sends the next real message (plaintext 1:1, E2EE 1:1 or plaintext group, in turn); returns its text. */
async function sendReal(v: Victim, n: number): Promise<string> {
  const t = v.target;
  const kind = n % 3;
  if (kind === 1 && t.upcoming.length) {
    const env = t.upcoming.shift()!;
    await v.sender.call('message.send', { to: t.aid, payload: env as unknown as Record<string, unknown> });
    t.sent.push(env);
    t.nextSeq++;
    return `real e2ee ${t.sent.length - 1}`;
  }
  if (kind === 2) {
    const text = `real group ${n}`;
    await v.sender.call('group.send', { group_id: t.groupId, group_aid: t.groupId, payload: { type: 'text', text } }, { sign: true });
    t.nextGroupSeq++;
    return text;
  }
  const text = `real plain ${n}`;
  await v.sender.call('message.send', { to: t.aid, payload: { type: 'text', text } });
  t.nextSeq++;
  return text;
}

async function pushFuzz(stack: Stack, v: Victim, seed: number, count: number, until: number): Promise<FuzzSection> {
  const s = section('worker pushes');
  const rng = seeded(seed);
  const expected: string[] = [];
  const kinds = new Map<string, number>();
  let batch: string[] = [];
  let bytes = 0;
  let dead = false;
  const flush = async () => {
    if (batch.length === 0) return;
    const frames = batch;
    batch = [];
    bytes = 0;
    await adminPost(stack, 'inject', { aid: v.target.aid, frames });
  };
  const probe = async (at: number) => {
    const l = await liveness(v.page, v.incarnation);
    if (l.state === 'ok') return;
    if (l.state === 'crash') s.crashes++;
    else s.hangs++;
    s.notes.push(`seed ${seed}: ${l.state} after input ${at}: ${l.detail}`);
    dead = true;
  };
  let reals = 0;
  for (let i = 0; i < count && Date.now() < until && !dead; i++) {
    const m = mutate(rng, v.target, i);
    kinds.set(m.kind.split(':')[0]!, (kinds.get(m.kind.split(':')[0]!) ?? 0) + 1);
    batch.push(m.frame);
    bytes += m.frame.length;
    s.tried++;
    if (batch.length >= BATCH || bytes >= BATCH_BYTES) await flush();
    if ((i + 1) % REAL_EVERY === 0) {
      await flush();
      expected.push(await sendReal(v, reals++));
    }
    if ((i + 1) % PROBE_EVERY === 0) {
      await flush();
      await probe(i);
    }
  }
  await flush();
  // A last real message of each kind after the last forged input.
  for (let k = 0; k < 3 && !dead; k++) expected.push(await sendReal(v, reals++));
  if (!dead) await probe(s.tried);

  const shown = async () => {
    const texts = await shownTexts(v.page).catch(() => [] as string[]);
    return { texts, missing: expected.filter((e) => !texts.includes(e)) };
  };
  const end = Date.now() + FINAL_WAIT_MS;
  let last = await shown();
  while (!dead && last.missing.length > 0 && Date.now() < end) {
    await sleep(250);
    last = await shown();
  }
  await sleep(500);
  last = await shown();
  const forged = new Set(last.texts.filter((x) => x.includes(FORGED_MARK)));
  s.wrongAccepts += forged.size;
  for (const f of [...forged].slice(0, 5)) s.notes.push(`seed ${seed}: a forged message was shown: ${f.slice(0, 80)}`);
  const changes = await changesSeen(v.page).catch(() => []);
  const forgedChanges = changes.filter((c) => c.actor === v.target.forgerAid);
  s.wrongAccepts += forgedChanges.length;
  for (const c of forgedChanges.slice(0, 5)) s.notes.push(`seed ${seed}: a forged group change was shown: ${JSON.stringify(c)}`);
  for (const e of expected) {
    const times = last.texts.filter((x) => x === e).length;
    if (times === 1) continue;
    s.lost++;
    if (s.lost <= 5) s.notes.push(`seed ${seed}: real message "${e}" shown ${times} times`);
  }
  s.clearErrors = dead ? 0 : s.tried - s.wrongAccepts;
  s.notes.push(`seed ${seed}: the tab took ${await rawSeen(v.page).catch(() => '?')} raw gateway events`);
  s.notes.push(`seed ${seed}: ${expected.length} real messages interleaved; inputs by kind: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  return s;
}

/** The demo tab's worker script URL, from the browser's target list (Playwright does not expose shared workers). */
async function workerUrl(browser: Browser, page: Page): Promise<string> {
  const pageCdp = await page.context().newCDPSession(page);
  const { targetInfo } = await pageCdp.send('Target.getTargetInfo');
  await pageCdp.detach();
  const cdp = await browser.newBrowserCDPSession();
  try {
    const { targetInfos } = await cdp.send('Target.getTargets');
    const w = targetInfos.find((t) => t.type === 'shared_worker' && t.browserContextId === targetInfo.browserContextId);
    if (!w) throw new Error('no shared_worker in the tab\'s context');
    return w.url;
  } finally {
    await cdp.detach().catch(() => {});
  }
}

export async function runWorkerFuzz(opts: WorkerFuzzOptions): Promise<FuzzSection[]> {
  await ensureBuilt();
  const stack = await startStack();
  try {
    const v = await setUp(stack, opts.seed, Math.ceil(opts.pushes / REAL_EVERY / 3) + 4);
    const deadline = Date.now() + opts.deadlineMs;
    // The pushes get most of the time: each costs the worker a pull, a port message does not.
    const pushDeadline = Date.now() + Math.max(1_000, (deadline - Date.now()) * 0.75);
    const pushes = await pushFuzz(stack, v, opts.seed, opts.pushes, pushDeadline);
    const url = await workerUrl(stack.browser, v.page);
    const port = await portFuzz({
      stack, ctx: v.ctx, victim: v.page, aid: v.target.aid, incarnation: v.incarnation, url, seed: opts.seed, count: opts.portMessages, until: Math.max(deadline, Date.now() + 5_000),
      realMessage: async (text) => {
        await v.sender.call('message.send', { to: v.target.aid, payload: { type: 'text', text } });
      },
    });
    v.sender.close();
    return [pushes, port];
  } finally {
    await stack.close();
  }
}
