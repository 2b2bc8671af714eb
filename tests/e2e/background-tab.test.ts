// A background tab, as a browser has it: a tab of the same window behind the one in front
// (document.hidden, no animation frames, nothing painted; its scripts and messages run). The demo
// builds nothing there: its message events still arrive, but the feed, the conversation list and
// the open conversation are drawn once the tab is shown, in log order. Playwright keeps every page
// of its own contexts visible, so these tabs are opened through launchTabStrip.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Session } from '../support/aun-client.ts';
import { launchTabStrip } from '../support/chromium.ts';
import { inboundTexts, openSender, openTab, startStack, until, type Stack } from './support.ts';

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

type Probe = { aun: { on(name: string, h: (m: { payload: { text?: string } }) => void): void }; __heard?: string[] };

/** Counts the message events a tab's client hands out, whatever the page draws. */
const listen = (page: Page) => page.evaluate(() => {
  const g = globalThis as unknown as Probe;
  g.__heard = [];
  g.aun.on('message', (m) => g.__heard!.push(m.payload.text ?? ''));
});
const heard = (page: Page) => page.evaluate(() => (globalThis as unknown as Probe).__heard ?? []);
const visibility = (page: Page) => page.evaluate(() => document.visibilityState);

describe('a background tab of the demo', () => {
  it('hears every message but draws none until shown, then all of them in order', async () => {
    const aid = `bg${Date.now() % 1e8}.${stack.gateway.config.issuer}`;
    const behind = await openTab(strip.ctx, stack, aid);
    const front = await openTab(strip.ctx, stack, aid);
    expect([await visibility(behind), await visibility(front)]).toEqual(['hidden', 'visible']);
    await listen(behind);
    const sender: Session = await openSender(stack.gateway, `bgsender${Date.now() % 1e8}.${stack.gateway.config.issuer}`);
    try {
      const texts = Array.from({ length: 20 }, (_, i) => `behind ${i}`);
      for (const text of texts) await sender.call('message.send', { to: aid, payload: { type: 'text', text } });
      await until('the tab in front to draw every line', async () => (await inboundTexts(front)).length === texts.length);
      await until('the tab behind to hear every message', async () => (await heard(behind)).length === texts.length);
      expect(await heard(behind)).toEqual(texts);
      // Heard, not drawn: no line and no conversation in the list were built behind.
      expect(await inboundTexts(behind)).toEqual([]);
      expect(await behind.$$eval('#conversations li', (els) => els.length)).toBe(0);

      await behind.bringToFront();
      expect(await visibility(behind)).toBe('visible');
      await until('the tab, shown, to draw what it heard', async () => (await inboundTexts(behind)).length === texts.length);
      expect(await inboundTexts(behind)).toEqual(texts);
      expect(await behind.$$eval('#conversations li', (els) => els.length)).toBe(1);
      // Shown, it draws as it hears: the next line goes after them.
      await sender.call('message.send', { to: aid, payload: { type: 'text', text: 'in front' } });
      await until('the next line', async () => (await inboundTexts(behind)).length === texts.length + 1);
      expect((await inboundTexts(behind)).at(-1)).toBe('in front');
    } finally {
      sender.close();
    }
  });
});
