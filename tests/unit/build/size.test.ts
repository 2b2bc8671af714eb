// Size budgets of what a tab loads and of the worker, built as an app would build them (a Vite app
// build, fully minified: tests/bench/size.ts).
// Tab: 7 KiB min+gzip (6.8 when set; issue 15's goal), the entry with every chunk it imports
// statically, because every tab pays it on every load ("a few kilobytes"); 8.25 KiB with the lazy
// chunk of the fallback rungs (8.0 when set; the goal of 7 is not met: that chunk alone adds 1.2),
// which only tabs without a usable SharedWorker load.
// Worker: 60 KiB min+gzip (55.6 when set; the goal is 60), because it loads once per origin; it
// has no curve code (P-256 is WebCrypto; @noble/curves stays in e2ee/noble.ts, which only tests
// and the bench load), and a regression past this means a dependency crept in (@noble/curves
// would add about 12 KiB, @peculiar/x509 with tsyringe and reflect-metadata about 25 KiB).

import { describe, expect, it } from 'vitest';
import { bundleSizes } from '../../bench/size.ts';

export const TAB_BUDGET_GZIP = 7 * 1024;
export const TAB_FALLBACK_BUDGET_GZIP = 8.25 * 1024;
export const WORKER_BUDGET_GZIP = 60 * 1024;

describe('bundle size budgets', () => {
  it('client-stub and the worker stay within budget', async () => {
    const s = await bundleSizes();
    expect(s.tab.gzip).toBeGreaterThan(1024);
    expect(s.tab.gzip).toBeLessThanOrEqual(TAB_BUDGET_GZIP);
    // The fallback rungs really are a separate chunk, and the only other one: a module the entry
    // and the fallback chunk both imported would be split into a third (protocol/dedicated.ts).
    expect(s.tabFallback.gzip).toBeGreaterThan(s.tab.gzip + 512);
    expect(s.tabChunks).toBe(2);
    expect(s.tabFallback.gzip).toBeLessThanOrEqual(TAB_FALLBACK_BUDGET_GZIP);
    expect(s.worker.gzip).toBeLessThanOrEqual(WORKER_BUDGET_GZIP);
  }, 60_000);
});
