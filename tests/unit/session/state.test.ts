import { describe, expect, it, vi } from 'vitest';
import { IllegalTransitionError, StateMachine, TRANSITIONS, type SessionState, type StateDetailMap } from '../../../worker/session/state.ts';

const STATES = Object.keys(TRANSITIONS) as SessionState[];

const DETAIL: StateDetailMap = {
  idle: {},
  connecting: { attempt: 0 },
  authenticating: { attempt: 0 },
  ready: { connectionId: 'c1', strategy: 'cached', heartbeatMs: 30_000 },
  backoff: { attempt: 1, nextRetryAt: 1234, error: 'lost' },
  evicted: { code: 4015, reason: 'long_connection_quota_exceeded' },
  closed: { code: 1000, reason: 'closed by client' },
};

/** A machine sitting in `state`, reached through legal moves only. */
function machineIn(state: SessionState): StateMachine {
  const path: Record<SessionState, SessionState[]> = {
    idle: [],
    connecting: ['connecting'],
    authenticating: ['connecting', 'authenticating'],
    ready: ['connecting', 'authenticating', 'ready'],
    backoff: ['connecting', 'backoff'],
    evicted: ['connecting', 'authenticating', 'ready', 'evicted'],
    closed: ['closed'],
  };
  const m = new StateMachine();
  for (const s of path[state]) m.transition(s, DETAIL[s] as never);
  return m;
}

describe('session state machine', () => {
  it('starts idle', () => {
    expect(new StateMachine().state).toBe('idle');
  });

  it('allows exactly the moves of the table and refuses every other one', () => {
    for (const from of STATES) {
      for (const to of STATES) {
        const m = machineIn(from);
        const legal = TRANSITIONS[from].includes(to);
        if (legal) {
          m.transition(to, DETAIL[to] as never);
          expect(m.state).toBe(to);
        } else {
          expect(() => m.transition(to, DETAIL[to] as never), `${from} → ${to}`).toThrow(IllegalTransitionError);
          expect(m.state).toBe(from);
        }
      }
    }
  });

  it('never leaves evicted or closed except through connecting (an explicit start)', () => {
    expect(TRANSITIONS.evicted.filter((s) => s !== 'closed')).toEqual(['connecting']);
    expect(TRANSITIONS.closed).toEqual(['connecting']);
    expect(TRANSITIONS.ready).not.toContain('connecting');
  });

  it('tells listeners the state, the previous state and the detail', () => {
    const m = new StateMachine();
    const seen: unknown[] = [];
    const off = m.onChange((c) => seen.push(c));
    m.transition('connecting', { attempt: 0 });
    m.transition('backoff', { attempt: 1, nextRetryAt: 99, error: 'x' });
    off();
    m.transition('closed', { code: 1000, reason: 'bye' });
    expect(seen).toEqual([
      { state: 'connecting', previous: 'idle', detail: { attempt: 0 } },
      { state: 'backoff', previous: 'connecting', detail: { attempt: 1, nextRetryAt: 99, error: 'x' } },
    ]);
    expect(m.snapshot).toEqual({ state: 'closed', previous: 'backoff', detail: { code: 1000, reason: 'bye' } });
  });

  it('keeps going when a listener throws', () => {
    const onError = vi.fn();
    const m = new StateMachine(onError);
    const after = vi.fn();
    m.onChange(() => {
      throw new Error('boom');
    });
    m.onChange(after);
    m.transition('connecting', { attempt: 0 });
    expect(onError).toHaveBeenCalledOnce();
    expect(after).toHaveBeenCalledOnce();
  });
});
