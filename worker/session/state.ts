// The per-AID connection state machine. Every change goes through `transition`, which refuses
// moves the table does not list, so a race between timers and socket events shows up as an error
// instead of a silently impossible state.

import type { SessionStateName } from '../../protocol/tab.ts';

export type SessionState = SessionStateName;

/** What listeners learn with each state. */
export interface StateDetailMap {
  idle: Record<string, never>;
  /** Opening the socket (after a /health probe on retries). `attempt`: 0 on start, n on the n-th retry. */
  connecting: { attempt: number };
  /** Challenge received; choosing a token and sending auth.connect. */
  authenticating: { attempt: number };
  ready: { connectionId: string; strategy: 'cached' | 'refreshed' | 'login'; heartbeatMs: number | null };
  /** `nextRetryAt` is null while waiting for the network to come back (setOnline(false)). */
  backoff: { attempt: number; nextRetryAt: number | null; error: string };
  /** Kicked by the gateway (4015 newer connection, 4009 server kick); only start() leaves it. */
  evicted: { code: number; reason: string };
  /** Closed by us, or by a failure that retrying cannot fix. */
  closed: { code: number; reason: string };
}

export type StateChange = {
  [S in SessionState]: { state: S; previous: SessionState; detail: StateDetailMap[S] };
}[SessionState];

/** From → allowed targets. `backoff → backoff` re-schedules (e.g. offline, then a failed probe). */
export const TRANSITIONS: { readonly [S in SessionState]: readonly SessionState[] } = {
  idle: ['connecting', 'closed'],
  connecting: ['authenticating', 'backoff', 'evicted', 'closed'],
  authenticating: ['ready', 'backoff', 'evicted', 'closed'],
  ready: ['backoff', 'evicted', 'closed'],
  backoff: ['backoff', 'connecting', 'closed'],
  evicted: ['connecting', 'closed'],
  closed: ['connecting'],
};

export class IllegalTransitionError extends Error {
  override name = 'IllegalTransitionError';
  constructor(readonly from: SessionState, readonly to: SessionState) {
    super(`illegal session state transition ${from} → ${to}`);
  }
}

export class StateMachine {
  private current: StateChange = { state: 'idle', previous: 'idle', detail: {} };
  private readonly listeners = new Set<(change: StateChange) => void>();

  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  get state(): SessionState {
    return this.current.state;
  }

  get snapshot(): StateChange {
    return this.current;
  }

  can(to: SessionState): boolean {
    return TRANSITIONS[this.current.state].includes(to);
  }

  transition<S extends SessionState>(to: S, detail: StateDetailMap[S]): void {
    const previous = this.current.state;
    if (!this.can(to)) throw new IllegalTransitionError(previous, to);
    this.current = { state: to, previous, detail } as StateChange;
    for (const listener of this.listeners) {
      try {
        listener(this.current);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  onChange(listener: (change: StateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
