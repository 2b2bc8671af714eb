// An attach with the id of a tab still attached (the tab retrying its attach, or another script of
// the origin): the old record goes as a detach does, and a tab still alive behind it attaches again.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connect } from '../../../client-stub/index.ts';
import type { Tab } from '../../../worker/hub/hub.ts';
import { fakeLocks } from '../../support/fake-locks.ts';
import { race, rawAttach, realHub, tick } from './support.ts';

const AID = 'alice.aun.local';

beforeEach(() => vi.stubGlobal('navigator', {}));
afterEach(() => vi.unstubAllGlobals());

/** fakeLocks, rejecting reserved names as the real one does, counting the tab-lock requests not yet settled. */
function countingLocks() {
  const inner = fakeLocks();
  const counter = { pending: 0 };
  const locks = {
    request(name: string, a: unknown, b?: unknown) {
      if (name.startsWith('-')) return Promise.reject(new DOMException('reserved name', 'NotSupportedError'));
      const p = (inner.request as (...x: unknown[]) => Promise<unknown>)(name, a, b);
      if (!name.startsWith('aun-tab:')) return p;
      counter.pending++;
      return p.finally(() => counter.pending--);
    },
    query: inner.query,
  } as unknown as LockManager;
  return { locks, counter, inner };
}

describe('an attach with a live tab\'s id', () => {
  it('detaches the old record (onDetach with its AID), and the tab behind it attaches again and is served', async () => {
    const detached: Tab[] = [];
    const h = realHub((t) => detached.push(t));
    const victim = await connect({ worker: { shared: h.worker }, rung: 'shared', build: 'test', timeoutMs: 500 });
    await victim.login(AID);
    await rawAttach(h.hub(), victim.tabId);
    expect(detached.map((t) => [t.id, t.aid])).toEqual([[victim.tabId, AID]]);
    await tick(100);
    // The victim heard `draining`, attached again (taking its id back) and logged back in.
    expect(await victim.snapshot()).toMatchObject({ aid: AID });
    expect(h.hub().size).toBe(1);
    expect(h.hub().tabCount(AID)).toBe(1);
    expect(detached.length).toBe(2);
    await victim.close();
  });

  it('keeps no lock watch of a replaced record', async () => {
    const { locks, counter, inner } = countingLocks();
    let release!: () => void;
    void inner.request('aun-tab:t1', () => new Promise<void>((r) => (release = r))); // the tab's own lock
    const detached: Tab[] = [];
    const h = realHub((t) => detached.push(t), undefined, locks);
    for (let i = 0; i < 3; i++) await rawAttach(h.hub(), 't1', { tabLock: 'aun-tab:t1' });
    await tick();
    expect(counter.pending).toBe(1);
    expect(detached.length).toBe(2);
    release();
    await tick();
    expect(h.hub().size).toBe(0);
    expect(detached.length).toBe(3);
  });

  it('ignores an attach whose lock name the Web Locks API rejects', async () => {
    const { locks } = countingLocks();
    const h = realHub(() => {}, undefined, locks);
    expect(await race(rawAttach(h.hub(), 't1', { tabLock: '-reserved' }), 200)).toBe('pending');
    expect(h.hub().size).toBe(0);
  });
});
