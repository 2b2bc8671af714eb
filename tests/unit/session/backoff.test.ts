import { describe, expect, it } from 'vitest';
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, backoffDelay } from '../../../worker/session/backoff.ts';

describe('backoffDelay (full jitter)', () => {
  it('uses random(0, min(max, base·2^attempt))', () => {
    const top = () => 1 - Number.EPSILON;
    expect(backoffDelay(0, { random: () => 0 })).toBe(0);
    expect(backoffDelay(0, { random: top })).toBe(BACKOFF_BASE_MS - 1);
    expect(backoffDelay(3, { random: () => 0.5 })).toBe(0.5 * BACKOFF_BASE_MS * 8);
    expect(backoffDelay(1, { random: () => 0.25, baseMs: 100, maxMs: 1000 })).toBe(50);
  });

  it('keeps the first retry within 500 ms', () => {
    for (let i = 0; i < 1000; i++) {
      const d = backoffDelay(0);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(500);
    }
  });

  it('caps at 30 s however many attempts failed', () => {
    const top = () => 1 - Number.EPSILON;
    expect(backoffDelay(6, { random: top })).toBe(BACKOFF_MAX_MS - 1);
    expect(backoffDelay(60, { random: top })).toBe(BACKOFF_MAX_MS - 1);
    expect(backoffDelay(5000, { random: top })).toBe(BACKOFF_MAX_MS - 1);
    for (let attempt = 0; attempt < 40; attempt++) expect(backoffDelay(attempt)).toBeLessThan(BACKOFF_MAX_MS);
  });

  it('spreads delays over the whole window, not near the base', () => {
    const delays = Array.from({ length: 2000 }, () => backoffDelay(10));
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    expect(mean).toBeGreaterThan(BACKOFF_MAX_MS * 0.4);
    expect(mean).toBeLessThan(BACKOFF_MAX_MS * 0.6);
    expect(Math.min(...delays)).toBeLessThan(BACKOFF_MAX_MS * 0.1);
  });
});
