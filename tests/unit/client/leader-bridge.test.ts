// The leader rung's bridge (worker/hub/bus-bridge.ts), which runs in the leader's owner, and the
// tab side of it (client-stub/fallback.ts): follower attaches and calls reach the owner's entry
// port over the bus, answers go back on the follower's channel; a follower that attaches before
// its lock is granted (lockPending) has that lock watched only once it says it holds it (its
// `lockHeld` call), otherwise the bridge could be granted the lock first and drop it at once; a
// retired bridge takes no new attach; a `resign` goes to the leader tab, which drains its owner.
// Node's BroadcastChannel and MessageChannel, a fake Web Locks manager, fake owner workers.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeaderTransport } from '../../../client-stub/fallback.ts';
import { busChannel, CONNECT, DRAIN, RESIGN, type ConnectMessage } from '../../../protocol/dedicated.ts';
import { ATTACH, TAB_PROTOCOL, type AttachMessage, type BuildInfo } from '../../../protocol/tab.ts';
import { busBridge, type BusBridge } from '../../../worker/hub/bus-bridge.ts';

const BUILD: BuildInfo = { protocol: TAB_PROTOCOL, build: 'test', builtAt: 0 };

/** Web Locks, exclusive, granted in request order; records every name asked for. */
function fakeLocks() {
  const queues = new Map<string, (() => void)[]>();
  const asked: string[] = [];
  const request = (name: string, a: unknown, b?: unknown): Promise<unknown> => {
    const cb = (typeof a === 'function' ? a : b) as () => unknown;
    asked.push(name);
    return new Promise((resolve) => {
      const q = queues.get(name) ?? queues.set(name, []).get(name)!;
      const run = () => {
        void Promise.resolve(cb()).then(resolve).finally(() => {
          q.shift();
          q[0]?.();
        });
      };
      q.push(run);
      if (q.length === 1) run();
    });
  };
  return { locks: { request } as unknown as LockManager, asked };
}

/** A dedicated worker that records what its tab posts to it; `emit` posts to the tab. */
function fakeWorker() {
  const posted: { m: unknown; ports: MessagePort[] }[] = [];
  const w = {
    postMessage: (m: unknown, ports: MessagePort[] = []) => posted.push({ m, ports }),
    terminate: vi.fn(),
    onmessage: null as ((ev: MessageEvent) => void) | null,
  };
  return { posted, worker: w, emit: (data: unknown) => w.onmessage?.({ data } as MessageEvent), factory: () => w as unknown as Worker };
}

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));
const never = () => false;
const path = (c: unknown) => (c as { path: string[] }).path[0];

