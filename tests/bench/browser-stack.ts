// The browser bench stack: the dev gateway in-process, the demo and the bench page built by Vite
// into dist/bench/ (so a concurrent e2e build of dist/demo cannot pull files from under us), each
// served by Vite's preview server, and Debian's Chromium through playwright-core. Everything is
// torn down in reverse order, also when a step fails.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { build, preview, type InlineConfig, type Plugin, type PreviewServer } from 'vite';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { launchChromium } from '../support/chromium.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
const SERVE = { port: 0, strictPort: false, host: '127.0.0.1' };

export interface BrowserStack {
  gateway: Gateway;
  browser: Browser;
  /** Origin of the built demo (the real client-stub and worker). */
  demoOrigin: string;
  /** URL of the baseline page (bare SharedWorker, direct WebSocket). */
  pageUrl: string;
  /** URL of the reference tab (own socket, full two-phase login in the page; see page/ref.ts). */
  refUrl: string;
}

/**
 * Serves the hashed build output (`/assets/…`) as a production server does, cacheable for good:
 * Vite's preview server sends `no-cache`, so every new tab would fetch every chunk again, which
 * no deployed app pays. The HTML and the gateway's files are not cached. Both the demo and the
 * reference page get it (and ladder-ab.ts's two demos).
 */
export const immutableAssets: Plugin = {
  name: 'bench-immutable-assets',
  configurePreviewServer(server) {
    server.middlewares.use((req, res, next) => {
      if (req.url?.startsWith('/assets/')) res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
      next();
    });
  },
};

const demoConfig: InlineConfig = {
  configFile: join(REPO, 'vite.config.ts'),
  root: join(REPO, 'demo'),
  logLevel: 'warn',
  plugins: [immutableAssets],
  // Unminified under BENCH_PROFILE, so the CPU profiles name the functions.
  build: { outDir: join(REPO, 'dist/bench/demo'), emptyOutDir: true, ...(process.env.BENCH_PROFILE ? { minify: false } : {}) },
};

const PAGE_ROOT = join(REPO, 'tests/bench/page');
const pageConfig: InlineConfig = {
  configFile: false,
  root: PAGE_ROOT,
  logLevel: 'warn',
  plugins: [immutableAssets],
  worker: { format: 'es' },
  build: {
    outDir: join(REPO, 'dist/bench/page'),
    emptyOutDir: true,
    target: 'es2022',
    rolldownOptions: { input: { main: join(PAGE_ROOT, 'index.html'), ref: join(PAGE_ROOT, 'ref.html') } },
  },
};

function origin(server: PreviewServer): string {
  return server.resolvedUrls!.local[0]!.replace(/\/$/, '');
}

/** Runs `fn` with a fresh stack and always closes it, whether `fn` resolves or throws. */
export async function withBrowserStack<T>(fn: (stack: BrowserStack) => Promise<T>): Promise<T> {
  const closers: (() => Promise<unknown>)[] = [];
  try {
    await build(demoConfig);
    await build(pageConfig);
    const gateway = await startGateway({ dataDir: ':memory:', tokenTtl: 3600, admin: true });
    closers.push(() => gateway.close());
    const demo = await preview({ ...demoConfig, preview: SERVE });
    closers.push(() => demo.close());
    const page = await preview({ ...pageConfig, preview: SERVE });
    closers.push(() => page.close());
    const browser = await launchChromium();
    closers.push(() => browser.close());
    return await fn({ gateway, browser, demoOrigin: origin(demo), pageUrl: `${origin(page)}/`, refUrl: `${origin(page)}/ref.html` });
  } finally {
    for (const close of closers.reverse()) {
      await close().catch((e: unknown) => console.error(`[bench] cleanup: ${(e as Error).message}`));
    }
  }
}
