// Is the owner alive? A well-behaved tab asks it for a gateway ping; the owner's incarnation tells
// a crash (a new owner started) from a hang (no answer within the bound).

import type { Page } from 'playwright-core';

const PING_TIMEOUT_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type Liveness = 'ok' | 'hang' | 'crash';

/** A well-behaved tab asks its owner for a gateway ping: answered, never answered, or the owner died (a new incarnation). */
export async function liveness(page: Page, incarnation: string): Promise<{ state: Liveness; detail: string }> {
  const answer = page.evaluate(async (timeoutMs) => {
    const aun = (globalThis as unknown as { aun: { call(m: string, p: object, o: object): Promise<unknown>; incarnation: string | null } }).aun;
    try {
      await aun.call('meta.ping', {}, { timeoutMs });
      return { ok: true, incarnation: aun.incarnation, error: '' };
    } catch (e) {
      return { ok: false, incarnation: aun.incarnation, error: `${(e as Error).name}: ${(e as Error).message}` };
    }
  }, PING_TIMEOUT_MS - 2_000).catch((e: Error) => ({ ok: false, incarnation: null, error: `page: ${e.message}` }));
  const r = await Promise.race([answer, sleep(PING_TIMEOUT_MS).then(() => null)]);
  if (r === null) return { state: 'hang', detail: `meta.ping unanswered after ${PING_TIMEOUT_MS} ms` };
  if (r.incarnation !== incarnation) return { state: 'crash', detail: `the owner changed incarnation (${incarnation} -> ${r.incarnation}): ${r.error}` };
  if (!r.ok) return { state: r.error.startsWith('ConnectionLost') ? 'crash' : 'hang', detail: r.error };
  return { state: 'ok', detail: '' };
}

export const incarnationOf = (page: Page): Promise<string> =>
  page.evaluate(() => (globalThis as unknown as { aun: { incarnation: string | null } }).aun.incarnation ?? '');

