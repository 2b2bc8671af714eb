// Debian's Chromium, headless, with the flags every browser test and bench uses (scripts/chromium.mjs).

import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { CHROMIUM_FLAGS } from '../../scripts/chromium.mjs';
import { freePort } from './ports.ts';

/** `extraArgs` go after the usual flags, e.g. `--ignore-certificate-errors-spki-list=…` for a TLS gateway. */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  return chromium.launch({ executablePath, args: [...CHROMIUM_FLAGS, ...extraArgs], headless: true });
}


/**
 * Tabs as a user's browser has them: pages of ONE window, only the one in front visible. Every page
 * of a context Playwright makes is kept visible and focused (it turns on focus emulation), so all
 * of them run animation frames, lay out and paint, which no browser does for background tabs.
 * Here a fresh Chromium is launched as usual and its default context (which that connection leaves
 * alone) is driven through a second, CDP connection made with `noDefaults`: `ctx.newPage()` opens a
 * tab in front of the others, so the last one opened is visible and the rest are background tabs
 * (visibilityState 'hidden', no animation frames, nothing painted; their scripts and messages run).
 */
export async function launchTabStrip(): Promise<{ browser: Browser; ctx: BrowserContext; close: () => Promise<void> }> {
  const port = await freePort();
  const owner = await launchChromium([`--remote-debugging-port=${port}`]);
  try {
    const browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`, { noDefaults: true });
    return {
      browser,
      ctx: browser.contexts()[0]!,
      close: async () => {
        await browser.close().catch(() => {});
        await owner.close();
      },
    };
  } catch (e) {
    await owner.close();
    throw e;
  }
}
