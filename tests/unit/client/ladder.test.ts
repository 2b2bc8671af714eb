// The rung is picked by capability probes, never by user agent; a broken rung steps down.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { below, factoriesOf, probeRung } from '../../../client-stub/ladder.ts';
import { isNewer } from '../../../protocol/tab.ts';

const shared = () => ({}) as SharedWorker;
const dedicated = () => ({}) as Worker;

afterEach(() => vi.unstubAllGlobals());

function platform(p: { sharedWorker?: boolean; worker?: boolean; locks?: boolean; broadcast?: boolean }): void {
  vi.stubGlobal('SharedWorker', p.sharedWorker ? function SharedWorker() {} : undefined);
  vi.stubGlobal('Worker', p.worker ? function Worker() {} : undefined);
  vi.stubGlobal('BroadcastChannel', p.broadcast ? function BroadcastChannel() {} : undefined);
  vi.stubGlobal('navigator', p.locks ? { locks: { request: () => Promise.resolve() } } : {});
}

describe('probeRung', () => {
  it('takes the SharedWorker when the browser has one', () => {
    platform({ sharedWorker: true, worker: true, locks: true, broadcast: true });
    expect(probeRung({ shared, dedicated })).toBe('shared');
  });

  it('elects a leader without SharedWorker (Chrome Android < 148, old WebViews)', () => {
    platform({ worker: true, locks: true, broadcast: true });
    expect(probeRung({ shared, dedicated })).toBe('leader');
  });

  it('falls to single-tab mode without Web Locks or BroadcastChannel', () => {
    platform({ worker: true, broadcast: true });
    expect(probeRung({ shared, dedicated })).toBe('single');
    platform({ worker: true, locks: true });
    expect(probeRung({ shared, dedicated })).toBe('single');
  });

  it('only offers rungs the app gave a worker factory for', () => {
    platform({ sharedWorker: true, worker: true, locks: true, broadcast: true });
    expect(probeRung({ dedicated })).toBe('leader');
    expect(below('shared', { shared })).toBeNull();
  });
});

describe('below', () => {
  it('steps shared → leader → single', () => {
    platform({ sharedWorker: true, worker: true, locks: true, broadcast: true });
    expect(below('shared', { shared, dedicated })).toBe('leader');
    expect(below('leader', { shared, dedicated })).toBe('single');
    expect(below('single', { shared, dedicated })).toBeNull();
  });

  it('skips the leader rung when Web Locks are missing', () => {
    platform({ sharedWorker: true, worker: true, broadcast: true });
    expect(below('shared', { shared, dedicated })).toBe('single');
  });
});

describe('factoriesOf', () => {
  it('a URL gives both kinds of worker; a bare function is a SharedWorker factory', () => {
    const f = factoriesOf('/worker.js');
    expect(typeof f.shared).toBe('function');
    expect(typeof f.dedicated).toBe('function');
    const g = factoriesOf(shared);
    expect(g.shared).toBe(shared);
    expect(g.dedicated).toBeUndefined();
  });
});

describe('isNewer', () => {
  it('a higher tab protocol wins, then the later build', () => {
    expect(isNewer({ protocol: 2, build: 'x', builtAt: 1 }, { protocol: 1, build: 'y', builtAt: 9 })).toBe(true);
    expect(isNewer({ protocol: 1, build: 'x', builtAt: 9 }, { protocol: 1, build: 'y', builtAt: 1 })).toBe(true);
    expect(isNewer({ protocol: 1, build: 'x', builtAt: 1 }, { protocol: 1, build: 'y', builtAt: 1 })).toBe(false);
    expect(isNewer({ protocol: 1, build: 'x', builtAt: 1 }, { protocol: 1, build: 'y', builtAt: 9 })).toBe(false);
  });
});
