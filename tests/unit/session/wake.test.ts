import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemTimers } from '../../../worker/net/io.ts';
import { WAKE_SLACK_MS, WAKE_TICK_MS, WakeDetector, type Wake } from '../../../worker/session/wake.ts';

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_700_000_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

function detector() {
  const clock = { frozenMs: 0 };
  const wakes: Wake[] = [];
  const d = new WakeDetector({ timers: systemTimers, monotonic: () => performance.now() + clock.frozenMs, onWake: (w) => wakes.push(w) });
  return { d, wakes, clock };
}

describe('WakeDetector', () => {
  it('sees nothing while ticks come on time, for hours', async () => {
    const { d, wakes } = detector();
    d.start();
    await vi.advanceTimersByTimeAsync(6 * 3_600_000);
    expect(wakes).toEqual([]);
    expect(d.thresholdMs).toBe(2 * WAKE_TICK_MS + WAKE_SLACK_MS);
    d.stop();
  });

  it('sees a sleep in which the wall clock ran on and the monotonic one did not (macOS, Linux)', async () => {
    const { d, wakes } = detector();
    d.start();
    await vi.advanceTimersByTimeAsync(WAKE_TICK_MS);
    vi.setSystemTime(Date.now() + 600_000);
    await vi.advanceTimersByTimeAsync(WAKE_TICK_MS);
    expect(wakes).toEqual([{ gapMs: 610_000, at: Date.now() }]);
    await vi.advanceTimersByTimeAsync(10 * WAKE_TICK_MS);
    expect(wakes).toHaveLength(1);
    d.stop();
  });

  it('sees a freeze in which both clocks ran on and the timer fired late (a frozen origin, Windows sleep)', async () => {
    const { d, wakes, clock } = detector();
    d.start();
    clock.frozenMs += 120_000;
    vi.setSystemTime(Date.now() + 120_000);
    await vi.advanceTimersByTimeAsync(WAKE_TICK_MS);
    expect(wakes).toEqual([{ gapMs: 130_000, at: Date.now() }]);
    d.stop();
  });

  it('lets a tick that is merely late (throttled) pass: up to 2 × tick + 5 s between ticks', async () => {
    const { d, wakes, clock } = detector();
    d.start();
    const lateMs = WAKE_TICK_MS + WAKE_SLACK_MS;
    clock.frozenMs += lateMs;
    vi.setSystemTime(Date.now() + lateMs);
    await vi.advanceTimersByTimeAsync(WAKE_TICK_MS);
    expect(wakes).toEqual([]);
    clock.frozenMs += lateMs + 1;
    vi.setSystemTime(Date.now() + lateMs + 1);
    await vi.advanceTimersByTimeAsync(WAKE_TICK_MS);
    expect(wakes).toHaveLength(1);
    d.stop();
  });

  it('stop() stops ticking', async () => {
    const { d, wakes } = detector();
    d.start();
    d.stop();
    vi.setSystemTime(Date.now() + 600_000);
    await vi.advanceTimersByTimeAsync(10 * WAKE_TICK_MS);
    expect(wakes).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
