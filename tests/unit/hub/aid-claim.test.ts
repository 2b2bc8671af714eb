// One session per AID in the origin, whatever the rung: the first owner takes the session lock,
// the next one learns where it runs instead of connecting, and waits for the lock only when the
// holder cannot take its tabs (a single-rung owner).
import { describe, expect, it } from 'vitest';
import { claimSession, type Claim } from '../../../worker/hub/aid-claim.ts';
import type { SessionHolder } from '../../../protocol/tab.ts';
import { fakeLocks } from '../../support/fake-locks.ts';

const shared = (incarnation: string): SessionHolder => ({ rung: 'shared', incarnation, address: { protocol: 1, build: 'b', builtAt: 1, url: '/w.js', name: 'aun@b' } });
const base = { deviceId: 'dev', slotId: 'default', askEveryMs: 20 };

describe('claimSession', () => {
  it('the first owner holds the session; the next learns where it runs and does not hold it; after release the lock is free again', async () => {
    const locks = fakeLocks();
    const aid = `a${Math.random()}.aun.local`;
    const first = await claimSession({ ...base, aid, locks, me: shared('one') });
    expect(first.held).toBe(true);
    const leader: SessionHolder = { rung: 'leader', incarnation: 'two', address: null };
    const second = await claimSession({ ...base, aid, locks, me: leader });
    expect(second).toEqual({ held: false, holder: shared('one') });
    (first as Extract<Claim, { held: true }>).release();
    const third = await claimSession({ ...base, aid, locks, me: leader });
    expect(third.held).toBe(true);
    (third as Extract<Claim, { held: true }>).release();
  });

  it('a holder that serves no other tab (single rung) is waited for: the lock comes when it lets go', async () => {
    const locks = fakeLocks();
    const aid = `b${Math.random()}.aun.local`;
    const single = await claimSession({ ...base, aid, locks, me: { rung: 'single', incarnation: 'solo', address: null } });
    expect(single.held).toBe(true);
    let settled: Claim | null = null;
    const waiting = claimSession({ ...base, aid, locks, me: shared('late') }).then((c) => (settled = c));
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBeNull();
    (single as Extract<Claim, { held: true }>).release();
    expect((await waiting).held).toBe(true);
  });

  it('sessions of different AIDs do not exclude each other', async () => {
    const locks = fakeLocks();
    const a = await claimSession({ ...base, aid: `c${Math.random()}.aun.local`, locks, me: shared('x') });
    const b = await claimSession({ ...base, aid: `d${Math.random()}.aun.local`, locks, me: shared('x') });
    expect([a.held, b.held]).toEqual([true, true]);
  });
});
