// Micro-bench of the Store's log.commit in Chromium, outside `npm run bench`:
//   npx tsx tests/bench/log-commit.ts        (ROUNDS=40 PREFILL=5000 to change the defaults)
// It bundles tests/bench/log-commit-page.ts with Vite, serves it on 127.0.0.1 and times, one
// commit at a time, runs of 50 and 200 new entries through the Store (schema v4: one row per
// commit) and through the v3 layout it replaced (one row per entry, each key read first), both
// on databases prefilled with PREFILL entries, the two alternating so that load from anything
// else falls on both. It prints the median µs per entry of each and the median of the per-round
// ratios (v4 / v3), and checks once that a logged key still lands once. Only the ratio means
// something on a loaded machine; docs/decisions.md has the figures the schema change was made on.

import { createServer } from 'node:http';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { launchChromium } from '../support/chromium.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(process.env.ROUNDS ?? 40);
const PREFILL = Number(process.env.PREFILL ?? 5000);
const SIZES = [50, 200];

type PageApi = { setup(prefill: number): Promise<void>; commit(v: 'v4' | 'v3', size: number): Promise<number>; check(): Promise<string> };

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const load = (): string => loadavg().map((x) => x.toFixed(1)).join(' ');

const bundle = await build({
  configFile: false,
  logLevel: 'warn',
  build: { write: false, target: 'es2022', minify: false, lib: { entry: join(HERE, 'log-commit-page.ts'), formats: ['es'], fileName: 'page' } },
});
const js = (Array.isArray(bundle) ? bundle[0]! : (bundle as { output: { code?: string }[] })).output[0]!.code!;
const server = createServer((req, res) => {
  res.setHeader('content-type', req.url === '/page.js' ? 'text/javascript' : 'text/html');
  res.end(req.url === '/page.js' ? js : '<!doctype html><title>loading</title><script type="module" src="/page.js"></script>');
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as { port: number };
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`[log-commit] ${e.message}`));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => document.title === 'ready');
  console.log(`load average before: ${load()}`);
  await page.evaluate((p) => (globalThis as unknown as { logBench: PageApi }).logBench.setup(p), PREFILL);
  const check = await page.evaluate(() => (globalThis as unknown as { logBench: PageApi }).logBench.check());
  if (check !== 'ok') throw new Error(check);
  for (const size of SIZES) {
    const per: Record<'v4' | 'v3', number[]> = { v4: [], v3: [] };
    const ratios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const t: Record<string, number> = {};
      for (const v of r % 2 === 0 ? (['v4', 'v3'] as const) : (['v3', 'v4'] as const)) {
        t[v] = (await page.evaluate(([v, s]) => (globalThis as unknown as { logBench: PageApi }).logBench.commit(v, s), [v, size] as const)) / size;
        per[v].push(t[v]!);
      }
      ratios.push(t.v4! / t.v3!);
    }
    console.log(
      `runs of ${size}: v4 (one row per commit) ${(median(per.v4) * 1000).toFixed(0)} µs/entry, ` +
        `v3 (one row per entry) ${(median(per.v3) * 1000).toFixed(0)} µs/entry, v4/v3 median ${median(ratios).toFixed(2)} (${ROUNDS} rounds)`,
    );
  }
  console.log(`load average after: ${load()}`);
} finally {
  await browser.close();
  server.close();
}
