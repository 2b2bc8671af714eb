// Driving the demo pages for the soak test: opening tabs against a gateway URL, sending from
// the sender's page, and reading what a page rendered.

import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';

/** What the soak test needs from `window.aun` (the demo's client). */
interface PageClient {
  send(to: string, payload: unknown, opts: { timeoutMs: number }): Promise<{ status: string; message_id: string }>;
  incarnation: string | null;
  groups: {
    create(name: string): Promise<{ group_id: string }>;
    add(groupId: string, aid: string): Promise<unknown>;
    send(groupId: string, payload: unknown, opts: { timeoutMs: number }): Promise<{ status: string; messageId: string; seq: number | null }>;
  };
}

export interface SendItem { n: number; group: boolean }
export interface SendOutcome {
  n: number;
  group: boolean;
  /** `sent`, `delivered`, `duplicate` (answered by the gateway) or `queued` (left in the outbox). */
  status?: string;
  messageId?: string;
  error?: string;
  ms: number;
}

/** One rendered `#messages li`. */
export interface Rendered { cls: string; from: string; text: string; messageId: string; groupId: string }

export function demoUrl(appUrl: string, gatewayUrl: string, aid: string): string {
  return `${appUrl}/?${new URLSearchParams({ gateway: gatewayUrl, aid, autologin: '1' })}`;
}

/** Opens a demo tab logged in as `aid` (with history) and waits until the page finished its login. */
export async function openTab(ctx: BrowserContext, url: string, label: string, log: (l: string) => void): Promise<Page> {
  const { page, error } = await openTabSettled(ctx, url, label, log);
  if (error) throw error;
  return page;
}

/** Like openTab, but keeps the page when its login fails (the soak test goes on and reports). */
export async function openTabSettled(ctx: BrowserContext, url: string, label: string, log: (l: string) => void): Promise<{ page: Page; error?: Error }> {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => log(`[page ${label}] ${e.message}`));
  try {
    await page.goto(url);
    await waitLoggedIn(page, label);
    return { page };
  } catch (err) {
    return { page, error: err as Error };
  }
}

export async function waitLoggedIn(page: Page, label: string): Promise<void> {
  try {
    await page.waitForSelector('body[data-ready="1"]', { timeout: 45_000 });
  } catch (err) {
    const shown = await page.textContent('#error').catch(() => null);
    throw new Error(`${label} did not finish its login: ${shown || (err as Error).message}`);
  }
}

export async function sessionState(page: Page): Promise<string | null> {
  return page.$eval('#state', (el) => (el as HTMLElement).dataset.state ?? null).catch(() => null);
}

export async function incarnation(page: Page): Promise<string | null> {
  return page.evaluate(() => (globalThis as unknown as { aun: PageClient }).aun.incarnation);
}

export async function createGroup(page: Page, member: string): Promise<string> {
  return page.evaluate(async (member) => {
    const aun = (globalThis as unknown as { aun: PageClient }).aun;
    const g = await aun.groups.create('soak');
    await aun.groups.add(g.group_id, member);
    return g.group_id;
  }, member);
}

/** Sends the batch one message after another (each awaited), from the page. */
export async function sendBatch(page: Page, to: string, groupId: string, items: SendItem[], timeoutMs: number): Promise<SendOutcome[]> {
  return page.evaluate(async ({ to, groupId, items, timeoutMs }) => {
    const aun = (globalThis as unknown as { aun: PageClient }).aun;
    const out: SendOutcome[] = [];
    for (const { n, group } of items) {
      const payload = { type: 'text', text: `s${n}`, n };
      const t0 = performance.now();
      try {
        if (group) {
          const r = await aun.groups.send(groupId, payload, { timeoutMs });
          out.push({ n, group, status: r.status, messageId: r.messageId, ms: performance.now() - t0 });
        } else {
          const r = await aun.send(to, payload, { timeoutMs });
          out.push({ n, group, status: r.status, messageId: r.message_id, ms: performance.now() - t0 });
        }
      } catch (e) {
        out.push({ n, group, error: `${(e as Error).name}: ${(e as Error).message}`, ms: performance.now() - t0 });
      }
    }
    return out;
  }, { to, groupId, items, timeoutMs });
}

