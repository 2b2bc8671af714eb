// How a bench waits for a page it is timing: the page's init script prints READY_SIGNAL when it
// sees the moment being timed, and the bench waits for that console line. Playwright's
// waitForSelector/waitForFunction would first inject its selector engine into the page, about
// 10 ms of script on the page's main thread in the middle of the measurement (seen in a
// Chromium trace; it made a demo tab's way to `ready` look ~15 ms slower than it is).

import type { Page } from 'playwright-core';

export const READY_SIGNAL = 'aun-bench:ready';

/** What READY_PROBE records in every page (`globalThis.__benchReady`). */
export interface ReadyRecord {
  /** performance.now() (ms since navigation start) and Date.now() when the page was first ready. */
  at: number | null;
  wall: number | null;
}

/**
 * Init script, run before any page script: notes when `#state` first says `ready` (the demo, the
 * reference page, and the bare SharedWorker page at its first echo) and prints READY_SIGNAL. Plain
 * JS, not a serialised TS function: tsx would wrap named inner functions in __name().
 *
 * It watches that one attribute and nothing else, so it costs the page nothing until then: no
 * childList records while the page builds itself, and no PerformanceObserver, whose callback task
 * ran after every `performance.mark` of the page (one 4 ms task inside the timed window of a
 * demo tab, in a Chromium trace of tests/bench/ladder-trace.ts).
 */
export const READY_PROBE = `(() => {
  const rec = { at: null, wall: null };
  globalThis.__benchReady = rec;
  const observer = new MutationObserver(() => {
    if (rec.at !== null || document.getElementById('state')?.dataset.state !== 'ready') return;
    observer.disconnect();
    rec.at = performance.now();
    rec.wall = Date.now();
    console.debug(${JSON.stringify(READY_SIGNAL)});
  });
  observer.observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
})();`;

/** Runs `go` (a navigation) and waits for the page's ready signal, running nothing in the page. */
export async function untilReady(page: Page, go: () => Promise<unknown>, timeoutMs = 30_000): Promise<void> {
  await Promise.all([
    page.waitForEvent('console', { predicate: (m) => m.text() === READY_SIGNAL, timeout: timeoutMs }),
    go(),
  ]);
}
