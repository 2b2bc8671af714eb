import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TimeoutError, type PingResult } from '../../../protocol/index.ts';
import { systemTimers } from '../../../worker/auth/io.ts';
import { Heartbeat, heartbeatIntervalMs } from '../../../worker/session/heartbeat.ts';

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

function beat(answers: (() => Promise<PingResult>)[]) {
  const timeouts: number[] = [];
  const onDead = vi.fn();
  const ping = vi.fn((timeoutMs: number) => {
    timeouts.push(timeoutMs);
    return (answers.shift() ?? (() => Promise.resolve({ pong: true as const, timestamp: 0 })))();
  });
  const hb = new Heartbeat({ timers: systemTimers, ping, onDead });
  return { hb, ping, onDead, timeouts };
}

const fail = () => Promise.reject(new TimeoutError('meta.ping: no answer'));

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
