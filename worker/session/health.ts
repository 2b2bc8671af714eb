// `GET /health` before each reconnect attempt (spec §2.2): anything but a 200 within the timeout
// counts as a failed attempt, so a restarting or frozen gateway is not hammered with sockets.

import { ConnectionLostError } from '../../protocol/errors.ts';
import type { FetchFn, Timers } from '../net/io.ts';

export const HEALTH_TIMEOUT_MS = 5_000;

export async function checkHealth(httpBase: string, fetchFn: FetchFn, timers: Timers, timeoutMs = HEALTH_TIMEOUT_MS): Promise<void> {
  const controller = new AbortController();
  const timer = timers.setTimeout(() => controller.abort(), timeoutMs);
  let status: number;
  try {
    status = (await fetchFn(`${httpBase}/health`, { signal: controller.signal })).status;
  } catch (err) {
    throw new ConnectionLostError(`GET ${httpBase}/health failed: ${(err as Error).message}`, undefined, undefined, true);
  } finally {
    timers.clearTimeout(timer);
  }
  if (status !== 200) throw new ConnectionLostError(`GET ${httpBase}/health answered HTTP ${status}`, undefined, undefined, true);
}