describe('the leader bridge in the owner', () => {
  const open: { close(): void }[] = [];
  afterEach(() => {
    open.splice(0).forEach((t) => t.close());
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  /** A follower tab (the leader lock is held elsewhere) and, unless `later`, the leader's bridge. */
  async function setUp({ later = false } = {}) {
    const { locks, asked } = fakeLocks();
    vi.stubGlobal('navigator', { locks });
    const base = `b${Math.random().toString(36).slice(2)}`;
    // Someone else leads: the follower never gets the leader lock. The follower holds its tab
    // lock, as a live tab does (a bridge granted it would take the follower for gone).
    void locks.request(`aun-leader:${base}`, () => new Promise(() => {}));
    void locks.request('aun-tab:f1', () => new Promise(() => {}));
    asked.length = 0;
    const attaches: AttachMessage[] = [];
    const calls: unknown[] = [];
    const resigns: unknown[] = [];
    const entry = new MessageChannel();
    entry.port2.onmessage = (ev: MessageEvent<AttachMessage>) => {
      attaches.push(ev.data);
      ev.data.rpc.onmessage = (c) => calls.push(c.data);
    };
    open.push({ close: () => entry.port2.close() });
    let bridge: BusBridge | null = null;
    const start = () => {
      bridge = busBridge(base, entry.port1 as unknown as MessagePort, { locks, onResign: (m) => resigns.push(m) });
      open.push(bridge);
      return bridge;
    };
    if (!later) start();
    const follower = new LeaderTransport(fakeWorker().factory, 'w', base, 'f1', never);
    open.push(follower);
    const rpc = new MessageChannel();
    open.push({ close: () => rpc.port1.close() });
    const frames: unknown[] = [];
    rpc.port1.onmessage = (ev) => frames.push(ev.data);
    const attach = (lockPending = false) => {
      const events = new MessageChannel();
      follower.attach({
        type: ATTACH, tabId: 'f1', tabLock: 'aun-tab:f1', lockPending, ...BUILD,
        rpc: rpc.port2 as unknown as MessagePort, events: events.port2 as unknown as MessagePort,
      });
    };
    /** A call from the follower tab to its owner, as client-stub/rpc.ts posts it. */
    const call = (name: string) => rpc.port1.postMessage({ id: name, type: 'APPLY', path: [name], argumentList: [] });
    await tick();
    return { base, asked, attaches, calls, frames, resigns, attach, call, start, bridge: () => bridge!, follower };
  }

  it('brings a follower\'s attach and calls to the entry port, and the answers back to that follower', async () => {
    const { attaches, calls, frames, attach, call } = await setUp();
    attach();
    await tick();
    expect(attaches).toHaveLength(1);
    expect(attaches[0]).toMatchObject({ type: ATTACH, tabId: 'f1', tabLock: 'aun-tab:f1' });
    expect(attaches[0]!.rpc).toBeInstanceOf(MessagePort);
    call('snapshot');
    await tick();
    expect(calls.map(path)).toEqual(['snapshot']);
    attaches[0]!.rpc.postMessage({ id: 'snapshot', type: 'HANDLER', value: 1 });
    await tick();
    expect(frames).toEqual([{ id: 'snapshot', type: 'HANDLER', value: 1 }]);
  });

  it('says it listens when it starts: a follower waiting for a leader attaches at once, not at its next resend', async () => {
    const { attaches, attach, start } = await setUp({ later: true });
    attach();
    await tick();
    expect(attaches).toHaveLength(0);
    start();
    // The follower resends every 250 ms; the announcement brings its attach long before that.
    await tick(60);
    expect(attaches).toHaveLength(1);
  });

  it('watches a pending lock only once the follower says it holds it', async () => {
    const { asked, attaches, calls, attach, call } = await setUp();
    attach(true);
    await tick();
    expect(attaches.map((a) => [a.tabId, a.lockPending])).toEqual([['f1', true]]);
    call('snapshot');
    await tick();
    expect(asked).not.toContain('aun-tab:f1');
    call('lockHeld');
    await tick();
    expect(asked.filter((n) => n === 'aun-tab:f1')).toHaveLength(1);
    // The call still reaches the owner (the hub watches the lock too).
    expect(calls.map(path)).toEqual(['snapshot', 'lockHeld']);
  });

  it('watches a held lock at once', async () => {
    const { asked, attaches, attach } = await setUp();
    attach(false);
    await tick();
    expect(attaches).toHaveLength(1);
    expect(asked).toContain('aun-tab:f1');
  });

  it('watches a pending lock after 10 s if the follower never says it holds it', async () => {
    const { asked, attaches, attach } = await setUp();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    attach(true);
    await vi.waitFor(() => expect(attaches).toHaveLength(1), { interval: 5 });
    vi.advanceTimersByTime(9_900);
    expect(asked).not.toContain('aun-tab:f1');
    vi.advanceTimersByTime(200);
    expect(asked).toContain('aun-tab:f1');
  });

  it('retired, takes no new attach but still relays the calls of the bridges it has; passes no resign on', async () => {
    const { base, attaches, calls, resigns, attach, call, bridge } = await setUp();
    attach();
    await tick();
    bridge().retire();
    call('snapshot');
    const bus = new BroadcastChannel(busChannel(base, 'leader'));
    bus.postMessage({ t: 'attach', from: 'f2', attempt: 'a2', head: { type: ATTACH, tabId: 'f2', tabLock: '', ...BUILD } });
    bus.postMessage({ t: 'resign', from: 'f2', build: { ...BUILD, builtAt: 9 } });
    await tick();
    bus.close();
    expect(attaches.map((a) => a.tabId)).toEqual(['f1']);
    expect(calls.map(path)).toEqual(['snapshot']);
    expect(resigns).toEqual([]);
  });

  it('ignores what is not a bus message, and calls of an attempt it does not know', async () => {
    const { base, attaches, calls, resigns } = await setUp();
    const bus = new BroadcastChannel(busChannel(base, 'leader'));
    for (const m of [null, 7, 'attach', {}, { t: 'attach' }, { t: 'attach', from: 'x', attempt: 'y', head: null }, { t: 'attach', from: 1, attempt: 'y', head: {} }, { t: 'rpc', from: 'nobody', attempt: 'z', data: {} }, { t: 'frame' }]) bus.postMessage(m);
    bus.postMessage({ t: 'resign', from: 'f9', build: BUILD });
    await tick();
    bus.close();
    expect(attaches).toEqual([]);
    expect(calls).toEqual([]);
    expect(resigns).toEqual([{ t: 'resign', from: 'f9', build: BUILD }]);
  });
});

describe('the leader tab', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('starts its owner with the bus base, and drains it when the owner passes on a newer build\'s resign', async () => {
    const { locks } = fakeLocks();
    vi.stubGlobal('navigator', { locks });
    const w = fakeWorker();
    const base = `b${Math.random().toString(36).slice(2)}`;
    const leader = new LeaderTransport(w.factory, 'w', base, 'lead', (b) => b.builtAt > 0);
    await tick();
    expect(leader.isLeader).toBe(true);
    expect(w.posted[0]!.m).toEqual({ type: CONNECT, rung: 'leader', bus: base } satisfies ConnectMessage);
    w.emit({ type: RESIGN, from: 'f2', build: BUILD });
    expect(leader.isLeader).toBe(true);
    expect(w.posted.map((p) => (p.m as { type: string }).type)).toEqual([CONNECT]);
    w.emit({ type: RESIGN, from: 'f2', build: { ...BUILD, builtAt: 5 } });
    expect(leader.isLeader).toBe(false);
    expect(w.posted.map((p) => (p.m as { type: string }).type)).toEqual([CONNECT, DRAIN]);
    leader.close();
  });
});
