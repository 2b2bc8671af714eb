// A fake owner for unit tests of the client (Node MessagePorts, Comlink): it says hello on attach,
// records every facade call, answers each with what `answer` returns for it, and can post owner
// frames to the tab; and the set-up that connects a client to one.
import * as Comlink from 'comlink';
import { afterEach, beforeEach, vi } from 'vitest';
import { connect, type AunClient, type ConnectOptions } from '../../client-stub/index.ts';
import { TAB_PROTOCOL, type AttachMessage, type OwnerFrame } from '../../protocol/tab.ts';

export type FacadeCallRecord = [method: string, ...args: unknown[]];

export interface FakeOwner {
  calls: FacadeCallRecord[];
  /** The `shared` worker factory to pass to connect(). */
  worker: () => SharedWorker;
  /** Posts a frame on the attached tab's event port. */
  post(frame: OwnerFrame): void;
}

export function fakeOwner(answer: (method: string) => unknown): FakeOwner {
  const calls: FacadeCallRecord[] = [];
  let events: MessagePort | null = null;
  const facade = new Proxy({}, {
    get: (_t, method: string) => (...args: unknown[]) => {
      calls.push([method, ...args]);
      return answer(method);
    },
  });
  const worker = () => {
    const ch = new MessageChannel();
    ch.port2.onmessage = (ev: MessageEvent<AttachMessage>) => {
      const msg = ev.data;
      Comlink.expose(facade, msg.rpc);
      events = msg.events;
      msg.events.postMessage({ t: 'hello', incarnation: 'i1', build: 'test', builtAt: 0, protocol: TAB_PROTOCOL, ownerLock: '', rung: 'shared' } satisfies OwnerFrame);
    };
    return { port: ch.port1, onerror: null } as unknown as SharedWorker;
  };
  return { calls, worker, post: (f) => events!.postMessage(f) };
}

/**
 * Registers a client test's set-up and returns `connectTo(owner)`: a client on the shared rung
 * attached to that fake owner, closed after the test. Node 20 has no navigator (so no Web Locks):
 * the client runs without a tab lock.
 */
export function clientOnFakeOwner(): (owner: FakeOwner, options?: Partial<ConnectOptions>) => Promise<AunClient> {
  let client: AunClient | null = null;
  beforeEach(() => vi.stubGlobal('navigator', {}));
  afterEach(() => {
    client?.close();
    client = null;
    vi.unstubAllGlobals();
  });
  return async (owner, options = {}) => (client = await connect({ worker: { shared: owner.worker }, rung: 'shared', build: 'test', ...options }));
}
