// A background tab, as a browser has it: a tab of the same window behind the one in front
// (document.hidden, no animation frames, nothing painted; its scripts and messages run). The demo
// does not draw each message there: its message events arrive one by one, but the feed, the
// conversation list and the open conversation are built in one go, once shown or after a second
// (demo/app/dom.ts), in log order. Playwright keeps every page of its own contexts visible, so
// these tabs are opened through launchTabStrip.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Session } from '../support/aun-client.ts';
import { launchTabStrip } from '../support/chromium.ts';
import { inboundTexts, loadTab, openSender, openTab, startStack, until, type Stack } from './support.ts';

let stack: Stack;
let strip: Awaited<ReturnType<typeof launchTabStrip>>;
beforeAll(async () => {
  stack = await startStack({ tokenTtl: 3600 });
  strip = await launchTabStrip();
});
afterAll(async () => {
  await strip?.close();
  await stack?.close();
});

type Probe = { aun: { on(name: string, h: (m: { payload: { text?: string } }) => void): void }; __heard?: string[]; __batches?: number };

/** Counts the message events a tab's client hands out, and the tasks in which its feed got lines. */
const listen = (page: Page) => page.evaluate(() => {
  const g = globalThis as unknown as Probe;
  g.__heard = [];
  g.__batches = 0;
  g.aun.on('message', (m) => g.__heard!.push(m.payload.text ?? ''));
  new MutationObserver((records) => {
    if (records.some((r) => [...r.addedNodes].some((n) => n instanceof Element && (n.matches('li.inbound') || n.querySelector('li.inbound'))))) g.__batches!++;
  }).observe(document.getElementById('messages')!, { childList: true, subtree: true });
});
const heard = (page: Page) => page.evaluate(() => (globalThis as unknown as Probe).__heard ?? []);
const batches = (page: Page) => page.evaluate(() => (globalThis as unknown as Probe).__batches ?? 0);
const visibility = (page: Page) => page.evaluate(() => document.visibilityState);

/** Slows a tab's CPU `rate` times (CDP), as a busy or low-end machine would. */
async function throttle(page: Page, rate: number): Promise<void> {
  const cdp = await strip.ctx.newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate });
}

describe('a background tab of the demo', () => {
  it('hears every message as it comes but draws them in one go, in order; shown, it draws each at once', async () => {
    await scenario({ throttled: false });
  });

  it('the same with both tabs opened at once and their CPU slowed 4 times', async () => {
    await scenario({ throttled: true });
  });
});

async function scenario({ throttled }: { throttled: boolean }): Promise<void> {
  const aid = `bg${Date.now() % 1e8}.${stack.gateway.config.issuer}`;
  let behind: Page;
  let front: Page;
  if (throttled) {
    // Both tabs made first and slowed, then loaded together, as a browser restores a session:
    // the tab made last is in front.
    const pages = [await strip.ctx.newPage(), await strip.ctx.newPage()];
    for (const p of pages) await throttle(p, 4);
    await Promise.all(pages.map((p) => loadTab(p, stack, aid, {}, 60_000)));
    [behind, front] = pages as [Page, Page];
  } else {
    behind = await openTab(strip.ctx, stack, aid);
    front = await openTab(strip.ctx, stack, aid);
  }
  expect([await visibility(behind), await visibility(front)]).toEqual(['hidden', 'visible']);
  await listen(behind);
  const sender: Session = await openSender(stack.gateway, `bgsender${Date.now() % 1e8}.${stack.gateway.config.issuer}`);
  try {
    // One at a time, 20 ms apart: each arrives in a task of its own, as a chat's messages do.
    const texts = Array.from({ length: 20 }, (_, i) => `behind ${i}`);
    for (const text of texts) {
      await sender.call('message.send', { to: aid, payload: { type: 'text', text } });
      await new Promise((r) => setTimeout(r, 20));
    }
    await until('the tab behind to hear every message', async () => (await heard(behind)).length === texts.length);
    expect(await heard(behind)).toEqual(texts);
    // Heard one by one, drawn in one go (a second or two apart at most on a slow machine): the
    // demo before drew each message in the task that handed it out, 20 times.
    await until('the tab behind to bring its feed up to date', async () => (await inboundTexts(behind)).length === texts.length);
    expect(await inboundTexts(behind)).toEqual(texts);
    expect(await batches(behind)).toBeLessThanOrEqual(3);
    expect(await behind.$$eval('#conversations li', (els) => els.length)).toBe(1);

    // Shown, it draws as it hears: the next line goes in at once, after them.
    await behind.bringToFront();
    expect(await visibility(behind)).toBe('visible');
    const before = await batches(behind);
    await sender.call('message.send', { to: aid, payload: { type: 'text', text: 'in front' } });
    await until('the next line', async () => (await inboundTexts(behind)).length === texts.length + 1);
    expect((await inboundTexts(behind)).at(-1)).toBe('in front');
    expect(await batches(behind)).toBe(before + 1);
  } finally {
    sender.close();
    await Promise.all([behind.close(), front.close()]);
  }
}
