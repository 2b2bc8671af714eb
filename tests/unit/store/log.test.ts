import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore, StoreCorruptError, StoreError, type LogInput, type OutboxItem, type Store } from '../../../worker/store/index.ts';
import { DB, freshFactory, rawDb } from './support.ts';

const open: Store[] = [];
async function newStore(factory = freshFactory()): Promise<Store> {
  const s = await openStore({ name: DB, idbFactory: factory });
  open.push(s);
  return s;
}
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

const ev = (key: string, data: unknown = { key }): LogInput => ({ key, kind: 'message', data });
const lsns = async (s: Store, aid: string, after = 0, limit = 1_000): Promise<number[]> => (await s.log.since(aid, after, limit)).map((e) => e.lsn);

function item(id: string, createdAt: number, over: Partial<OutboxItem> = {}): OutboxItem {
  return { id, kind: 'message.send', body: { to: 'bob', id }, createdAt, attempts: 0, ...over };
}

describe('log.commit', () => {
  it('appends lsn 1, 2, 3… per AID and returns what it stored', async () => {
    const s = await newStore();
    expect(await s.log.last('alice')).toBe(0);
    const data = { text: 'hi', bytes: new Uint8Array([1, 2]), when: new Date(5), tags: new Map([['a', 1]]) };
    const t0 = Date.now();
    const first = await s.log.commit('alice', null, [ev('p2p:m1', data), { key: 'group:g1:m2', kind: 'group.message', data: null }]);
    const t1 = Date.now();
    expect(first).toEqual([
      { lsn: 1, key: 'p2p:m1', kind: 'message', data, at: expect.any(Number) },
      { lsn: 2, key: 'group:g1:m2', kind: 'group.message', data: null, at: expect.any(Number) },
    ]);
    expect(first[0]!.at).toBeGreaterThanOrEqual(t0);
    expect(first[0]!.at).toBeLessThanOrEqual(t1);
    expect((await s.log.commit('alice', null, [ev('p2p:m3')]))[0]?.lsn).toBe(3);
    expect((await s.log.commit('bob', null, [ev('p2p:m1')]))[0]?.lsn).toBe(1);
    expect(await s.log.last('alice')).toBe(3);
    expect(await s.log.last('bob')).toBe(1);
    const read = await s.log.since('alice', 0, 10);
    expect(read.slice(0, 2)).toEqual(first);
    expect(read[0]!.data).not.toBe(data);
    expect(Object.keys(read[0]!).sort()).toEqual(['at', 'data', 'key', 'kind', 'lsn']);
  });

  it('moves the cursor in the same call; null leaves cursors alone; no inputs is a cursor-only commit', async () => {
    const s = await newStore();
    await s.cursors.put('alice', 'group:g1', 3);
    await s.log.commit('alice', { ns: 'p2p:bob', seq: 7 }, [ev('p2p:m1')]);
    expect(await s.cursors.all('alice')).toEqual({ 'group:g1': 3, 'p2p:bob': 7 });
    await s.log.commit('alice', null, [ev('p2p:m2')]);
    expect(await s.cursors.all('alice')).toEqual({ 'group:g1': 3, 'p2p:bob': 7 });
    expect(await s.log.commit('alice', { ns: 'group:g1', seq: 4 }, [])).toEqual([]);
    expect(await s.cursors.get('alice', 'group:g1')).toBe(4);
    expect(await s.log.last('alice')).toBe(2);
  });

  it('a duplicate key (already logged or earlier in the same call) returns null, takes no lsn, and the cursor still moves', async () => {
    const s = await newStore();
    await s.log.commit('alice', null, [ev('p2p:m1')]);
    const out = await s.log.commit('alice', { ns: 'p2p:bob', seq: 2 }, [ev('p2p:m1'), ev('p2p:m2'), ev('p2p:m2', 'again'), ev('p2p:m3')]);
    expect(out.map((e) => e?.lsn ?? null)).toEqual([null, 2, null, 3]);
    expect(out[1]?.data).toEqual({ key: 'p2p:m2' });
    expect(await s.cursors.get('alice', 'p2p:bob')).toBe(2);
    expect(await s.log.commit('alice', { ns: 'p2p:bob', seq: 3 }, [ev('p2p:m3')])).toEqual([null]);
    expect(await s.cursors.get('alice', 'p2p:bob')).toBe(3);
    expect(await lsns(s, 'alice')).toEqual([1, 2, 3]);
    expect((await s.log.since('alice', 0, 10)).map((e) => e.key)).toEqual(['p2p:m1', 'p2p:m2', 'p2p:m3']);
    // Keys are per AID.
    expect((await s.log.commit('bob', null, [ev('p2p:m1')]))[0]?.lsn).toBe(1);
  });

  it('concurrent commits on one AID get distinct consecutive lsn and dedup against each other', async () => {
    const s = await newStore();
    const results = await Promise.all([
      s.log.commit('alice', { ns: 'n', seq: 1 }, [ev('a'), ev('b')]),
      s.log.commit('alice', { ns: 'n', seq: 2 }, [ev('b'), ev('c')]),
      s.log.commit('alice', { ns: 'n', seq: 3 }, [ev('c'), ev('d')]),
    ]);
    const stored = results.flat().filter((e) => e !== null);
    expect(stored.map((e) => e.key).sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(stored.map((e) => e.lsn).sort()).toEqual([1, 2, 3, 4]);
    expect(await lsns(s, 'alice')).toEqual([1, 2, 3, 4]);
    expect(await s.cursors.get('alice', 'n')).toBe(3);
  });

  it('writes one row and reads no dedup key while every key is new; a logged one makes it add nothing, then read each key and land the rest once', async () => {
    const s = await newStore();
    await s.log.commit('alice', null, [ev('p2p:m1')]);
    const getKey = vi.spyOn(globalThis.IDBIndex.prototype, 'getKey');
    const add = vi.spyOn(globalThis.IDBObjectStore.prototype, 'add');
    try {
      const keys = Array.from({ length: 50 }, (_, i) => `p2p:n${i}`);
      const fast = await s.log.commit('alice', { ns: 'p2p:bob', seq: 5 }, [...keys.map((k) => ev(k)), ev('p2p:n7')]);
      expect(fast.map((e) => e?.lsn ?? null)).toEqual([...keys.map((_, i) => i + 2), null]);
      expect(getKey).not.toHaveBeenCalled();
      expect(add).toHaveBeenCalledTimes(1);

      add.mockClear();
      const out = await s.log.commit('alice', { ns: 'p2p:bob', seq: 6 }, [ev('p2p:x1'), ev('p2p:n3'), ev('p2p:x2')]);
      expect(out.map((e) => e?.lsn ?? null)).toEqual([52, null, 53]);
      // The refused attempt added its row, the careful one read each key and added the new ones.
      expect(getKey).toHaveBeenCalledTimes(3);
      expect(add).toHaveBeenCalledTimes(2);
    } finally {
      getKey.mockRestore();
      add.mockRestore();
    }
    expect(await lsns(s, 'alice')).toEqual(Array.from({ length: 53 }, (_, i) => i + 1));
    const keysInOrder = (await s.log.since('alice', 49, 10)).map((e) => e.key);
    expect(keysInOrder).toEqual(['p2p:n48', 'p2p:n49', 'p2p:x1', 'p2p:x2']);
    expect(await s.cursors.get('alice', 'p2p:bob')).toBe(6);
  });

  it('a commit that has to run again still lands before the commits called after it', async () => {
    const s = await newStore();
    await s.log.commit('alice', null, [ev('old')]);
    const [first, again, later] = await Promise.all([
      s.log.commit('alice', { ns: 'n', seq: 1 }, [ev('a')]),
      s.log.commit('alice', { ns: 'n', seq: 2 }, [ev('b'), ev('old'), ev('c')]),
      s.log.commit('alice', { ns: 'n', seq: 3 }, [ev('d')]),
    ]);
    expect(first.map((e) => e?.lsn ?? null)).toEqual([2]);
    expect(again.map((e) => e?.lsn ?? null)).toEqual([3, null, 4]);
    expect(later.map((e) => e?.lsn ?? null)).toEqual([5]);
    expect((await s.log.since('alice', 0, 10)).map((e) => e.key)).toEqual(['old', 'a', 'b', 'c', 'd']);
    expect(await s.cursors.get('alice', 'n')).toBe(3);
  });

  it('is all or nothing: a value that cannot be stored writes neither the cursor nor any entry', async () => {
    const factory = freshFactory();
    const s = await newStore(factory);
    await s.log.commit('alice', { ns: 'p2p:bob', seq: 4 }, [ev('p2p:m1')]);

    const p = s.log.commit('alice', { ns: 'p2p:bob', seq: 9 }, [ev('p2p:m2'), { key: 'p2p:m3', kind: 'message', data: { f: () => 1 } }, ev('p2p:m4')]);
    await expect(p).rejects.toThrow(StoreError);
    await expect(p).rejects.toThrow(/^log\.commit: the value cannot be stored/);
    await expect(s.log.commit('alice', { ns: 'group:g1', seq: 1 }, [ev('x', () => 1)])).rejects.toThrow(/cannot be stored/);

    expect(await s.cursors.all('alice')).toEqual({ 'p2p:bob': 4 });
    expect(await s.log.last('alice')).toBe(1);
    expect((await s.log.since('alice', 0, 10)).map((e) => e.key)).toEqual(['p2p:m1']);
    const raw = await rawDb(factory);
    expect(await raw.getAllKeys('log')).toEqual([['alice', 1]]);
    raw.close();

    // Nothing of the failed call is remembered: its keys are new, its lsn are free.
    const again = await s.log.commit('alice', { ns: 'p2p:bob', seq: 9 }, [ev('p2p:m2'), ev('p2p:m4')]);
    expect(again.map((e) => e?.lsn)).toEqual([2, 3]);
    expect(await s.cursors.get('alice', 'p2p:bob')).toBe(9);
  });

  it('lsn continue across re-opens', async () => {
    const factory = freshFactory();
    const a = await openStore({ name: DB, idbFactory: factory });
    await a.log.commit('alice', null, [ev('1'), ev('2'), ev('3')]);
    a.close();
    const b = await newStore(factory);
    expect(await b.log.last('alice')).toBe(3);
    expect((await b.log.commit('alice', null, [ev('3'), ev('4')])).map((e) => e?.lsn ?? null)).toEqual([null, 4]);
  });
});

describe('log.since / last / prune', () => {
  it('since returns the entries after a cursor, ascending, at most limit, of that AID only', async () => {
    const s = await newStore();
    await s.log.commit('alice', null, [ev('1'), ev('2'), ev('3')]);
    await s.log.commit('ali', null, [ev('x')]);
    await s.log.commit('alice', null, [ev('4'), ev('5')]);
    await s.log.commit('alicf', null, [ev('y')]);
    expect(await lsns(s, 'alice')).toEqual([1, 2, 3, 4, 5]);
    expect(await lsns(s, 'alice', 0, 2)).toEqual([1, 2]);
    expect(await lsns(s, 'alice', 2, 2)).toEqual([3, 4]);
    expect(await lsns(s, 'alice', 4, 100)).toEqual([5]);
    expect(await lsns(s, 'alice', 5, 100)).toEqual([]);
    expect(await lsns(s, 'alice', 99, 100)).toEqual([]);
    expect(await lsns(s, 'nobody')).toEqual([]);
    expect((await s.log.since('alice', 3, 1))[0]).toMatchObject({ lsn: 4, key: '4', kind: 'message', data: { key: '4' } });
  });

  it('prune keeps the newest `keep` entries, the lsn sequence goes on, and since starts at the oldest kept', async () => {
    const s = await newStore();
    await s.log.commit('alice', null, [ev('1'), ev('2'), ev('3'), ev('4'), ev('5')]);
    await s.log.commit('bob', null, [ev('1'), ev('2')]);
    expect(await s.log.prune('alice', 5)).toBe(0);
    expect(await s.log.prune('alice', 10)).toBe(0);
    expect(await s.log.prune('alice', 2)).toBe(3);
    expect(await lsns(s, 'alice')).toEqual([4, 5]);
    expect(await lsns(s, 'alice', 1)).toEqual([4, 5]);
    expect(await lsns(s, 'alice', 4)).toEqual([5]);
    expect(await s.log.last('alice')).toBe(5);
    expect(await s.log.prune('alice', 2)).toBe(0);
    expect(await lsns(s, 'bob')).toEqual([1, 2]);
    // The dedup window is the log: a pruned key is new again; a kept one is not.
    const out = await s.log.commit('alice', null, [ev('1'), ev('5'), ev('6')]);
    expect(out.map((e) => e?.lsn ?? null)).toEqual([6, null, 7]);
    expect(await s.log.prune('alice', 1)).toBe(3);
    expect(await lsns(s, 'alice')).toEqual([7]);
    expect(await s.log.prune('nobody', 1)).toBe(0);
  });

  it('a commit is one row; since, redact and prune work on entries inside it', async () => {
    const factory = freshFactory();
    const s = await newStore(factory);
    await s.log.commit('alice', null, [ev('1'), ev('2'), ev('3'), ev('4'), ev('5')]);
    const raw = await rawDb(factory);
    expect(await raw.getAllKeys('log')).toEqual([['alice', 5]]);
    expect(await lsns(s, 'alice', 2, 2)).toEqual([3, 4]);
    expect(await s.log.redact('alice', '3', (d) => ({ was: d }))).toBe(3);
    expect((await s.log.since('alice', 0, 10)).map((e) => e.data)).toEqual([{ key: '1' }, { key: '2' }, { was: { key: '3' } }, { key: '4' }, { key: '5' }]);
    expect(await s.log.prune('alice', 2)).toBe(3);
    expect(await raw.getAllKeys('log')).toEqual([['alice', 5]]);
    expect(((await raw.get('log', ['alice', 5])) as { keys: unknown }).keys).toEqual([['alice', '4'], ['alice', '5']]);
    raw.close();
    expect((await s.log.commit('alice', null, [ev('3'), ev('4')])).map((e) => e?.lsn ?? null)).toEqual([6, null]);
    expect(await lsns(s, 'alice')).toEqual([4, 5, 6]);
  });

  it('needs no global IDBKeyRange', async () => {
    const g = globalThis as { IDBKeyRange?: unknown };
    const saved = g.IDBKeyRange;
    delete g.IDBKeyRange;
    try {
      const s = await newStore();
      await s.log.commit('alice', { ns: 'n', seq: 1 }, [ev('1'), ev('2'), ev('3')]);
      expect(await s.log.last('alice')).toBe(3);
      expect(await lsns(s, 'alice', 1, 1)).toEqual([2]);
      expect(await s.log.prune('alice', 1)).toBe(2);
      await s.outbox.put('alice', item('m1', 1));
      expect((await s.outbox.list('alice')).map((i) => i.id)).toEqual(['m1']);
      await s.identities.remove('alice');
      expect(await s.log.last('alice')).toBe(0);
    } finally {
      g.IDBKeyRange = saved;
    }
  });
});

describe('outbox', () => {
  it('lists oldest first (createdAt, then id), per AID; put overwrites by id; remove', async () => {
    const s = await newStore();
    expect(await s.outbox.list('alice')).toEqual([]);
    await s.outbox.put('alice', item('m-c', 20));
    await s.outbox.put('alice', item('m-b', 10));
    await s.outbox.put('alice', item('m-a', 20));
    await s.outbox.put('alice', item('m-0', 30));
    await s.outbox.put('bob', item('m-z', 1));
    expect((await s.outbox.list('alice')).map((i) => i.id)).toEqual(['m-b', 'm-a', 'm-c', 'm-0']);
    expect((await s.outbox.list('alice'))[0]).toEqual(item('m-b', 10));

    await s.outbox.put('alice', item('m-b', 10, { attempts: 2 }));
    expect((await s.outbox.list('alice'))[0]).toEqual(item('m-b', 10, { attempts: 2 }));
    await s.outbox.remove('alice', 'm-a');
    await s.outbox.remove('alice', 'not-there');
    expect((await s.outbox.list('alice')).map((i) => i.id)).toEqual(['m-b', 'm-c', 'm-0']);
    expect((await s.outbox.list('bob')).map((i) => i.id)).toEqual(['m-z']);
  });

  it('lists rows with a seq by seq, whatever their createdAt, after rows without one (stored before seq existed)', async () => {
    const s = await newStore();
    await s.outbox.put('alice', item('m-3', 5, { seq: 3 }));
    await s.outbox.put('alice', item('m-1', 50, { seq: 1 }));
    await s.outbox.put('alice', item('m-old', 90));
    await s.outbox.put('alice', item('m-2', 50, { seq: 2 }));
    expect((await s.outbox.list('alice')).map((i) => [i.id, i.seq])).toEqual([['m-old', undefined], ['m-1', 1], ['m-2', 2], ['m-3', 3]]);
    expect((await s.outbox.list('alice'))[0]).not.toHaveProperty('seq');
  });

  it('stores only the declared fields; the body is structured-cloned', async () => {
    const s = await newStore();
    const body = { bytes: new Uint8Array([9]), at: new Date(1) };
    await s.outbox.put('alice', { ...item('m1', 1, { body }), aid: 'mallory', extra: true } as OutboxItem);
    const [got] = await s.outbox.list('alice');
    expect(got).toEqual(item('m1', 1, { body }));
    expect(Object.keys(got!).sort()).toEqual(['attempts', 'body', 'createdAt', 'id', 'kind']);
    expect(await s.outbox.list('mallory')).toEqual([]);
  });
});

describe('identities.remove', () => {
  it('also removes the log and outbox of that AID only', async () => {
    const factory = freshFactory();
    const s = await newStore(factory);
    for (const aid of ['ali', 'alice', 'bob']) {
      await s.log.commit(aid, { ns: 'p2p:carol', seq: 2 }, [ev('1'), ev('2')]);
      await s.outbox.put(aid, item('m1', 1));
    }
    await s.identities.remove('alice');
    expect(await s.log.last('alice')).toBe(0);
    expect(await s.log.since('alice', 0, 10)).toEqual([]);
    expect(await s.outbox.list('alice')).toEqual([]);
    expect(await s.cursors.all('alice')).toEqual({});
    for (const aid of ['ali', 'bob']) {
      expect(await lsns(s, aid)).toEqual([1, 2]);
      expect((await s.outbox.list(aid)).map((i) => i.id)).toEqual(['m1']);
    }
    const raw = await rawDb(factory);
    expect(await raw.getAllKeysFromIndex('log', 'by_aid', 'alice')).toEqual([]);
    expect(await raw.getAllKeysFromIndex('log', 'by_key', ['alice', '1'])).toEqual([]);
    expect(await raw.getAllKeysFromIndex('outbox', 'by_aid', 'alice')).toEqual([]);
    raw.close();
    // A re-added AID starts a new log: its old keys are not duplicates.
    expect((await s.log.commit('alice', null, [ev('1')]))[0]?.lsn).toBe(1);
  });
});

describe('bad rows', () => {
  it('log rows that fail validation are named and never returned', async () => {
    const factory = freshFactory();
    const s = await newStore(factory);
    const raw = await rawDb(factory);
    const run = (aid: string, lsn: number, entries: unknown, at: unknown = 1) => ({ aid, lsn, at, keys: [[aid, 'k1']], entries });
    await raw.put('log', run('alice', 1, [{ key: 'k1', kind: 42, data: 1 }]));
    await raw.put('log', run('bob', 1, [{ key: 'k1', kind: 'message' }]));
    await raw.put('log', run('carol', 1, [{ key: 'k1', kind: 'message', data: 1 }], 'yesterday'));
    // Three entries cannot end at lsn 2; in a row of three, the second is named by its own lsn.
    await raw.put('log', run('dave', 2, [{ key: 'a', kind: 'm', data: 1 }, { key: 'b', kind: 'm', data: 2 }, { key: 'c', kind: 'm', data: 3 }]));
    await raw.put('log', run('erin', 3, [{ key: 'a', kind: 'm', data: 1 }, { key: '', kind: 'm', data: 2 }, { key: 'c', kind: 'm', data: 3 }]));
    await raw.put('log', run('fred', 1, 'nothing'));
    raw.close();
    await expect(s.log.since('dave', 0, 10)).rejects.toThrow(/^log\["dave","2"\] is corrupt: field entries should be 1 to 2 entries ending at lsn 2, found an array$/);
    await expect(s.log.since('erin', 0, 10)).rejects.toThrow(/^log\["erin","2"\] is corrupt: field key should be a non-empty string, found ""$/);
    await expect(s.log.since('fred', 0, 10)).rejects.toThrow(/^log\["fred","1"\] is corrupt: field entries should be 1 to 1 entries ending at lsn 1, found "nothing"$/);
    await expect(s.log.since('alice', 0, 10)).rejects.toThrow(/^log\["alice","1"\] is corrupt: field kind should be a non-empty string, found 42$/);
    await expect(s.log.since('bob', 0, 10)).rejects.toThrow(/^log\["bob","1"\] is corrupt: no data field$/);
    const err = await s.log.since('carol', 0, 10).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreCorruptError);
    expect((err as StoreCorruptError).data).toEqual({ store: 'log', key: ['carol', '1'] });
  });

  it('prune goes past corrupt rows: one wholly before the cut is dropped, one the cut goes through stays', async () => {
    const factory = freshFactory();
    const s = await newStore(factory);
    const raw = await rawDb(factory);
    await raw.put('log', { aid: 'alice', lsn: 1, at: 1, keys: [['alice', 'k0']], entries: 'nothing' });
    raw.close();
    for (const k of ['k2', 'k3', 'k4']) await s.log.commit('alice', null, [ev(k)]);
    // Before, the unreadable oldest row made every prune throw, and the log grew without end.
    expect(await s.log.prune('alice', 2)).toBe(2);
    expect(await lsns(s, 'alice')).toEqual([3, 4]);

    await s.log.commit('bob', null, [ev('b1'), ev('b2')]);
    const raw2 = await rawDb(factory);
    await raw2.put('log', { aid: 'bob', lsn: 3, at: 1, keys: [['bob', 'b3']], entries: 'nothing' });
    raw2.close();
    await s.log.commit('bob', null, [ev('b4'), ev('b5')]);
    expect(await s.log.prune('bob', 3)).toBe(2);
    await expect(s.log.since('bob', 0, 10)).rejects.toThrow(/^log\["bob","3"\] is corrupt/);
    expect(await lsns(s, 'bob', 3)).toEqual([4, 5]);
  });

  it('a log key that is not a positive integer lsn fails last() and commit(), and the commit writes nothing', async () => {
    const factory = freshFactory();
    const s = await newStore(factory);
    await s.log.commit('alice', { ns: 'n', seq: 1 }, [ev('1')]);
    const raw = await rawDb(factory);
    // A string sorts after every number, so it poses as the last lsn.
    await raw.put('log', { aid: 'alice', lsn: 'x', key: 'kx', kind: 'message', data: 1, at: 1 });
    await raw.put('log', { aid: 'bob', lsn: 1.5, key: 'k', kind: 'message', data: 1, at: 1 });
    raw.close();
    await expect(s.log.last('alice')).rejects.toThrow(StoreCorruptError);
    await expect(s.log.last('alice')).rejects.toThrow(/^log\["alice","x"\] is corrupt: lsn should be a positive safe integer, found "x"$/);
    await expect(s.log.commit('alice', { ns: 'n', seq: 2 }, [ev('2')])).rejects.toThrow(StoreCorruptError);
    expect(await s.cursors.get('alice', 'n')).toBe(1);
    await expect(s.log.since('alice', 1, 10)).rejects.toThrow(/log\["alice","x"\] is corrupt/);
    expect(await lsns(s, 'alice', 0, 1)).toEqual([1]);
    await expect(s.log.last('bob')).rejects.toThrow(/log\["bob","1\.5"\] is corrupt/);
    await expect(s.log.since('bob', 0, 10)).rejects.toThrow(/log\["bob","1\.5"\] is corrupt: lsn/);
  });

  it('outbox rows that fail validation are named and never returned', async () => {
    const factory = freshFactory();
    const s = await newStore(factory);
    const raw = await rawDb(factory);
    await raw.put('outbox', { aid: 'alice', id: 'm1', kind: 'message.send', body: {}, createdAt: 1, attempts: -1 });
    await raw.put('outbox', { aid: 'bob', id: 'm1', kind: 'message.send', createdAt: 1, attempts: 0 });
    await raw.put('outbox', { aid: 'carol', id: 'm1', kind: 'message.send', body: {}, createdAt: 1, attempts: 0, seq: 'first' });
    raw.close();
    await expect(s.outbox.list('alice')).rejects.toThrow(/^outbox\["alice","m1"\] is corrupt: field attempts should be a non-negative safe integer, found -1$/);
    await expect(s.outbox.list('bob')).rejects.toThrow(/^outbox\["bob","m1"\] is corrupt: no body field$/);
    await expect(s.outbox.list('bob')).rejects.toThrow(StoreCorruptError);
    await expect(s.outbox.list('carol')).rejects.toThrow(/^outbox\["carol","m1"\] is corrupt: field seq should be a non-negative safe integer, found "first"$/);
  });
});

