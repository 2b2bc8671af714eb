// The client's side of batched logged events: an owner's `events` frame (one per committed batch)
// is handed to the app event by event in lsn order, each lsn once, and acknowledged once.
import { describe, expect, it, vi } from 'vitest';
import type { InboundMessage, LogPage } from '../../../protocol/tab.ts';
import { clientOnFakeOwner, fakeOwner } from '../../support/fake-owner.ts';

/** An owner that answers every facade call with `ok` (an empty replay) and can post frames. */
const owned = () => fakeOwner((method) => ({ ok: true, value: method === 'replay' ? { events: [], lastLsn: 0 } : undefined }));

const message = (lsn: number): LogPage['events'][number] => ({
  lsn, name: 'message',
  data: { aid: 'alice.aun.local', messageId: `m-${lsn}`, from: 'bob.aun.local', to: 'alice.aun.local', seq: lsn, timestamp: 0, payload: { i: lsn }, encrypted: false, direction: 'inbound' },
});

describe('events frames', () => {
  const connectTo = clientOnFakeOwner();

  it('hands out the events of a frame in order, each lsn once, and acks the batch once', async () => {
    const owner = owned();
    const client = await connectTo(owner);
    const seen: number[] = [];
    client.on('message', (m: InboundMessage) => seen.push(m.seq));
    owner.post({ t: 'events', list: [1, 2, 3].map(message) });
    // A second frame that overlaps the first (a replay raced it): 3 is not handed out again.
    owner.post({ t: 'events', list: [3, 4, 5].map(message) });
    await vi.waitFor(() => expect(seen).toEqual([1, 2, 3, 4, 5]));
    await vi.waitFor(() => expect(owner.calls.filter(([m]) => m === 'ackEvents')).toEqual([['ackEvents', 5]]), { timeout: 2000 });
  });

  it('reads a frame whose list is JSON text (what the owner posts) like one that carries the list', async () => {
    const owner = owned();
    const client = await connectTo(owner);
    const seen: InboundMessage[] = [];
    client.on('message', (m: InboundMessage) => seen.push(m));
    owner.post({ t: 'events', list: JSON.stringify([1, 2].map(message)) });
    owner.post({ t: 'events', list: [3].map(message) });
    await vi.waitFor(() => expect(seen.map((m) => m.seq)).toEqual([1, 2, 3]));
    expect(seen[0]).toEqual(message(1).data);
  });

  it('a malformed frame from the port is dropped, throws nothing, and the frames after it still arrive in order', async () => {
    const owner = owned();
    const client = await connectTo(owner);
    const seen: number[] = [];
    client.on('message', (m: InboundMessage) => seen.push(m.seq));
    const thrown: unknown[] = [];
    const onError = (e: unknown) => thrown.push(e);
    process.on('uncaughtException', onError);
    try {
      for (const bad of [
        null, 42, 'events', [], { t: 'events' }, { t: 'events', list: null }, { t: 'events', list: 'x' }, { t: 'events', list: '{"lsn":1' }, { t: 'events', list: '{"0":1}' }, { t: 'events', list: 'null' },
        { t: 'events', list: '[null,{"lsn":"1","name":"message","data":{}}]' },
        { t: 'events', list: [null, 7, { lsn: 'one', name: 'message', data: {} }, { lsn: 2.5, name: 'message', data: {} }, { lsn: 3, name: 42, data: {} }] },
        { t: 'event' }, { t: 'resync', extra: { deep: [[[]]] } }, { t: 'events', list: { length: 1e9 } },
      ]) owner.post(bad as never);
      owner.post({ t: 'events', list: [1, 2].map(message) });
      owner.post({ t: 'event', name: 'state', data: null } as never);
      owner.post({ t: 'events', list: [3].map(message) });
      await vi.waitFor(() => expect(seen).toEqual([1, 2, 3]));
      await new Promise((r) => setTimeout(r, 50));
      expect(thrown).toEqual([]);
    } finally {
      process.off('uncaughtException', onError);
    }
  });
});
