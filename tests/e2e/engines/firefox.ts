// Firefox for the cross-engine suite: Debian's firefox-esr driven by puppeteer-core over WebDriver
// BiDi (no geckodriver, no browser download). Playwright's BiDi path cannot open a context on ESR
// 153 (it lacks emulation.setMediaFeaturesOverride); Puppeteer's does not need it.

import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { isExecutable, type EngineProfile, type EngineTab } from './tab.ts';

const CANDIDATES = ['/usr/bin/firefox-esr', '/usr/bin/firefox'];

/** FIREFOX_PATH, or the first Firefox installed; throws with what to install when there is none. */
export function firefoxPath(): string {
  const found = [process.env.FIREFOX_PATH, ...CANDIDATES].find((p) => p !== undefined && p !== '' && isExecutable(p));
  if (found) return found;
  throw new Error(`no Firefox found (FIREFOX_PATH, ${CANDIDATES.join(', ')}): apt-get install firefox-esr, or set FIREFOX_PATH`);
}

class FirefoxTab implements EngineTab {
  constructor(readonly page: Page) {}
  eval<T>(expression: string): Promise<T> {
    return this.page.evaluate(expression) as Promise<T>;
  }
  close(): Promise<void> {
    return this.page.close();
  }
}

export interface FirefoxProfile extends EngineProfile {
  /** Ends the browser process at once (SIGKILL): every tab, the SharedWorker and its socket die. */
  kill(): void;
}

/** A headless Firefox on its own profile directory (`userDataDir`: relaunch on it to keep its IndexedDB). */
export async function launchFirefox(userDataDir?: string): Promise<FirefoxProfile> {
  const browser: Browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: firefoxPath(),
    headless: true,
    ...(userDataDir ? { userDataDir } : {}),
    // Localhost only: no update checks, telemetry or first-run pages reaching for the network.
    extraPrefsFirefox: { 'app.update.enabled': false, 'browser.shell.checkDefaultBrowser': false, 'datareporting.policy.dataSubmissionEnabled': false },
  });
  const version = await browser.version();
  return {
    engine: 'firefox',
    version,
    async open(urls) {
      return Promise.all(urls.map(async (url) => {
        const page = await browser.newPage();
        page.on('pageerror', (e) => console.error(`[firefox page] ${(e as Error).message}`));
        await page.goto(url);
        return new FirefoxTab(page);
      }));
    },
    kill() {
      browser.process()?.kill('SIGKILL');
    },
    async close() {
      await browser.close().catch(() => browser.process()?.kill('SIGKILL'));
    },
  };
}