export async function rendered(page: Page): Promise<Rendered[]> {
  return page.$$eval('#messages li', (els) => els.map((e) => ({
    cls: e.className,
    from: e.querySelector('.from')?.textContent ?? '',
    text: e.querySelector('.text')?.textContent ?? e.textContent ?? '',
    messageId: (e as HTMLElement).dataset.messageId ?? '',
    groupId: (e as HTMLElement).dataset.groupId ?? '',
  })));
}

/** Counts rendered `s<n>` texts with the given class; cheap enough to poll. */
export async function countTexts(page: Page, cls: string): Promise<number> {
  return page.$$eval(`#messages li.${cls} .text`, (els) => new Set(els.map((e) => e.textContent).filter((t) => /^s\d+$/.test(t ?? ''))).size);
}

/** The browser context id of a page, to find that context's shared worker among the browser's targets. */
export async function contextIdOf(ctx: BrowserContext, page: Page): Promise<string> {
  const cdp = await ctx.newCDPSession(page);
  const { targetInfo } = await cdp.send('Target.getTargetInfo') as { targetInfo: { browserContextId?: string } };
  await cdp.detach();
  if (!targetInfo.browserContextId) throw new Error('no browserContextId in the target info');
  return targetInfo.browserContextId;
}

export async function sharedWorkers(browser: Browser, cdp: CDPSession | null, contextId: string): Promise<number> {
  const session = cdp ?? await browser.newBrowserCDPSession();
  const { targetInfos } = await session.send('Target.getTargets') as { targetInfos: { type: string; browserContextId?: string }[] };
  if (!cdp) await session.detach();
  return targetInfos.filter((t) => t.type === 'shared_worker' && t.browserContextId === contextId).length;
}

/** What a tab knows of itself and of its owner, for failure reports. */
export async function diagnose(page: Page, withOwner: boolean): Promise<unknown> {
  return page.evaluate(async (withOwner) => {
    const aun = (globalThis as unknown as { aun: { cursor: number; incarnation: string | null; state: { state: string; lastLsn: number } | null; inspect?: () => Promise<unknown> } }).aun;
    let owner: unknown = withOwner ? 'no inspect()' : 'see R0';
    try {
      if (withOwner && aun.inspect) {
        const o = await aun.inspect() as { recent?: unknown[] };
        owner = { ...o, recent: o.recent?.slice(-5) };
      }
    } catch (e) {
      owner = `inspect failed: ${(e as Error).message}`;
    }
    return {
      cursor: aun.cursor, incarnation: aun.incarnation, state: aun.state?.state, ownerLastLsn: aun.state?.lastLsn,
      visibility: document.visibilityState, rendered: document.querySelectorAll('#messages li').length,
      error: document.getElementById('error')?.textContent ?? '', owner,
    };
  }, withOwner).catch((e: Error) => `diagnose failed: ${e.message}`);
}

/** Starts recording the session states a page's client reports (read back with `stateLog`). */
export async function recordStates(page: Page): Promise<void> {
  await page.evaluate(() => {
    const g = globalThis as unknown as { aun: { on(e: string, h: (s: { state: string }) => void): void }; soakStates?: [number, string][] };
    g.soakStates = [];
    g.aun.on('state', (s) => g.soakStates!.push([Date.now(), s.state]));
  });
}

/** Outages seen by a page: each span from leaving `ready` to being `ready` again, in ms. */
export async function outages(page: Page): Promise<{ at: number; ms: number; via: string }[]> {
  const states = await page.evaluate(() => (globalThis as unknown as { soakStates?: [number, string][] }).soakStates ?? []);
  const spans: { at: number; ms: number; via: string }[] = [];
  let down: { at: number; via: string[] } | null = null;
  for (const [at, state] of states) {
    if (state !== 'ready') {
      if (!down) down = { at, via: [] };
      if (down.via.at(-1) !== state) down.via.push(state);
    } else if (down) {
      spans.push({ at: down.at, ms: at - down.at, via: down.via.join('>') });
      down = null;
    }
  }
  if (down) spans.push({ at: down.at, ms: -1, via: `${down.via.join('>')} (still down)` });
  return spans;
}
