// The client's side of batched logged events: an owner's `events` frame (one per committed batch)
// is handed to the app event by event in lsn order, each lsn once, and acknowledged once.
import * as Comlink from 'comlink';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connect, type AunClient } from '../../../client-stub/index.ts';
import { TAB_PROTOCOL, type AttachMessage, type InboundMessage, type LogPage, type OwnerFrame } from '../../../protocol/tab.ts';

type Call = [method: string, ...args: unknown[]];

/** An owner that says hello, answers every facade call with `ok`, records the calls, and can post frames. */
function fakeOwner(): { calls: Call[]; worker: () => SharedWorker; post: (f: OwnerFrame) => void } {
  const calls: Call[] = [];
  let events: MessagePort | null = null;
  const facade = new Proxy({}, {
    get: (_t, method: string) => (...args: unknown[]) => {
      calls.push([method, ...args]);
      return { ok: true, value: method === 'replay' ? { events: [], lastLsn: 0 } : undefined };
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

const message = (lsn: number): LogPage['events'][number] => ({
  lsn, name: 'message',
  data: { aid: 'alice.aun.local', messageId: `m-${lsn}`, from: 'bob.aun.local', to: 'alice.aun.local', seq: lsn, timestamp: 0, payload: { i: lsn }, encrypted: false, direction: 'inbound' },
});

describe('events frames', () => {
  let client: AunClient | null = null;
  beforeEach(() => vi.stubGlobal('navigator', {}));
  afterEach(() => {
    client?.close();
    client = null;
    vi.unstubAllGlobals();
  });

  it('hands out the events of a frame in order, each lsn once, and acks the batch once', async () => {
    const owner = fakeOwner();
    client = await connect({ worker: { shared: owner.worker }, rung: 'shared', build: 'test' });
    const seen: number[] = [];
    client.on('message', (m: InboundMessage) => seen.push(m.seq));
    owner.post({ t: 'events', list: [1, 2, 3].map(message) });
    // A second frame that overlaps the first (a replay raced it): 3 is not handed out again.
    owner.post({ t: 'events', list: [3, 4, 5].map(message) });
    await vi.waitFor(() => expect(seen).toEqual([1, 2, 3, 4, 5]));
    await vi.waitFor(() => expect(owner.calls.filter(([m]) => m === 'ackEvents')).toEqual([['ackEvents', 5]]), { timeout: 2000 });
  });
});
