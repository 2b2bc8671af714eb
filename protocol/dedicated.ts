// The messages between a tab and the owner it runs in a dedicated worker (the leader and single
// rungs: client-stub/fallback.ts and worker/main.ts), before the attach that protocol/tab.ts
// describes: the port the attach then goes on, the drain of a leader that hands over; and the
// leader rung's bus, on which followers reach the leader's owner (worker/hub/bus-bridge.ts).

import type { AttachMessage, BuildInfo, Rung } from './tab.ts';

/** First message a tab posts to a dedicated-worker owner (leader and single rungs), with a port. */
export const CONNECT = 'aun.connect';
/** The leader tab asks its dedicated-worker owner to drain (a newer build takes over)… */
export const DRAIN = 'aun.drain';
/** …and the owner answers once it has. */
export const DRAINED = 'aun.drained';
/** The leader's owner passes a follower's `resign` on to its tab, which decides and drains it. */
export const RESIGN = 'aun.resign';

/** What the leader's owner posts to its tab for a follower's `resign`. */
export interface ResignMessage {
  type: typeof RESIGN;
  from: string;
  build: BuildInfo;
}

export interface ConnectMessage {
  type: typeof CONNECT;
  rung: Rung;
  /** Leader rung: the bus base; the owner serves the followers on it itself. */
  bus?: string;
}

/** A follower's attach as it crosses the BroadcastChannel: the same fields, without the ports. */
export type AttachHead = Omit<AttachMessage, 'rpc' | 'events'>;

/**
 * What crosses the leader rung's bus, the BroadcastChannels `aun-bus:<base>:<to>`: `leader`
 * carries attaches, calls and resigns to the leader's owner; `<tabId>` carries answers and events
 * to one follower tab (`frame`) and `resigned` to the tab that takes over; `all` announces that
 * an owner listens on `leader`.
 */
export type BusMessage =
  | { t: 'attach'; from: string; attempt: string; head: AttachHead }
  | { t: 'rpc'; from: string; attempt: string; data: unknown }
  | { t: 'frame'; attempt: string; ch: 'rpc' | 'events'; data: unknown }
  | { t: 'leader' }
  /** A follower of a newer build asks the leader to hand over to it. */
  | { t: 'resign'; from: string; build: BuildInfo }
  /** The leader drained its owner for `to`, which may now take the lock from it. */
  | { t: 'resigned'; to: string };

/** The bus channel's name (`to`: a tab id, 'leader' or 'all'). */
export const busChannel = (base: string, to: string): string => `aun-bus:${base}:${to}`;
