import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TimeoutError } from '../../../protocol/errors.ts';
import { type PingResult } from '../../../protocol/methods.ts';
import { systemTimers } from '../../../worker/net/io.ts';
import { Heartbeat, heartbeatIntervalMs, type HeartbeatDeps } from '../../../worker/session/heartbeat.ts';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('heartbeatIntervalMs', () => {
  it('clamps the server interval to [10 s, 600 s], defaults to 30 s, and ≤ 0 disables', () => {
    expect(heartbeatIntervalMs(30)).toBe(30_000);
    expect(heartbeatIntervalMs(1)).toBe(10_000);
    expect(heartbeatIntervalMs(3600)).toBe(600_000);
    expect(heartbeatIntervalMs(undefined)).toBe(30_000);
    expect(heartbeatIntervalMs('15')).toBe(30_000);
    expect(heartbeatIntervalMs(0)).toBeNull();
    expect(heartbeatIntervalMs(-5)).toBeNull();
    expect(heartbeatIntervalMs(1, 200)).toBe(1000);
  });
});

function beat(answers: (() => Promise<PingResult>)[], over: Partial<HeartbeatDeps> = {}) {
  const timeouts: number[] = [];
  const onDead = vi.fn();
  const ping = vi.fn((timeoutMs: number) => {
    timeouts.push(timeoutMs);
    return (answers.shift() ?? (() => Promise.resolve({ pong: true as const, timestamp: 0 })))();
  });
  const hb = new Heartbeat({ timers: systemTimers, ping, onDead, ...over });
  return { hb, ping, onDead, timeouts };
}

const fail = () => Promise.reject(new TimeoutError('meta.ping: no answer'));

/** A ping that times out on time, like the transport's: after its deadline, by the fake clock. */
const timeout = (ms: number) => () => new Promise<PingResult>((_, reject) => setTimeout(() => reject(new TimeoutError('meta.ping: no answer')), ms));

describe('Heartbeat', () => {
  it('pings every interval with a deadline of min(interval, 10 s)', async () => {
    const { hb, ping, timeouts } = beat([]);
    hb.start(30);
    await vi.advanceTimersByTimeAsync(29_999);
    expect(ping).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(ping).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ping).toHaveBeenCalledTimes(3);
    expect(timeouts).toEqual([10_000, 10_000, 10_000]);
    hb.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(ping).toHaveBeenCalledTimes(3);
  });

  it('treats two consecutive failures as dead, confirming the first at once', async () => {
    const { hb, ping, onDead } = beat([fail, fail]);
    hb.start(30);
    await vi.advanceTimersByTimeAsync(30_001);
    expect(ping).toHaveBeenCalledTimes(2);
    expect(onDead).toHaveBeenCalledOnce();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(ping).toHaveBeenCalledTimes(2);
  });

  it('a success in between resets the count', async () => {
    const ok = () => Promise.resolve({ pong: true as const, timestamp: 0 });
    const { hb, onDead } = beat([fail, ok, fail, ok]);
    hb.start(30);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(onDead).not.toHaveBeenCalled();
  });

  it('follows a heartbeat_interval from a ping result', async () => {
    const { hb, ping } = beat([() => Promise.resolve({ pong: true, timestamp: 0, heartbeat_interval: 60 })]);
    hb.start(30);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(hb.intervalMs).toBe(60_000);
    await vi.advanceTimersByTimeAsync(59_999);
    expect(ping).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(ping).toHaveBeenCalledTimes(2);
  });

  it('probe() pings now; a disabled heartbeat never pings by itself', async () => {
    const { hb, ping } = beat([]);
    hb.start(0);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(ping).not.toHaveBeenCalled();
    hb.probe();
    await vi.advanceTimersByTimeAsync(0);
    expect(ping).toHaveBeenCalledOnce();
  });
});

