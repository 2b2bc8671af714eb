// Reconnect delays: capped exponential backoff with full jitter, delay = random(0, min(max,
// base·2^attempt)). Full jitter spreads a crowd of clients that lost the same gateway over the
// whole window instead of bunching them at `base`, and the first retry is fast (≤ base). The
// reference sleeps base + random(0…64 s), up to a minute even for a blip.

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 30_000;

export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  /** Uniform in [0, 1); injectable for tests. */
  random?: () => number;
}

/** Delay before retry number `attempt` (0 = the first retry after a loss), in ms. */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const base = opts.baseMs ?? BACKOFF_BASE_MS;
  const max = opts.maxMs ?? BACKOFF_MAX_MS;
  const random = opts.random ?? Math.random;
  // 2^attempt overflows to Infinity long after it passed the cap; min() keeps it finite.
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}
