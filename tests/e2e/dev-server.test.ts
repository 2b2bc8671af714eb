// The README's first command serves the demo from Vite's dev server, not from a build: the worker
// then loads as source, its npm dependencies pre-bundled on the fly. A fresh dependency cache (as
// on a new clone) must not cost a reload or a failed request: the aunWorker plugin lists the
// worker's dependencies for the dev server, whose scan never reaches into the worker. (Without
// that list this test fails in most runs: the server re-optimises, reloads the page, and answers
// the first page's requests with 504 Outdated Optimize Dep.)

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { launchBrowser } from './support.ts';

let gateway: Gateway;
let server: ViteDevServer;
let browser: Browser;
const dirs: string[] = [];

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'aun-dev-gw-'));
  const cacheDir = mkdtempSync(join(tmpdir(), 'aun-dev-vite-'));
  dirs.push(dataDir, cacheDir);
  gateway = await startGateway({ dataDir });
  server = await createServer({
    configFile: 'vite.config.ts',
    logLevel: 'silent',
    cacheDir,
    server: { port: 0, strictPort: false, host: '127.0.0.1' },
  });
  await server.listen();
  // The page's own modules first, as a browser would fetch them, until the server has crawled
  // them and committed its first pre-bundle: the worker's imports come only after that (a worker
  // requested during the first pass would have them folded in, hiding the reload).
  const base = server.resolvedUrls!.local[0]!;
  await (await fetch(base)).text();
  await (await fetch(new URL('main.ts', base))).text();
  const metadata = join(cacheDir, 'deps', '_metadata.json');
  for (const deadline = Date.now() + 30_000; !existsSync(metadata) && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 1_500));
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await gateway?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the demo on the dev server (npm start)', () => {
  it('logs in on the first load of a fresh dependency cache: no reload, no failed request, no console error', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    let loads = 0;
    page.on('load', () => loads++);
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('requestfailed', (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`http ${r.status()}: ${r.url()}`);
    });
    const base = server.resolvedUrls!.local[0]!;
    await page.goto(`${base}?${new URLSearchParams({ gateway: gateway.url, aid: 'devserver.aun.local', autologin: '1' })}`);
    await page.waitForSelector('#state[data-state="ready"]', { timeout: 60_000 });
    // Give a late re-optimisation the time to force its reload, if one were coming.
    await page.waitForTimeout(1_000);
    expect(problems).toEqual([]);
    expect(loads).toBe(1);
    expect(await page.textContent('#whoami')).toBe('devserver.aun.local');
  }, 90_000);
});