describe('Heartbeat after a freeze, and check-ups', () => {
  it('verify() pings now with its own deadline; one failure is dead, reported as a check-up', async () => {
    const { hb, onDead, timeouts } = beat([fail]);
    hb.start(30);
    hb.verify(5000);
    await vi.advanceTimersByTimeAsync(0);
    expect(timeouts).toEqual([5000]);
    expect(onDead).toHaveBeenCalledExactlyOnceWith(expect.any(TimeoutError), true);
  });

  it('verify() answered: the regular pings carry on one interval later', async () => {
    const { hb, ping, onDead } = beat([]);
    hb.start(30);
    await vi.advanceTimersByTimeAsync(10_000);
    hb.verify(5000);
    await vi.advanceTimersByTimeAsync(0);
    expect(ping).toHaveBeenCalledOnce();
    await vi.advanceTimersByTimeAsync(29_999);
    expect(ping).toHaveBeenCalledOnce();
    await vi.advanceTimersByTimeAsync(1);
    expect(ping).toHaveBeenCalledTimes(2);
    expect(onDead).not.toHaveBeenCalled();
  });

  it('verify() supersedes a ping in flight: that one failing later counts for nothing', async () => {
    let failOld!: () => void;
    const old = () => new Promise<PingResult>((_, reject) => (failOld = () => reject(new TimeoutError('late'))));
    const { hb, ping, onDead } = beat([old]);
    hb.start(30);
    await vi.advanceTimersByTimeAsync(30_000);
    hb.verify(5000);
    await vi.advanceTimersByTimeAsync(0);
    failOld();
    await vi.advanceTimersByTimeAsync(0);
    expect(ping).toHaveBeenCalledTimes(2);
    expect(onDead).not.toHaveBeenCalled();
  });

  it('forgives one deadline that fired long after it was due, and only one in a row', async () => {
    const clock = { frozenMs: 0 };
    // The first ping's deadline comes due while the worker is frozen for 5 min.
    const frozenTimeout = () => {
      clock.frozenMs += 300_000;
      return timeout(10_000)();
    };
    const { hb, ping, onDead } = beat([frozenTimeout, frozenTimeout, timeout(10_000), timeout(10_000)], {
      monotonic: () => performance.now() + clock.frozenMs,
    });
    hb.start(30);
    await vi.advanceTimersByTimeAsync(30_000 + 10_000 + 1);
    // Forgiven: no failure counted, a fresh ping at once.
    expect(ping).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(10_000 + 1);
    // Late again: counted this time (throttled timers must not hide a dead link); confirmed at once.
    expect(ping).toHaveBeenCalledTimes(3);
    expect(onDead).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(onDead).toHaveBeenCalledExactlyOnceWith(expect.any(TimeoutError), false);
    expect(ping).toHaveBeenCalledTimes(3);
  });

  it('a late deadline of a check-up is forgiven too, with a fresh check-up of the same deadline', async () => {
    const clock = { frozenMs: 0 };
    const frozenTimeout = () => {
      clock.frozenMs += 300_000;
      return timeout(5000)();
    };
    const { hb, onDead, timeouts } = beat([frozenTimeout, fail], { monotonic: () => performance.now() + clock.frozenMs });
    hb.start(30);
    hb.verify(5000);
    await vi.advanceTimersByTimeAsync(5000 + 1);
    expect(timeouts).toEqual([5000, 5000]);
    expect(onDead).toHaveBeenCalledExactlyOnceWith(expect.any(TimeoutError), true);
  });

  it('a timeout after frames arrived is no failure: the link carries traffic', async () => {
    let received = -Infinity;
    const late = () => {
      const p = timeout(10_000)();
      setTimeout(() => (received = performance.now()), 5000);
      return p;
    };
    const { hb, ping, onDead } = beat([late, late, late], { lastReceivedAt: () => received });
    hb.start(30);
    await vi.advanceTimersByTimeAsync(3 * 30_000 + 10_000);
    expect(ping).toHaveBeenCalledTimes(3);
    expect(onDead).not.toHaveBeenCalled();
    // Silence from then on: two on-time timeouts kill it.
    const { hb: hb2, onDead: dead2 } = beat([timeout(10_000), timeout(10_000)], { lastReceivedAt: () => received });
    hb2.start(30);
    await vi.advanceTimersByTimeAsync(30_000 + 20_000 + 1);
    expect(dead2).toHaveBeenCalledOnce();
    hb.stop();
  });
});
