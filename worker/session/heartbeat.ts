// `meta.ping` on the live connection (spec §3.7): the gateway's interval from hello-ok or the
// last ping result, clamped; two failures in a row mean the connection is dead even if the
// socket never said so (half-open TCP, a frozen gateway). Deadlines are judged on the monotonic
// clock against the last frame received, so a worker that was frozen (its timers firing late,
// all at once) does not mistake its own pause for the gateway's silence.

import { TimeoutError } from '../../protocol/errors.ts';
import { type PingResult } from '../../protocol/methods.ts';
import type { Timers } from '../net/io.ts';
import { systemMonotonic, type Monotonic } from './wake.ts';

export const HEARTBEAT_DEFAULT_S = 30;
export const HEARTBEAT_MIN_MS = 10_000;
export const HEARTBEAT_MAX_MS = 600_000;
/** A ping answer takes one round trip; 10 s is already a very sick connection. */
export const PING_TIMEOUT_MAX_MS = 10_000;
export const MAX_PING_FAILURES = 2;
/** Deadline of a check-up ping (after a wake, on `offline`/`online`), where one failure is enough. */
export const PROBE_TIMEOUT_MS = 5_000;
/** A ping deadline that fired this much later than set means the worker itself was not running. */
export const LATE_TIMER_SLACK_MS = 5_000;

/** The interval to use for a server-sent `heartbeat_interval` (s); null = disabled (≤ 0). */
export function heartbeatIntervalMs(seconds: unknown, floorMs = HEARTBEAT_MIN_MS): number | null {
  const s = typeof seconds === 'number' && Number.isFinite(seconds) ? seconds : HEARTBEAT_DEFAULT_S;
  if (s <= 0) return null;
  return Math.min(HEARTBEAT_MAX_MS, Math.max(floorMs, s * 1000));
}

export interface HeartbeatDeps {
  timers: Timers;
  ping(timeoutMs: number): Promise<PingResult>;
  /**
   * Called once when the connection is judged dead; the heartbeat has stopped. `checkUp`: a
   * check-up ping (verify()) failed, rather than MAX_PING_FAILURES regular ones.
   */
  onDead(error: unknown, checkUp: boolean): void;
  /** Monotonic time of the last frame received on the connection (any frame proves it alive). */
  lastReceivedAt?(): number;
  monotonic?: Monotonic;
  /** Lower bound for the interval; tests lower it. */
  floorMs?: number;
}

interface Beat {
  timeoutMs: number | null;
  /** One failure is enough. */
  checkUp: boolean;
}

const REGULAR: Beat = { timeoutMs: null, checkUp: false };

export class Heartbeat {
  private timer: unknown = undefined;
  private generation = 0;
  private running = false;
  private inFlight = false;
  private failures = 0;
  /** The previous ping's late deadline was forgiven; the next one is not, so throttling cannot hide a dead link. */
  private forgaveLate = false;
  private interval: number | null = null;
  private readonly monotonic: Monotonic;

  constructor(private readonly deps: HeartbeatDeps) {
    this.monotonic = deps.monotonic ?? systemMonotonic;
  }

  get intervalMs(): number | null {
    return this.interval;
  }

  /** Starts (or restarts) with a server-sent interval in seconds. */
  start(serverIntervalS: unknown): void {
    this.stop();
    this.running = true;
    this.interval = heartbeatIntervalMs(serverIntervalS, this.deps.floorMs);
    if (this.interval !== null) this.schedule(this.interval);
  }

  stop(): void {
    this.generation++;
    this.running = false;
    this.inFlight = false;
    this.failures = 0;
    this.forgaveLate = false;
    this.deps.timers.clearTimeout(this.timer);
  }

  /** Pings now unless a ping is in flight: when an app call timed out. */
  probe(): void {
    if (this.running && !this.inFlight) this.schedule(0);
  }

  /**
   * Pings now with its own deadline, superseding a ping in flight (whose timer may be stale), and
   * declares the connection dead on one failure: after a wake, or when the network changed.
   */
  verify(timeoutMs = PROBE_TIMEOUT_MS): void {
    if (!this.running) return;
    this.generation++;
    // Counts as in flight from now on, so a probe() cannot replace it with a lenient ping.
    this.inFlight = true;
    this.forgaveLate = false;
    this.schedule(0, { timeoutMs, checkUp: true });
  }

  private schedule(ms: number, beat: Beat = REGULAR): void {
    this.deps.timers.clearTimeout(this.timer);
    this.timer = this.deps.timers.setTimeout(() => void this.beat(beat), ms);
  }

  private async beat({ timeoutMs: fixed, checkUp }: Beat): Promise<void> {
    const generation = this.generation;
    const sentAt = this.monotonic();
    const timeoutMs = fixed ?? Math.min(this.interval ?? PING_TIMEOUT_MAX_MS, PING_TIMEOUT_MAX_MS);
    this.inFlight = true;
    try {
      const result = await this.deps.ping(timeoutMs);
      if (generation !== this.generation) return;
      if (result.heartbeat_interval !== undefined) this.interval = heartbeatIntervalMs(result.heartbeat_interval, this.deps.floorMs);
    } catch (err) {
      if (generation !== this.generation) return;
      // Frames arrived after the ping went out: the link carries traffic, whatever the ping did.
      const alive = err instanceof TimeoutError && (this.deps.lastReceivedAt?.() ?? -Infinity) > sentAt;
      if (!alive) return this.failed(err, sentAt, timeoutMs, checkUp);
    }
    this.inFlight = false;
    this.failures = 0;
    this.forgaveLate = false;
    this.next(sentAt);
  }

  private failed(err: unknown, sentAt: number, timeoutMs: number, checkUp: boolean): void {
    // The deadline fired long after it was due: we were frozen, not the gateway. Ping again at
    // once with a fresh deadline and the same strictness.
    if (err instanceof TimeoutError && this.monotonic() - sentAt > timeoutMs + LATE_TIMER_SLACK_MS && !this.forgaveLate) {
      this.forgaveLate = true;
      return this.schedule(0, { timeoutMs, checkUp });
    }
    this.inFlight = false;
    this.forgaveLate = false;
    if (checkUp || ++this.failures >= MAX_PING_FAILURES) {
      this.stop();
      this.deps.onDead(err, checkUp);
      return;
    }
    // Confirm at once instead of a whole interval later: a dead link is found in two timeouts.
    this.schedule(0);
  }

  /** The next regular ping, one interval after the last one went out. */
  private next(sentAt: number): void {
    if (this.interval !== null) this.schedule(Math.max(0, this.interval - (this.monotonic() - sentAt)));
  }
}
