import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RefreshInput, RefreshResult, Tokens } from '../../../worker/auth/login.ts';
import { systemTimers } from '../../../worker/net/io.ts';
import { RECHECK_MS, REFRESH_RETRY_MS, TokenKeeper } from '../../../worker/session/token-keeper.ts';
import { MemoryTokenCache, isReusable, refreshDueAt, type TokenRecord } from '../../../worker/session/tokens.ts';

const S = 1000;
const AID = 'alice.aun.local';

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_700_000_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

function keeper(ttlS: number, refresh?: (input: RefreshInput) => Promise<RefreshResult>) {
  const cache = new MemoryTokenCache();
  let n = 0;
  const grant = (): Tokens => ({ accessToken: `at-${++n}`, refreshToken: `rt-${n}`, expiresIn: ttlS });
  const refreshFn = vi.fn(refresh ?? (async (): Promise<RefreshResult> => ({ ok: true, tokens: grant() })));
  const loginFn = vi.fn(async () => grant());
  const counters = { logins: 0, refreshes: 0 };
  const k = new TokenKeeper({ aid: AID, cache, timers: systemTimers, refresh: refreshFn, login: loginFn, counters, log: () => {} });
  return { k, cache, refreshFn, loginFn, counters };
}

describe('refresh timing', () => {
  it('refreshDueAt is min(1800 s, ttl/2) before expiry', () => {
    const at = (ttlS: number): TokenRecord => ({ accessToken: 'a', refreshToken: 'r', obtainedAt: 0, accessExpiresAt: ttlS * S });
    expect(refreshDueAt(at(600))).toBe(300 * S);
    expect(refreshDueAt(at(3600))).toBe(1800 * S);
    expect(refreshDueAt(at(86_400))).toBe((86_400 - 1800) * S);
    expect(isReusable(at(3600), 3600 * S - 30 * S)).toBe(false);
    expect(isReusable(at(3600), 3600 * S - 31 * S)).toBe(true);
  });

  it('refreshes a 10-minute token at half its life, exactly once', async () => {
    const { k, refreshFn } = keeper(600);
    await k.login();
    await k.schedule();
    await vi.advanceTimersByTimeAsync(300 * S - 1);
    expect(refreshFn).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(refreshFn).toHaveBeenCalledOnce();
    // The new token is due half its life after it arrived, not before.
    await vi.advanceTimersByTimeAsync(300 * S - 1);
    expect(refreshFn).toHaveBeenCalledOnce();
    await vi.advanceTimersByTimeAsync(1);
    expect(refreshFn).toHaveBeenCalledTimes(2);
  });

  it('refreshes a 1-hour token 1800 s before expiry and a 24-hour token 1800 s before expiry', async () => {
    for (const ttl of [3600, 86_400]) {
      const { k, refreshFn, counters, cache } = keeper(ttl);
      await k.login();
      await k.schedule();
      await vi.advanceTimersByTimeAsync((ttl - 1800) * S - 1);
      expect(refreshFn).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(1);
      expect(refreshFn).toHaveBeenCalledOnce();
      expect(refreshFn.mock.calls[0]![0]).toMatchObject({ aid: AID, refreshToken: 'rt-1', accessToken: 'at-1' });
      expect(counters).toEqual({ logins: 1, refreshes: 1 });
      expect((await cache.get(AID))?.accessToken).toBe('at-2');
      k.cancel();
    }
  });

  it('refreshes at once when the cached token is already past its refresh point', async () => {
    const { k, cache, refreshFn } = keeper(3600);
    const now = Date.now();
    await cache.put(AID, { accessToken: 'old', refreshToken: 'rt-old', obtainedAt: now - 3000 * S, accessExpiresAt: now + 600 * S });
    await k.schedule();
    await vi.advanceTimersByTimeAsync(0);
    expect(refreshFn).toHaveBeenCalledOnce();
  });

  it('falls back to a full login when the server wants one, and retries later on other failures', async () => {
    const answers: RefreshResult[] = [
      { ok: false, reloginRequired: false, retryable: true, error: 'busy' },
      { ok: false, reloginRequired: true, retryable: false, error: 'invalid_or_expired_refresh_token' },
    ];
    const { k, refreshFn, loginFn, cache } = keeper(600, async () => answers.shift()!);
    await k.login();
    await k.schedule();
    await vi.advanceTimersByTimeAsync(300 * S);
    expect(refreshFn).toHaveBeenCalledOnce();
    expect(loginFn).toHaveBeenCalledOnce();
    await vi.advanceTimersByTimeAsync(REFRESH_RETRY_MS);
    expect(refreshFn).toHaveBeenCalledTimes(2);
    expect(loginFn).toHaveBeenCalledTimes(2);
    expect((await cache.get(AID))?.accessToken).toBe('at-2');
  });

  it('runs one refresh at a time: refresh tokens rotate, a second would burn the chain', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { k, refreshFn } = keeper(600, async () => {
      await gate;
      return { ok: true, tokens: { accessToken: 'x', refreshToken: 'y', expiresIn: 600 } };
    });
    await k.login();
    const both = Promise.all([k.refresh(), k.refresh()]);
    release();
    const [a, b] = await both;
    expect(a).toBe(b);
    expect(refreshFn).toHaveBeenCalledOnce();
  });

  it('cancel() stops the timer', async () => {
    const { k, refreshFn } = keeper(600);
    await k.login();
    await k.schedule();
    k.cancel();
    await vi.advanceTimersByTimeAsync(3600 * S);
    expect(refreshFn).not.toHaveBeenCalled();
  });
});

describe('refresh timing across a sleep (the wall clock jumps, timers do not)', () => {
  it('schedule(), as the session calls it on a wake, refreshes at once a token that expired in the sleep', async () => {
    const { k, refreshFn } = keeper(3600);
    await k.login();
    await k.schedule();
    vi.setSystemTime(Date.now() + 2 * 3600 * S);
    await vi.advanceTimersByTimeAsync(0);
    expect(refreshFn).not.toHaveBeenCalled();
    await k.schedule();
    await vi.advanceTimersByTimeAsync(0);
    expect(refreshFn).toHaveBeenCalledOnce();
  });

  it('without a wake, the timer still looks at the wall clock every RECHECK_MS', async () => {
    const { k, refreshFn } = keeper(86_400);
    await k.login();
    await k.schedule();
    vi.setSystemTime(Date.now() + 86_400 * S);
    await vi.advanceTimersByTimeAsync(RECHECK_MS - 1);
    expect(refreshFn).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(refreshFn).toHaveBeenCalledOnce();
  });

  it('a timer that fires before the refresh point by the wall clock waits on instead of refreshing', async () => {
    const { k, refreshFn } = keeper(3600);
    await k.login();
    await k.schedule();
    // The clock is set back an hour: the refresh point is now 2.5 h of timer time away.
    vi.setSystemTime(Date.now() - 3600 * S);
    await vi.advanceTimersByTimeAsync(5400 * S - 1);
    expect(refreshFn).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(refreshFn).toHaveBeenCalledOnce();
  });
});
