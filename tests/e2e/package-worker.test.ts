// The worker as an app gets it: the package fixture app built by Vite with `aunWorker()` (the
// package is `"sideEffects": false`), its worker started by both factories in Chromium, attached
// to like a tab does, and answering hello: with `sideEffects: false` a bundler may drop any module
// the worker does not use, and the worker must still load.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aunWorker } from '../../vite-plugin/index.ts';
import { TAB_PROTOCOL } from '../../protocol/tab.ts';
import { launchBrowser } from './support.ts';

const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../unit/package/fixture');

let outDir: string;
let server: PreviewServer;
let browser: Browser;
let page: Page;
const errors: string[] = [];

beforeAll(async () => {
  outDir = mkdtempSync(path.join(tmpdir(), 'aun-package-worker-'));
  const config = { configFile: false as const, logLevel: 'silent' as const, root: fixture, plugins: [aunWorker({ build: 'pkg-test', builtAt: 1 })] };
  await build({ ...config, build: { outDir, emptyOutDir: true, minify: true, target: 'es2022' } });
  server = await preview({ ...config, build: { outDir }, preview: { port: 0, strictPort: false, host: '127.0.0.1' } });
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(server.resolvedUrls!.local[0]!);
  await page.waitForFunction(() => 'aunFixture' in globalThis);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

type Kind = 'shared' | 'dedicated';

/** Starts the worker with the app's factory and attaches one tab; resolves with the first frame, or the worker's error. */
function attach(kind: Kind): Promise<{ frame?: { t: string; build?: string; rung?: string }; error?: string }> {
  return page.evaluate(({ kind, protocol }) => new Promise((resolve) => {
    const workers = (globalThis as unknown as { aunFixture: { workers: Record<string, (name: string) => SharedWorker | Worker> } }).aunFixture.workers;
    const rpc = new MessageChannel();
    const events = new MessageChannel();
    const msg = { type: 'aun.attach', tabId: `t-${kind}`, tabLock: '', protocol, build: 'pkg-test', builtAt: 1, rpc: rpc.port2, events: events.port2 };
    const timer = setTimeout(() => resolve({ error: 'no answer within 10 s' }), 10_000);
    events.port1.onmessage = (ev) => {
      clearTimeout(timer);
      resolve({ frame: ev.data });
    };
    const w = workers[kind]!(`pkg-${kind}@1`);
    w.onerror = (e) => {
      clearTimeout(timer);
      resolve({ error: (e as ErrorEvent).message || 'error event' });
    };
    if (w instanceof Worker) {
      const port = new MessageChannel();
      w.postMessage({ type: 'aun.connect', rung: 'single' }, [port.port2]);
      port.port1.postMessage(msg, [rpc.port2, events.port2]);
    } else {
      w.port.postMessage(msg, [rpc.port2, events.port2]);
    }
  }), { kind, protocol: TAB_PROTOCOL });
}

describe('the worker bundled by an app (sideEffects: false)', () => {
  it.each(['shared', 'dedicated'] as const)('loads and says hello as a %s worker', async (kind) => {
    const r = await attach(kind);
    expect(r.error).toBeUndefined();
    expect(r.frame).toMatchObject({ t: 'hello', build: 'pkg-test', rung: kind === 'shared' ? 'shared' : 'single' });
    expect(errors).toEqual([]);
  }, 20_000);
});
