// Noticing that the worker did not run for a while: the machine slept, the browser froze the
// origin (iOS/Safari, a discarded tab's worker), or the wall clock jumped. Timers do not fire
// during such a gap and the socket may have died without a close, so afterwards nothing the
// session had armed can be trusted. A chained timer compares the time between its ticks on both
// clocks: the wall clock (Date.now, what token expiry is measured in) and the monotonic one
// (performance.now, which some systems pause during sleep and others do not).

import type { Timers } from '../net/io.ts';

/** Monotonic milliseconds; injectable for tests. */
export type Monotonic = () => number;

export const systemMonotonic: Monotonic = () => globalThis.performance?.now() ?? Date.now();

export const WAKE_TICK_MS = 10_000;
/**
 * Slack on top of one tick before a gap counts: background timers may be clamped or delayed by
 * a few seconds, and a false wake costs only one ping, but a wake every minute would be noise.
 */
export const WAKE_SLACK_MS = 5_000;

export interface Wake {
  /** The longer of the two clocks' time between the last two ticks, ms. */
  gapMs: number;
  /** Wall-clock time of the tick that noticed it. */
  at: number;
}

export interface WakeDetectorDeps {
  timers: Timers;
  monotonic?: Monotonic;
  tickMs?: number;
  onWake(wake: Wake): void;
}

export class WakeDetector {
  private timer: unknown = undefined;
  private running = false;
  private lastWall = 0;
  private lastMono = 0;
  private readonly tickMs: number;
  private readonly monotonic: Monotonic;

  constructor(private readonly deps: WakeDetectorDeps) {
    this.tickMs = deps.tickMs ?? WAKE_TICK_MS;
    this.monotonic = deps.monotonic ?? systemMonotonic;
  }

  /** A gap between ticks above this (2 × tick + 5 s by default) is a wake. */
  get thresholdMs(): number {
    return 2 * this.tickMs + WAKE_SLACK_MS;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.arm();
  }

  stop(): void {
    this.running = false;
    this.deps.timers.clearTimeout(this.timer);
  }

  private arm(): void {
    this.lastWall = this.deps.timers.now();
    this.lastMono = this.monotonic();
    this.timer = this.deps.timers.setTimeout(() => this.tick(), this.tickMs);
  }

  private tick(): void {
    if (!this.running) return;
    const wall = this.deps.timers.now();
    const gapMs = Math.max(wall - this.lastWall, this.monotonic() - this.lastMono);
    this.arm();
    if (gapMs > this.thresholdMs) this.deps.onWake({ gapMs, at: wall });
  }
}
