// The client's calls (client-stub/calls.ts) against a fake owner (Node MessagePorts, Comlink):
// the tab's own deadline, abort, and what a send carries.
import * as Comlink from 'comlink';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connect, TimeoutError, type AunClient } from '../../../client-stub/index.ts';
import { TAB_MARGIN_MS } from '../../../protocol/deadline.ts';
import { TAB_PROTOCOL, type AttachMessage, type OwnerFrame } from '../../../protocol/tab.ts';

type Call = [method: string, ...args: unknown[]];

/** An owner that says hello and records every facade call; `call` never answers, the rest answer ok. */
function silentOwner(): { calls: Call[]; worker: () => SharedWorker } {
  const calls: Call[] = [];
  const facade = new Proxy({}, {
    get: (_t, method: string) => (...args: unknown[]) => {
      calls.push([method, ...args]);
      return method === 'call' ? new Promise(() => {}) : { ok: true, value: method === 'send' ? { message_id: 'm1', status: 'queued' } : undefined };
    },
  });
  const worker = () => {
    const ch = new MessageChannel();
    ch.port2.onmessage = (ev: MessageEvent<AttachMessage>) => {
      Comlink.expose(facade, ev.data.rpc);
      ev.data.events.postMessage({ t: 'hello', incarnation: 'i1', build: 'test', builtAt: 0, protocol: TAB_PROTOCOL, ownerLock: '', rung: 'shared' } satisfies OwnerFrame);
    };
    return { port: ch.port1, onerror: null } as unknown as SharedWorker;
  };
  return { calls, worker };
}

describe('calls', () => {
  let client: AunClient | null = null;
  beforeEach(() => vi.stubGlobal('navigator', {}));
  afterEach(() => {
    client?.close();
    client = null;
    vi.unstubAllGlobals();
  });

  it('a call the owner never answers rejects with TimeoutError just after its deadline, and is cancelled at the owner', async () => {
    const owner = silentOwner();
    client = await connect({ worker: { shared: owner.worker }, rung: 'shared', build: 'test' });
    const started = Date.now();
    await expect(client.call('meta.ping', {}, { timeoutMs: 100 })).rejects.toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100 + TAB_MARGIN_MS - 5);
    await new Promise((r) => setTimeout(r, 20));
    const call = owner.calls.find(([m]) => m === 'call')!;
    expect(call.slice(2)).toEqual(['meta.ping', {}, { timeoutMs: 100 }]);
    expect(owner.calls.find(([m]) => m === 'cancel')).toEqual(['cancel', call[1]]);
  });

  it('an aborted call rejects at once with the abort reason', async () => {
    const owner = silentOwner();
    client = await connect({ worker: { shared: owner.worker }, rung: 'shared', build: 'test' });
    const ac = new AbortController();
    const p = client.call('meta.ping', {}, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('user left')), 10);
    await expect(p).rejects.toThrow('user left');
  });

  it('a send carries the recipient, the payload and its options, and no call id', async () => {
    const owner = silentOwner();
    client = await connect({ worker: { shared: owner.worker }, rung: 'shared', build: 'test', timeoutMs: 5_000 });
    expect(await client.send('bob.aun.local', { text: 'hi' })).toEqual({ message_id: 'm1', status: 'queued' });
    expect(owner.calls.find(([m]) => m === 'send')).toEqual(['send', 'bob.aun.local', { text: 'hi' }, { timeoutMs: 5_000, encrypt: true }]);
  });
});
