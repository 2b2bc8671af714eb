// One active owner per base name across builds: a newer build's owner makes the active one drain
// and takes over; an older build's owner sends its tabs to the newer one that runs.
import { describe, expect, it } from 'vitest';
import { succession } from '../../../worker/hub/succession.ts';
import type { OwnerAddress } from '../../../protocol/tab.ts';
import { fakeLocks } from '../../support/fake-locks.ts';

const addr = (build: string, builtAt: number): OwnerAddress => ({ protocol: 1, build, builtAt, url: `/w-${build}.js`, name: `aun@${build}` });

describe('succession', () => {
  it('the first owner becomes active at once', async () => {
    const locks = fakeLocks();
    await expect(succession({ base: 't1', me: addr('a', 1), locks, drain: async () => {} })).resolves.toBeNull();
  });

  it('a newer build makes the active owner drain, then becomes active itself', async () => {
    const locks = fakeLocks();
    const drained: string[] = [];
    let retired = false;
    await succession({ base: 't2', me: addr('a', 1), locks, drain: async (to) => void drained.push(to.build), retired: () => (retired = true) });
    const b = await succession({ base: 't2', me: addr('b', 2), locks, drain: async () => {} });
    expect(b).toBeNull();
    expect(drained).toEqual(['b']);
    expect(retired).toBe(true);
  });

  it('an older build is sent to the newer active owner and never drains it', async () => {
    const locks = fakeLocks();
    let drainedB = false;
    await succession({ base: 't3', me: addr('b', 2), locks, drain: async () => void (drainedB = true) });
    const a = await succession({ base: 't3', me: addr('a', 1), locks, drain: async () => {} });
    expect(a).toMatchObject({ build: 'b', url: '/w-b.js', name: 'aun@b' });
    expect(drainedB).toBe(false);
  });

  it('builds deployed in a row end with the newest active: a → b → c', async () => {
    const locks = fakeLocks();
    const drains: string[] = [];
    await succession({ base: 't4', me: addr('a', 1), locks, drain: async (to) => void drains.push(`a→${to.build}`) });
    await succession({ base: 't4', me: addr('b', 2), locks, drain: async (to) => void drains.push(`b→${to.build}`) });
    await expect(succession({ base: 't4', me: addr('c', 3), locks, drain: async () => {} })).resolves.toBeNull();
    expect(drains).toEqual(['a→b', 'b→c']);
  });

  it('ignores malformed messages on the channel', async () => {
    const locks = fakeLocks();
    let drained = false;
    await succession({ base: 't5', me: addr('a', 1), locks, drain: async () => void (drained = true) });
    const bc = new BroadcastChannel('aun-succession:t5');
    bc.postMessage({ t: 'claim', from: { name: 'x' } });
    bc.postMessage('garbage');
    await new Promise((r) => setTimeout(r, 50));
    bc.close();
    expect(drained).toBe(false);
  });
});
