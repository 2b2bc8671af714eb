// Queued sends come back from IndexedDB (after a restart, or to the next owner of a handoff) in
// the order they were made. The order was createdAt then the random message id, so two sends in
// the same millisecond, or on both sides of a clock stepped back, could come back reversed.

import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { ConnectionLostError } from '../../../protocol/errors.ts';
import { Outbox, type OutboxEntry } from '../../../worker/delivery/outbox.ts';
import { openStore, type Store } from '../../../worker/store/index.ts';

const AID = 'alice.aun.local';

const entry = (id: string, createdAt: number): OutboxEntry => ({ id, kind: 'p2p', body: { to: 'bob.aun.local', payload: { type: 'text', text: id }, encrypt: true }, createdAt, attempts: 0 });

const open = () => openStore({ name: `outbox-order-${Math.random()}`, idbFactory: new IDBFactory() });

/** An outbox whose gateway cannot be reached: everything submitted stays queued. */
const offline = (store: Store) => new Outbox<string>({ aid: AID, store, send: async () => { throw new ConnectionLostError('offline'); }, sent: async () => {}, failed: () => {} });

/** What a fresh outbox over the same store sends, in order. */
async function sentByNext(store: Store): Promise<string[]> {
  const order: string[] = [];
  const next = new Outbox<string>({ aid: AID, store, send: async (e) => (order.push(e.id), 'ok'), sent: async () => {}, failed: () => {} });
  await next.flush();
  return order;
}

describe('Outbox order across a restart', () => {
  it('two sends made in the same millisecond come back in the order they were made', async () => {
    const store = await open();
    const box = offline(store);
    const at = Date.now();
    // Message ids are random hex: here the first one made sorts last.
    await Promise.all([box.submit(entry('m-f0', at), 200), box.submit(entry('m-0a', at), 200)]);
    expect(await sentByNext(store)).toEqual(['m-f0', 'm-0a']);
  });

  it('a send made after the clock stepped back still comes after the one before it', async () => {
    const store = await open();
    const box = offline(store);
    const at = Date.now();
    expect(await box.submit(entry('m-1', at), 200)).toBeNull();
    expect(await box.submit(entry('m-2', at - 60_000), 200)).toBeNull();
    expect(await box.submit(entry('m-3', at - 30_000), 200)).toBeNull();
    expect(await sentByNext(store)).toEqual(['m-1', 'm-2', 'm-3']);
  });

  it('rows stored by an older worker (no sequence) go first, by createdAt then id as before; new ones follow in order, across more than one restart', async () => {
    const store = await open();
    const at = Date.now();
    // Written as an older worker did: no seq, one with a createdAt ahead of this clock.
    await store.outbox.put(AID, entry('m-old-b', at + 60_000));
    await store.outbox.put(AID, entry('m-old-a', at - 1_000));
    expect(await offline(store).submit(entry('m-new-1', at), 200)).toBeNull();
    // A second worker adds behind what the first one left.
    expect(await offline(store).submit(entry('m-new-2', at - 5_000), 200)).toBeNull();
    expect(await sentByNext(store)).toEqual(['m-old-a', 'm-old-b', 'm-new-1', 'm-new-2']);
  });
});
