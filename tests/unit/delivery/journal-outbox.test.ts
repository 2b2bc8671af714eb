// The local event log (dedup window, atomic cursor + entry, replay) and the outbox, on the real
// keystore over fake-indexeddb, with crashes in the middle.

import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { ConnectionLostError, SessionError, TimeoutError, ValidationError } from '../../../protocol/errors.ts';
import { type InboundMessage } from '../../../protocol/tab.ts';
import { Journal, type LoggedEvent } from '../../../worker/delivery/journal.ts';
import { Outbox, type OutboxEntry } from '../../../worker/delivery/outbox.ts';
import { SeqInbox } from '../../../worker/delivery/seq-inbox.ts';
import { openStore, type Store } from '../../../worker/store/index.ts';

const AID = 'alice.aun.local';

async function fresh(): Promise<{ factory: IDBFactory; name: string; open: () => Promise<Store> }> {
  const factory = new IDBFactory();
  const name = `delivery-${Math.random()}`;
  return { factory, name, open: () => openStore({ name, idbFactory: factory }) };
}

const message = (seq: number, text: string): InboundMessage => ({
  aid: AID, messageId: `m-${seq}`, from: 'bob.aun.local', to: AID, seq, timestamp: seq, payload: { type: 'text', text }, encrypted: true, direction: 'inbound',
});

describe('Journal', () => {
  it('commits the cursor and the entry together and publishes in lsn order', async () => {
    const db = await fresh();
    const store = await db.open();
    const seen: LoggedEvent[] = [];
    const journal = new Journal(AID, store, (es) => seen.push(...es));
    await Promise.all([1, 2, 3].map((seq) => journal.commit({ ns: 'p2p', seq }, [{ name: 'message', key: `p2p:bob:m-${seq}`, data: message(seq, `t${seq}`) }])));
    expect(seen.map((e) => e.lsn)).toEqual([1, 2, 3]);
    expect(await store.cursors.get(AID, 'p2p')).toBe(3);
    expect(journal.lastLsn).toBe(3);
  });

  it('a failed batch stops everything queued behind it, so no cursor jumps over its rows', async () => {
    const store = await (await fresh()).open();
    let fail = true;
    const flaky = { log: { ...store.log, commit: (...a: Parameters<Store['log']['commit']>) => (fail ? Promise.reject(new Error('quota')) : store.log.commit(...a)) } };
    const journal = new Journal(AID, flaky, () => {});
    const first = journal.commit({ ns: 'p2p', seq: 1 }, [{ name: 'message', key: 'k1', data: message(1, 'a') }]);
    const second = journal.commit({ ns: 'p2p', seq: 2 }, [{ name: 'message', key: 'k2', data: message(2, 'b') }]);
    await expect(first).rejects.toThrow('quota');
    await expect(second).rejects.toThrow('quota');
    fail = false;
    expect(await store.cursors.get(AID, 'p2p')).toBe(0);
  });

  it('batches commits that arrive while one is written, moving every cursor, and publishes each batch in one call, in lsn order', async () => {
    const store = await (await fresh()).open();
    let transactions = 0;
    const counting = { log: { ...store.log, commit: (...a: Parameters<Store['log']['commit']>) => (transactions++, store.log.commit(...a)) } };
    const published: number[][] = [];
    const journal = new Journal(AID, counting, (es) => published.push(es.map((e) => e.lsn)));
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => journal.commit({ ns: i % 2 ? 'group:g' : 'p2p', seq: i + 1 }, [{ name: 'message', key: `k${i}`, data: message(i, `t${i}`) }])));
    expect(results.map((r) => r[0]?.lsn)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(published.flat()).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(transactions).toBeLessThan(10);
    // One publish per transaction, with all of its events: the hub posts it to a tab as one frame.
    expect(published).toHaveLength(transactions);
    expect(await store.cursors.get(AID, 'p2p')).toBe(49);
    expect(await store.cursors.get(AID, 'group:g')).toBe(50);
  });

  it('drops an entry whose key it already holds (the dedup window) without using an lsn', async () => {
    const store = await (await fresh()).open();
    const seen: number[] = [];
    const journal = new Journal(AID, store, (es) => seen.push(...es.map((e) => e.lsn)));
    const input = { name: 'message' as const, key: 'p2p:bob:m-1', data: message(1, 'once') };
    expect(await journal.commit({ ns: 'p2p', seq: 1 }, [input])).toEqual([expect.objectContaining({ lsn: 1 })]);
    expect(await journal.commit({ ns: 'p2p', seq: 7 }, [input])).toEqual([null]);
    expect(await store.cursors.get(AID, 'p2p')).toBe(7);
    expect(await journal.record({ name: 'message', key: 'p2p:bob:m-2', data: message(2, 'next') })).toMatchObject({ lsn: 2 });
    expect(seen).toEqual([1, 2]);
  });

  it('replays exactly what a tab missed, across a restart of the worker', async () => {
    const db = await fresh();
    let store = await db.open();
    let journal = new Journal(AID, store, () => {});
    for (let seq = 1; seq <= 5; seq++) await journal.commit({ ns: 'p2p', seq }, [{ name: 'message', key: `k${seq}`, data: message(seq, `t${seq}`) }]);
    store.close();
    store = await db.open();
    journal = new Journal(AID, store, () => {});
    await journal.load();
    expect(journal.lastLsn).toBe(5);
    const page = await journal.since(2, 100);
    expect(page.events.map((e) => e.lsn)).toEqual([3, 4, 5]);
    expect(page.events.map((e) => (e.data as InboundMessage).payload.text)).toEqual(['t3', 't4', 't5']);
    expect(page.lastLsn).toBe(5);
  });

  it('a crash between receiving and committing delivers after restart exactly once, end to end', async () => {
    // (Rows are committed in runs; the crash hits the run that holds seq 2.)
    const db = await fresh();
    const server = [1, 2, 3].map((seq) => ({ seq, text: `m${seq}` }));
    const shown: string[] = [];
    const boot = async (crashAt: number | null) => {
      const store = await db.open();
      const journal = new Journal(AID, store, (es) => shown.push(...es.map((e) => (e.data as InboundMessage).payload.text as string)));
      const inbox = new SeqInbox<{ seq: number; text: string }, ReturnType<typeof toInput>, LoggedEvent>({
        name: 'crash',
        pull: async (after) => ({ rows: server.filter((r) => r.seq > after), hasMore: false, floor: 0 }),
        ack: async () => {},
        loadCursor: () => store.cursors.get(AID, 'p2p'),
        open: async (row) => toInput(row),
        commit: async (seq, inputs) => {
          if (crashAt !== null && seq >= crashAt) throw new Error('the worker was killed here');
          return journal.commit({ ns: 'p2p', seq }, inputs);
        },
      });
      await inbox.catchUp().catch(() => {});
      store.close();
    };
    const toInput = (row: { seq: number; text: string }) => ({ name: 'message' as const, key: `p2p:bob:m-${row.seq}`, data: message(row.seq, row.text) });
    // The run 1..3 dies before its commit: nothing is shown, nothing is stored.
    await boot(2);
    expect(shown).toEqual([]);
    await boot(null);
    expect(shown).toEqual(['m1', 'm2', 'm3']);
    await boot(null);
    expect(shown).toEqual(['m1', 'm2', 'm3']);
  });
});

