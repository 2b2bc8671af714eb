// How a bench waits for a page it is timing: the page's init script prints READY_SIGNAL when it
// sees the moment being timed, and the bench waits for that console line. Playwright's
// waitForSelector/waitForFunction would first inject its selector engine into the page, about
// 10 ms of script on the page's main thread in the middle of the measurement (seen in a
// Chromium trace; it made a demo tab's way to `ready` look ~15 ms slower than it is).

import type { Page } from 'playwright-core';

export const READY_SIGNAL = 'aun-bench:ready';

/** Runs `go` (a navigation) and waits for the page's ready signal, running nothing in the page. */
export async function untilReady(page: Page, go: () => Promise<unknown>, timeoutMs = 30_000): Promise<void> {
  await Promise.all([
    page.waitForEvent('console', { predicate: (m) => m.text() === READY_SIGNAL, timeout: timeoutMs }),
    go(),
  ]);
}
