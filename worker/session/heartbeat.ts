// `meta.ping` on the live connection (spec §3.7): the gateway's interval from hello-ok or the
// last ping result, clamped; two failures in a row mean the connection is dead even if the
// socket never said so (half-open TCP, a frozen gateway).

import type { PingResult } from '../../protocol/index.ts';
import type { Timers } from '../auth/io.ts';

export const HEARTBEAT_DEFAULT_S = 30;
export const HEARTBEAT_MIN_MS = 10_000;
export const HEARTBEAT_MAX_MS = 600_000;
/** A ping answer takes one round trip; 10 s is already a very sick connection. */
export const PING_TIMEOUT_MAX_MS = 10_000;
export const MAX_PING_FAILURES = 2;

/** The interval to use for a server-sent `heartbeat_interval` (s); null = disabled (≤ 0). */
export function heartbeatIntervalMs(seconds: unknown, floorMs = HEARTBEAT_MIN_MS): number | null {
  const s = typeof seconds === 'number' && Number.isFinite(seconds) ? seconds : HEARTBEAT_DEFAULT_S;
  if (s <= 0) return null;
  return Math.min(HEARTBEAT_MAX_MS, Math.max(floorMs, s * 1000));
}

export interface HeartbeatDeps {
  timers: Timers;
  ping(timeoutMs: number): Promise<PingResult>;
  /** Called once, after MAX_PING_FAILURES consecutive failures; the heartbeat has stopped. */
  onDead(error: unknown): void;
  /** Lower bound for the interval; tests lower it. */
  floorMs?: number;
}

export class Heartbeat {
  private timer: unknown = undefined;
  private generation = 0;
  private running = false;
  private inFlight = false;
  private failures = 0;
  private interval: number | null = null;

  constructor(private readonly deps: HeartbeatDeps) {}

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
    this.deps.timers.clearTimeout(this.timer);
  }

  /** Pings now unless a ping is in flight: after `online`, or when an app call timed out. */
  probe(): void {
    if (this.running && !this.inFlight) this.schedule(0);
  }

  private schedule(ms: number): void {
    this.deps.timers.clearTimeout(this.timer);
    this.timer = this.deps.timers.setTimeout(() => void this.beat(), ms);
  }

  private async beat(): Promise<void> {
    const generation = this.generation;
    const startedAt = this.deps.timers.now();
    const cadence = this.interval ?? PING_TIMEOUT_MAX_MS;
    this.inFlight = true;
    try {
      const result = await this.deps.ping(Math.min(cadence, PING_TIMEOUT_MAX_MS));
      if (generation !== this.generation) return;
      this.failures = 0;
      if (result.heartbeat_interval !== undefined) this.interval = heartbeatIntervalMs(result.heartbeat_interval, this.deps.floorMs);
    } catch (err) {
      if (generation !== this.generation) return;
      if (++this.failures >= MAX_PING_FAILURES) {
        this.stop();
        this.deps.onDead(err);
        return;
      }
      // Confirm at once instead of a whole interval later: a dead link is found in two timeouts.
      this.inFlight = false;
      this.schedule(0);
      return;
    }
    this.inFlight = false;
    if (this.interval !== null) this.schedule(Math.max(0, this.interval - (this.deps.timers.now() - startedAt)));
  }
}
