// The leader's bridge and a follower's tab lock: a follower attaches before its lock is granted
// (lockPending), so the bridge asks for that lock (to learn when the follower goes) only once the
// follower tells its owner it holds it (its `lockHeld` call, relayed through the bridge);
// otherwise the leader could be granted the lock first and drop the bridge at once. Node's
// BroadcastChannel and MessageChannel, a fake Web Locks manager and a fake owner worker.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeaderTransport } from '../../../client-stub/fallback.ts';
import { CONNECT } from '../../../protocol/dedicated.ts';
import { ATTACH, TAB_PROTOCOL, type AttachMessage, type BuildInfo } from '../../../protocol/tab.ts';

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
  return { locks: { request }, asked };
}

/** A dedicated-worker owner that records the attaches reaching it and the calls on their rpc ports. */
function fakeWorker(attaches: AttachMessage[], calls: unknown[]) {
  return () => ({
    postMessage: (m: { type?: string }, ports?: MessagePort[]) => {
      if (m.type !== CONNECT || !ports?.[0]) return;
      ports[0].onmessage = (ev: MessageEvent<AttachMessage>) => {
        attaches.push(ev.data);
        ev.data.rpc.onmessage = (c) => calls.push(c.data);
      };
    },
    terminate: () => {},
    onmessage: null,
  }) as unknown as Worker;
}

const tick = () => new Promise((r) => setTimeout(r, 30));
const never = () => false;

describe('the leader bridge and a follower lock', () => {
  const open: LeaderTransport[] = [];
  afterEach(() => {
    open.splice(0).forEach((t) => t.close());
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  async function leaderAndFollower() {
    const { locks, asked } = fakeLocks();
    vi.stubGlobal('navigator', { locks });
    const attaches: AttachMessage[] = [];
    const calls: unknown[] = [];
    const base = `b${Math.random().toString(36).slice(2)}`;
    const leader = new LeaderTransport(fakeWorker(attaches, calls), 'w', base, 'lead', never);
    open.push(leader);
    await tick();
    expect(leader.isLeader).toBe(true);
    const follower = new LeaderTransport(fakeWorker([], []), 'w', base, 'f1', never);
    open.push(follower);
    const rpc = new MessageChannel();
    const attach = (lockPending: boolean) => {
      const events = new MessageChannel();
      follower.attach({
        type: ATTACH, tabId: 'f1', tabLock: 'aun-tab:f1', lockPending, ...BUILD,
        rpc: rpc.port2 as unknown as MessagePort, events: events.port2 as unknown as MessagePort,
      });
    };
    /** A call from the follower tab to its owner, as client-stub/rpc.ts posts it. */
    const call = (name: string) => rpc.port1.postMessage({ id: name, type: 'APPLY', path: [name], argumentList: [] });
    return { asked, attaches, calls, attach, call, close: () => rpc.port1.close() };
  }

  it('watches a pending lock only once the follower says it holds it', async () => {
    const { asked, attaches, calls, attach, call, close } = await leaderAndFollower();
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
    expect(calls.map((c) => (c as { path: string[] }).path[0])).toEqual(['snapshot', 'lockHeld']);
    close();
  });

  it('watches a held lock at once', async () => {
    const { asked, attaches, attach, close } = await leaderAndFollower();
    attach(false);
    await tick();
    expect(attaches).toHaveLength(1);
    expect(asked).toContain('aun-tab:f1');
    close();
  });

  it('watches a pending lock after 10 s if the follower never says it holds it', async () => {
    const { asked, attaches, attach, close } = await leaderAndFollower();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    attach(true);
    await vi.waitFor(() => expect(attaches).toHaveLength(1), { interval: 5 });
    vi.advanceTimersByTime(9_900);
    expect(asked).not.toContain('aun-tab:f1');
    vi.advanceTimersByTime(200);
    expect(asked).toContain('aun-tab:f1');
    close();
  });
});
