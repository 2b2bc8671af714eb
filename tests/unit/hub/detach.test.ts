// A tab that detaches (AunClient.close(), or the facade's detach) hears the answer before its
// ports close; the hub forgets it exactly once and posts it nothing more.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connect } from '../../../client-stub/index.ts';
import type { Tab } from '../../../worker/hub/hub.ts';
import { race, rawAttach, realHub, tick } from './support.ts';

beforeEach(() => vi.stubGlobal('navigator', {}));
afterEach(() => vi.unstubAllGlobals());

describe('detach', () => {
  it('client.close() resolves against the real hub, which forgets the tab once', async () => {
    const detached: Tab[] = [];
    const h = realHub((t) => detached.push(t));
    const client = await connect({ worker: { shared: h.worker }, rung: 'shared', build: 'test' });
    expect(h.hub().size).toBe(1);
    expect(await race(client.close(), 2000)).toBe('settled');
    expect(h.hub().size).toBe(0);
    expect(detached.map((t) => t.id)).toEqual([client.tabId]);
  });

  it('answers the detach call, then posts the tab no events and serves it no more calls', async () => {
    const detached: Tab[] = [];
    const h = realHub((t) => detached.push(t));
    const tab = await rawAttach(h.hub(), 'tab-1');
    const login = tab.call('login', 'alice.aun.local', {});
    const sub = tab.call('subscribe', ['message']);
    await tick();
    expect(tab.answers.has(login) && tab.answers.has(sub)).toBe(true);
    const id = tab.call('detach');
    await tick();
    expect(tab.answers.get(id)).toMatchObject({ type: 'RAW', value: { ok: true } });
    expect(h.hub().size).toBe(0);
    expect(detached.length).toBe(1);
    const before = tab.frames.length;
    h.hub().publish('alice.aun.local', 'message', {} as never);
    h.hub().broadcast({ t: 'draining', to: null });
    const late = tab.call('snapshot');
    await tick();
    expect(tab.frames.length).toBe(before);
    expect(tab.answers.has(late)).toBe(false);
  });
});