describe('Outbox', () => {
  const entry = (id: string): OutboxEntry => ({ id, kind: 'p2p', body: { to: 'bob.aun.local', payload: { type: 'text', text: id }, encrypt: true }, createdAt: Date.now(), attempts: 0 });

  function outbox(store: Store, send: (e: OutboxEntry) => Promise<string>) {
    const sent: string[] = [];
    const failed: string[] = [];
    const box = new Outbox<string>({
      aid: AID,
      store,
      send,
      sent: async (e) => void sent.push(e.id),
      failed: (e) => void failed.push(e.id),
    });
    return { box, sent, failed };
  }

  it('answers with the gateway result and forgets the entry', async () => {
    const store = await (await fresh()).open();
    const { box, sent } = outbox(store, async (e) => `ok ${e.id}`);
    expect(await box.submit(entry('m-1'), 1000)).toBe('ok m-1');
    expect(sent).toEqual(['m-1']);
    expect(await store.outbox.list(AID)).toEqual([]);
  });

  it('keeps a send that met no connection, and a flush after a restart sends it once with the same id', async () => {
    const db = await fresh();
    let store = await db.open();
    let online = false;
    const attempts: string[] = [];
    const send = async (e: OutboxEntry) => {
      attempts.push(e.id);
      if (!online) throw new ConnectionLostError('no socket');
      return `ok ${e.id}`;
    };
    expect(await outbox(store, send).box.submit(entry('m-q'), 1000)).toBeNull();
    expect((await store.outbox.list(AID)).map((i) => [i.id, i.attempts])).toEqual([['m-q', 1]]);
    store.close();
    store = await db.open();
    online = true;
    const after = outbox(store, send);
    await after.box.flush();
    await after.box.flush();
    expect(after.sent).toEqual(['m-q']);
    expect(attempts).toEqual(['m-q', 'm-q']);
    expect(await store.outbox.list(AID)).toEqual([]);
  });

  it('answers "queued" at the deadline while a slow attempt goes on and settles the entry', async () => {
    const store = await (await fresh()).open();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { box, sent } = outbox(store, async (e) => {
      await gate;
      return `ok ${e.id}`;
    });
    expect(await box.submit(entry('m-slow'), 300)).toBeNull();
    expect((await store.outbox.list(AID)).map((i) => i.id)).toEqual(['m-slow']);
    release();
    await new Promise((r) => setTimeout(r, 50));
    expect(sent).toEqual(['m-slow']);
    expect(await store.outbox.list(AID)).toEqual([]);
  });

  it('drops a send the gateway refuses for good and reports it; a timeout keeps it', async () => {
    const store = await (await fresh()).open();
    const { box } = outbox(store, async (e) => {
      if (e.id === 'm-bad') throw new ValidationError('unknown target');
      throw new TimeoutError('no answer');
    });
    await expect(box.submit(entry('m-bad'), 1000)).rejects.toBeInstanceOf(ValidationError);
    expect(await box.submit(entry('m-slow'), 1000)).toBeNull();
    expect((await store.outbox.list(AID)).map((i) => i.id)).toEqual(['m-slow']);
  });

  it('sends strictly in the order they were made: a new send never overtakes a queued one', async () => {
    const store = await (await fresh()).open();
    let online = false;
    const gateway: string[] = [];
    const { box } = outbox(store, async (e) => {
      if (!online) throw new ConnectionLostError('no socket');
      await new Promise((r) => setTimeout(r, 5));
      gateway.push(e.id);
      return 'ok';
    });
    expect(await box.submit(entry('a1'), 500)).toBeNull();
    expect(await box.submit(entry('a2'), 500)).toBeNull();
    online = true;
    const flushing = box.flush();
    const late = box.submit(entry('b'), 2000);
    await flushing;
    expect(await late).toBe('ok');
    expect(gateway).toEqual(['a1', 'a2', 'b']);
  });

  it('a session lost for good (evicted) reports every queued send as failed and empties the outbox; the one in flight settles as it ends', async () => {
    const store = await (await fresh()).open();
    const attempts: ((v: string | Error) => void)[] = [];
    const { box, failed, sent } = outbox(store, () => new Promise<string>((resolve, reject) => attempts.push((v) => (typeof v === 'string' ? resolve(v) : reject(v)))));
    expect(await box.submit(entry('q1'), 200)).toBeNull();
    expect(await box.submit(entry('q2'), 200)).toBeNull();
    const awaited = box.submit(entry('q3'), 5_000);
    await new Promise((r) => setTimeout(r, 20));
    const evicted = new SessionError('another connection took over this identity');
    await box.abandon(evicted);
    await expect(awaited).rejects.toBe(evicted);
    expect(failed).toEqual(['q2']);
    // The attempt in flight loses its socket: reported too, not kept for a retry nobody makes.
    attempts[0]!(new ConnectionLostError('evicted'));
    await new Promise((r) => setTimeout(r, 20));
    expect(failed).toEqual(['q2', 'q1']);
    expect(sent).toEqual([]);
    expect(await store.outbox.list(AID)).toEqual([]);
    // A send while evicted fails at once instead of waiting in the outbox.
    const next = box.submit(entry('q4'), 5_000);
    await new Promise((r) => setTimeout(r, 20));
    attempts[1]!(new SessionError('not ready'));
    await expect(next).rejects.toBe(evicted);
    expect(await store.outbox.list(AID)).toEqual([]);
  });

  it('a queued send refused later is reported through failed; one refused while awaited only rejects', async () => {
    const store = await (await fresh()).open();
    let online = false;
    const { box, failed } = outbox(store, async (e) => {
      if (!online) throw new ConnectionLostError('no socket');
      throw new ValidationError(`refused ${e.id}`);
    });
    expect(await box.submit(entry('m-later'), 300)).toBeNull();
    online = true;
    await box.flush();
    expect(failed).toEqual(['m-later']);
    await expect(box.submit(entry('m-now'), 1000)).rejects.toBeInstanceOf(ValidationError);
    expect(failed).toEqual(['m-later']);
  });
});
