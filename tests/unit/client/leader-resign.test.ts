// The leader rung's handover to a newer build: the leader drains its owner for the tab that asked
// and that tab takes the leader lock. A resign whose sender never takes over (a forged message on
// the bus, or a new-build tab closed during the drain) must not leave the origin with no owner:
// after TAKEOVER_MS the old leader lets the lock go and the tabs elect a leader again.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeaderTransport, TAKEOVER_MS } from '../../../client-stub/fallback.ts';
import { DRAIN, DRAINED, RESIGN } from '../../../protocol/dedicated.ts';
import { TAB_PROTOCOL } from '../../../protocol/tab.ts';
import { fakeLocks } from '../../support/fake-locks.ts';

function fakeWorker() {
  const posted: unknown[] = [];
  const w = { postMessage: (m: unknown) => posted.push(m), terminate: vi.fn(), onmessage: null as ((ev: MessageEvent) => void) | null };
  return { posted, w, emit: (data: unknown) => w.onmessage?.({ data } as MessageEvent), factory: () => w as unknown as Worker };
}

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('leader rung: a resign from a tab that never takes over', () => {
  it('the old leader lets the lock go after TAKEOVER_MS, and a tab leads again', async () => {
    vi.useFakeTimers();
    vi.stubGlobal('navigator', { locks: fakeLocks() });
    const base = `b${Math.random().toString(36).slice(2)}`;
    const lw = fakeWorker();
    const leader = new LeaderTransport(lw.factory, 'w', base, 'lead', (b) => b.builtAt > 0);
    await vi.advanceTimersByTimeAsync(10);
    expect(leader.isLeader).toBe(true);
    const fw = fakeWorker();
    const follower = new LeaderTransport(fw.factory, 'w', base, 'f1', (b) => b.builtAt > 0);
    await vi.advanceTimersByTimeAsync(10);
    expect(follower.isLeader).toBe(false);

    // The owner passes on a resign from 'ghost': forged on the bus, or a new-build tab since closed.
    lw.emit({ type: RESIGN, from: 'ghost', build: { protocol: TAB_PROTOCOL, build: 'new', builtAt: 1 } });
    expect(lw.posted.at(-1)).toEqual({ type: DRAIN });
    lw.emit({ type: DRAINED });
    await vi.advanceTimersByTimeAsync(TAKEOVER_MS - 100);
    expect(lw.w.terminate).toHaveBeenCalled();
    expect([leader.isLeader, follower.isLeader]).toEqual([false, false]); // still the takeover's time
    await vi.advanceTimersByTimeAsync(200);
    // The follower was queued first: it leads now, with an owner of its own.
    expect([leader.isLeader, follower.isLeader]).toEqual([false, true]);
    leader.close();
    follower.close();
  });
});
