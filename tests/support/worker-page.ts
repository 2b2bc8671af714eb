// A small page and the worker it starts, built by Vite into a fresh temporary folder (so concurrent
// runs and the e2e build of dist/ never step on each other), served by Vite's preview server and
// opened in Debian's Chromium through playwright-core with the flags of scripts/chromium.mjs.
// Used by the conformance runner in the browser and the E2EE benchmark; no gateway involved.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { build, preview, type InlineConfig } from 'vite';
import { launchChromium } from './chromium.ts';

export interface WorkerPageOptions {
  /** How long the page may take to report its worker ready (`#status[data-ready="1"]`). */
  readyTimeoutMs?: number;
  /** Prefixes the page's console errors and uncaught exceptions on stderr. */
  label?: string;
}

/**
 * Builds `root` (an index.html whose script starts a worker and sets `#status` `data-ready="1"`
 * once the worker answered, or `data-error` with the reason), opens it, runs `fn` with the page and
 * always tears everything down, whether `fn` resolves or throws.
 */
export async function withWorkerPage<T>(root: string, fn: (page: Page) => Promise<T>, opts: WorkerPageOptions = {}): Promise<T> {
  const label = opts.label ?? 'worker page';
  const outDir = mkdtempSync(join(tmpdir(), 'aun-worker-page-'));
  const config: InlineConfig = {
    configFile: false,
    root,
    publicDir: false,
    logLevel: 'warn',
    worker: { format: 'es' },
    build: { outDir, emptyOutDir: true, target: 'es2022', reportCompressedSize: false },
  };
  const closers: (() => Promise<unknown>)[] = [async () => rmSync(outDir, { recursive: true, force: true })];
  try {
    await build(config);
    const server = await preview({ ...config, preview: { port: 0, strictPort: false, host: '127.0.0.1' } });
    closers.push(() => server.close());
    const browser: Browser = await launchChromium();
    closers.push(() => browser.close());
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`[${label}] ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') console.error(`[${label}] ${m.text()}`);
    });
    await page.goto(server.resolvedUrls!.local[0]!);
    const status = await page.waitForSelector('#status[data-ready="1"], #status[data-error]', { timeout: opts.readyTimeoutMs ?? 30_000 });
    const error = await status.getAttribute('data-error');
    if (error !== null) throw new Error(`${label}: the worker did not start: ${error}`);
    return await fn(page);
  } finally {
    for (const close of closers.reverse()) {
      await close().catch((e: unknown) => console.error(`[${label}] cleanup: ${(e as Error).message}`));
    }
  }
}
