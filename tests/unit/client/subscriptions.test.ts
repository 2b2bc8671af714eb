// The client against a fake owner (Node MessagePorts, Comlink): which facade calls a tab makes
// when the app registers handlers, and in what order relative to the calls that follow.
import * as Comlink from 'comlink';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connect, type AunClient } from '../../../client-stub/index.ts';
import { TAB_PROTOCOL, type AttachMessage, type OwnerFrame, type SessionSnapshot } from '../../../protocol/tab.ts';

type Call = [method: string, ...args: unknown[]];

/** An owner that says hello, answers every facade call with `ok`, and records the calls. */
function fakeOwner(): { calls: Call[]; worker: () => SharedWorker } {
  const calls: Call[] = [];
  const snapshot: SessionSnapshot = { aid: 'alice.aun.local', state: 'ready', detail: {}, lastLsn: 0 };
  const facade = new Proxy({}, {
    get: (_t, method: string) => (...args: unknown[]) => {
      calls.push([method, ...args]);
      return { ok: true, value: method === 'login' ? snapshot : undefined };
    },
  });
  const worker = () => {
    const ch = new MessageChannel();
    ch.port2.onmessage = (ev: MessageEvent<AttachMessage>) => {
      const msg = ev.data;
      Comlink.expose(facade, msg.rpc);
      msg.events.postMessage({ t: 'hello', incarnation: 'i1', build: 'test', builtAt: 0, protocol: TAB_PROTOCOL, ownerLock: '', rung: 'shared' } satisfies OwnerFrame);
    };
    return { port: ch.port1, onerror: null } as unknown as SharedWorker;
  };
  return { calls, worker };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('subscriptions', () => {
  let client: AunClient | null = null;
  // Node 20 has no navigator (so no Web Locks): the client runs without a tab lock.
  beforeEach(() => vi.stubGlobal('navigator', {}));
  afterEach(() => {
    client?.close();
    client = null;
    vi.unstubAllGlobals();
  });

  it('handlers registered in one task reach the owner as one subscribe call', async () => {
    const owner = fakeOwner();
    client = await connect({ worker: { shared: owner.worker }, rung: 'shared', build: 'test' });
    client.on('message', () => {});
    client.on('state', () => {});
    client.on('group.message', () => {});
    client.on('message', () => {}); // a second handler: no new subscription
    await settle();
    expect(owner.calls.filter(([m]) => m === 'subscribe')).toEqual([['subscribe', ['message', 'state', 'group.message']]]);
  });

  it('a call made right after on() reaches the owner after the subscription', async () => {
    const owner = fakeOwner();
    client = await connect({ worker: { shared: owner.worker }, rung: 'shared', build: 'test' });
    client.on('message', () => {});
    client.on('state', () => {});
    await client.login('alice.aun.local');
    expect(owner.calls.map(([m]) => m)).toEqual(['subscribe', 'login']);
  });

  it('a handler removed before its subscription went out costs no call at all', async () => {
    const owner = fakeOwner();
    client = await connect({ worker: { shared: owner.worker }, rung: 'shared', build: 'test' });
    const off = client.on('undecryptable', () => {});
    off();
    client.on('message', () => {});
    await settle();
    expect(owner.calls).toEqual([['subscribe', ['message']]]);
  });
});
