// An account whose start outlives the reason it was started: the tab that asked detached, or the
// identity was removed. Neither may leave the account (socket, session lock, outbox) open.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Runtime } from '../../../worker/runtime.ts';
import { rawAttach, tick } from './support.ts';

const AID = 'alice.aun.local';

beforeEach(() => vi.stubGlobal('navigator', {}));
afterEach(() => vi.unstubAllGlobals());

function fakeAccount(aid: string, started: Promise<void> = Promise.resolve()) {
  return {
    aid, lastLsn: 0, close: vi.fn(), start: () => started, session: { start() {}, setOnline() {} },
    snapshot: () => ({ aid, state: 'ready', detail: {}, lastLsn: 0 }),
    inspect: async () => ({ aid }),
  };
}

type Internals = { startAccount: unknown; store: unknown; makeAccount: unknown; accounts: Map<string, unknown> };

describe('Runtime: a tab detached during its login', () => {
  it('is not bound, and the account closes after the grace period', async () => {
    const rt = new Runtime({ build: 'test', graceMs: 50 });
    const account = fakeAccount(AID);
    const internals = rt as unknown as Internals;
    // The slow part of a first login (store, keys, session lock, journal load).
    internals.startAccount = async (aid: string) => {
      await tick(100);
      internals.accounts.set(aid, account);
      return account;
    };
    const tab = await rawAttach(rt.hub, 'tab-1');
    tab.call('login', AID, {});
    await tick(20);
    const record = rt.hub.list()[0]!;
    rt.hub.detach('tab-1'); // its lock was released (closed, navigated away) mid-login
    await tick(100);        // the start finished
    expect(record.aid).toBeNull();
    expect(rt.hub.tabCount(AID)).toBe(0);
    expect(account.close).not.toHaveBeenCalled(); // the grace period runs first
    await tick(150);
    expect(account.close).toHaveBeenCalledTimes(1);
    expect((await rt.inspect()).sessions).toEqual([]);
  });
});

describe('Runtime: an identity removed while its account starts', () => {
  it('the start closes what it opened and the login is refused', async () => {
    const rt = new Runtime({ build: 'test' });
    let started!: () => void;
    const account = fakeAccount(AID, new Promise<void>((r) => (started = r)));
    const internals = rt as unknown as Internals;
    internals.store = async () => ({
      identities: { get: async (aid: string) => ({ aid }) },
      keys: { load: async () => ({}) },
      kv: { get: async () => ['root'], put: async () => {} },
      deviceId: async () => 'device-1',
    });
    internals.makeAccount = () => account;
    vi.spyOn(rt.identities, 'remove').mockResolvedValue();
    const tab = await rawAttach(rt.hub, 'tab-1');
    const login = tab.call('login', AID, {});
    await tick();
    await rt.removeIdentity(AID);
    started();
    await tick();
    expect(tab.answers.get(login)).toMatchObject({ value: { ok: false, error: { name: 'NotFoundError' } } });
    expect(account.close).toHaveBeenCalledTimes(1);
    expect(rt.hub.tabCount(AID)).toBe(0);
    expect((await rt.inspect()).sessions).toEqual([]);
  });
});
