// Size budgets of what a tab loads and of the worker, built as an app would build them (a Vite app
// build, fully minified: tests/bench/size.ts).
// Tab: 7 KiB min+gzip (7.0 when set; issue 15's goal), because every tab pays it on every load ("a
// few kilobytes"). That is everything a tab can load: the leader and single rungs are in the one
// chunk. As a lazy chunk they cost more than they saved: the import() made Vite's app build add
// its preload helper (0.7 KiB) to every tab, while the rungs themselves add 0.35 KiB to one chunk
// (with a lazy chunk the same code measures 6.6 KiB on the shared rung but 7.8 in all).
// Worker: 60 KiB min+gzip (55.6 when set; the goal is 60), because it loads once per origin; it
// has no curve code (P-256 is WebCrypto; @noble/curves stays in e2ee/noble.ts, which only tests
// and the bench load), and a regression past this means a dependency crept in (@noble/curves
// would add about 12 KiB, @peculiar/x509 with tsyringe and reflect-metadata about 25 KiB).

import { describe, expect, it } from 'vitest';
import { bundleSizes } from '../../bench/size.ts';

export const TAB_BUDGET_GZIP = 7 * 1024;
export const WORKER_BUDGET_GZIP = 60 * 1024;

describe('bundle size budgets', () => {
  it('client-stub and the worker stay within budget', async () => {
    const s = await bundleSizes();
    expect(s.tab.gzip).toBeGreaterThan(1024);
    // One chunk: no import() (which would bring Vite's preload helper), so what loads first is all
    // a tab can load, on every rung.
    expect(s.tabChunks).toBe(1);
    expect(s.tabFallback.gzip).toBe(s.tab.gzip);
    expect(s.tab.gzip).toBeLessThanOrEqual(TAB_BUDGET_GZIP);
    expect(s.worker.gzip).toBeLessThanOrEqual(WORKER_BUDGET_GZIP);
  }, 60_000);
});