describe('bad input', () => {
  it('is refused with a StoreError that names the operation and the field, before anything is written', async () => {
    const s = await newStore();
    const cases: [() => Promise<unknown>, RegExp][] = [
      [() => s.log.commit('', null, []), /^log\.commit: aid must be a non-empty string, got ""$/],
      [() => s.log.commit('alice', { ns: '', seq: 1 }, [ev('1')]), /^log\.commit: cursor\.ns must be a non-empty string/],
      [() => s.log.commit('alice', { ns: 'n', seq: -1 }, [ev('1')]), /^log\.commit: cursor\.seq must be a non-negative safe integer, got -1$/],
      [() => s.log.commit('alice', { ns: 'n', seq: 1.5 }, [ev('1')]), /cursor\.seq must be a non-negative safe integer/],
      [() => s.log.commit('alice', 'n' as never, [ev('1')]), /^log\.commit: cursor must be \{ ns, seq \}, an array of them, or null/],
      [() => s.log.commit('alice', undefined as never, [ev('1')]), /^log\.commit: cursor must be \{ ns, seq \}, an array of them, or null, got undefined$/],
      [() => s.log.commit('alice', [{ ns: 'p2p', seq: 1 }, { ns: 'p2p', seq: -1 }], [ev('1')]), /^log\.commit: cursor\.seq/],
      [() => s.log.commit('alice', null, ev('1') as never), /^log\.commit: inputs must be an array, got an object$/],
      [() => s.log.commit('alice', { ns: 'n', seq: 1 }, [ev('1'), null as never]), /^log\.commit: inputs\[1\] must be \{ key, kind, data \}, got null$/],
      [() => s.log.commit('alice', { ns: 'n', seq: 1 }, [ev('1'), ev('')]), /^log\.commit: inputs\[1\]\.key must be a non-empty string, got ""$/],
      [() => s.log.commit('alice', null, [{ key: 'k', kind: 7, data: 1 } as never]), /^log\.commit: inputs\[0\]\.kind must be a non-empty string, got 7$/],
      [() => s.log.since('alice', -1, 10), /^log\.since: afterLsn must be a non-negative safe integer, got -1$/],
      [() => s.log.since('alice', 1.5, 10), /afterLsn must be a non-negative safe integer/],
      [() => s.log.since('alice', 0, 0), /^log\.since: limit must be a positive safe integer, got 0$/],
      [() => s.log.since('alice', 0, Number.POSITIVE_INFINITY), /limit must be a positive safe integer, got Infinity/],
      [() => s.log.since('', 0, 1), /^log\.since: aid must be a non-empty string/],
      [() => s.log.last(1 as never), /^log\.last: aid must be a non-empty string, got 1$/],
      [() => s.log.prune('alice', 0), /^log\.prune: keep must be a positive safe integer, got 0$/],
      [() => s.log.prune('alice', -3), /keep must be a positive safe integer/],
      [() => s.outbox.put('', item('m1', 1)), /^outbox\.put: aid must be a non-empty string/],
      [() => s.outbox.put('alice', null as never), /^outbox\.put: expected an outbox item, got null$/],
      [() => s.outbox.put('alice', item('', 1)), /^outbox\.put: id must be a non-empty string, got ""$/],
      [() => s.outbox.put('alice', item('m1', 1, { kind: '' })), /^outbox\.put: kind must be a non-empty string/],
      [() => s.outbox.put('alice', item('m1', Number.NaN)), /^outbox\.put: createdAt must be a finite number \(ms\), got NaN$/],
      [() => s.outbox.put('alice', item('m1', 1, { attempts: 1.5 })), /^outbox\.put: attempts must be a non-negative safe integer, got 1\.5$/],
      [() => s.outbox.put('alice', item('m1', 1, { seq: -1 })), /^outbox\.put: seq must be a non-negative safe integer, got -1$/],
      [() => s.outbox.put('alice', item('m1', 1, { body: undefined })), /^outbox\.put: body is undefined/],
      [() => s.outbox.put('alice', item('m1', 1, { body: { f: () => 1 } })), /^outbox\.put: the value cannot be stored/],
      [() => s.outbox.list(''), /^outbox\.list: aid must be a non-empty string/],
      [() => s.outbox.remove('alice', ''), /^outbox\.remove: id must be a non-empty string/],
    ];
    for (const [call, message] of cases) {
      const err = await call().then(
        () => new Error(`resolved, expected ${message}`),
        (e: unknown) => e,
      );
      expect(err, String(message)).toBeInstanceOf(StoreError);
      expect(err, String(message)).not.toBeInstanceOf(StoreCorruptError);
      expect((err as Error).message).toMatch(message);
    }
    expect(await s.log.last('alice')).toBe(0);
    expect(await s.cursors.all('alice')).toEqual({});
    expect(await s.outbox.list('alice')).toEqual([]);
  });

  it('calls after close() reject with StoreError', async () => {
    const s = await openStore({ name: DB, idbFactory: freshFactory() });
    s.close();
    await expect(s.log.commit('alice', null, [ev('1')])).rejects.toThrow(/^log\.commit: store ".*" is closed$/);
    await expect(s.log.since('alice', 0, 1)).rejects.toThrow(StoreError);
    await expect(s.outbox.list('alice')).rejects.toThrow(/^outbox\.list: .* is closed/);
  });
});
