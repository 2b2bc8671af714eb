import { describe, expect, it, vi } from 'vitest';
import { DB_VERSION, openStore, StoreBlockedError, StoreError } from '../../../worker/store/index.ts';
import { isSchemaInfo, openDatabase } from '../../../worker/store/open.ts';
import { MIGRATIONS, type Migration } from '../../../worker/store/schema.ts';
import { openStoreWith } from '../../../worker/store/store.ts';
import { DB, freshFactory, rawDb } from './support.ts';

type Raw = Awaited<ReturnType<typeof rawDb>>;

function expectLogStores(raw: Raw, version: 3 | 4): void {
  const tx = raw.transaction(['log', 'outbox']);
  const log = tx.objectStore('log');
  expect(log.keyPath).toEqual(['aid', 'lsn']);
  expect([...log.indexNames].sort()).toEqual(['by_aid', 'by_key']);
  expect(log.index('by_aid').keyPath).toBe('aid');
  expect(log.index('by_key').keyPath).toEqual(version === 3 ? ['aid', 'key'] : 'keys');
  expect(log.index('by_key').multiEntry).toBe(version === 4);
  expect(log.index('by_key').unique).toBe(true);
  const outbox = tx.objectStore('outbox');
  expect(outbox.keyPath).toEqual(['aid', 'id']);
  expect([...outbox.indexNames]).toEqual(['by_aid']);
  expect(outbox.index('by_aid').keyPath).toBe('aid');
}

const NEXT = DB_VERSION + 1;
const nextNoop: Migration = { version: NEXT, description: `test-only v${NEXT}`, upgrade() {} };

describe('migrations', () => {
  it('are ordered: MIGRATIONS[i] produces v(i+1), the last one DB_VERSION', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(Array.from({ length: DB_VERSION }, (_, i) => i + 1));
  });

  it('a fresh database gets the current schema and its history in meta', async () => {
    const factory = freshFactory();
    (await openStore({ name: DB, idbFactory: factory })).close();
    const raw = await rawDb(factory);
    expect([...raw.objectStoreNames].sort()).toEqual(['cursors', 'identities', 'keys', 'kv', 'log', 'meta', 'outbox', 'tokens']);
    expect(raw.transaction('cursors').store.keyPath).toEqual(['aid', 'ns']);
    expectLogStores(raw, 4);
    const info = await raw.get('meta', 'schema');
    raw.close();
    expect(isSchemaInfo(info)).toBe(true);
    expect(info).toMatchObject({ version: DB_VERSION, history: [{ from: 0, to: DB_VERSION }] });
  });

  it('v1 -> v2 moves per-AID cursor maps to one row per (aid, ns) and keeps everything else', async () => {
    const factory = freshFactory();
    const v1 = await openDatabase({ name: DB, version: 1, factory });
    expect(v1.transaction('cursors').store.keyPath).toBe('aid');
    const w = v1 as unknown as {
      put(store: string, value: unknown, key?: IDBValidKey): Promise<unknown>;
    };
    await w.put('cursors', { aid: 'alice', seqs: { 'p2p:bob': 5, 'group:g1': 7, 'bad-negative': -1, 'bad-float': 1.5 } });
    await w.put('cursors', { aid: 'bob', seqs: { 'p2p:alice': 3 } });
    await w.put('cursors', { aid: 'zed', seqs: 'not a map' });
    await w.put('identities', { aid: 'alice', certPem: 'pem', gatewayUrl: 'wss://gw/ws', createdAt: 1, updatedAt: 2 });
    await w.put('kv', { aid: 'alice', key: 'k', value: [1, 2] });
    await w.put('tokens', { aid: 'alice', accessToken: 'a', accessExpiresAt: 9, refreshToken: 'r', obtainedAt: 1 });
    await w.put('meta', 'device-from-v1', 'deviceId');
    v1.close();

    const s = await openStore({ name: DB, idbFactory: factory });
    expect(await s.cursors.all('alice')).toEqual({ 'p2p:bob': 5, 'group:g1': 7 });
    expect(await s.cursors.get('bob', 'p2p:alice')).toBe(3);
    expect(await s.cursors.all('zed')).toEqual({});
    expect(await s.identities.get('alice')).toEqual({ aid: 'alice', certPem: 'pem', gatewayUrl: 'wss://gw/ws', createdAt: 1, updatedAt: 2 });
    expect(await s.kv.get('alice', 'k')).toEqual([1, 2]);
    expect((await s.tokens.get('alice'))?.accessToken).toBe('a');
    expect(await s.deviceId()).toBe('device-from-v1');
    await s.cursors.put('alice', 'p2p:bob', 6);
    expect(await s.cursors.get('alice', 'p2p:bob')).toBe(6);
    s.close();

    const raw = await rawDb(factory);
    expect(await raw.getAllFromIndex('cursors', 'by_aid', 'alice')).toEqual([
      { aid: 'alice', ns: 'group:g1', seq: 7 },
      { aid: 'alice', ns: 'p2p:bob', seq: 6 },
    ]);
    expect(await raw.get('meta', 'schema')).toMatchObject({ version: DB_VERSION, history: [{ from: 0, to: 1 }, { from: 1, to: DB_VERSION }] });
    raw.close();
  });

  it('v2 -> v3 adds an empty log and outbox and keeps everything else', async () => {
    const factory = freshFactory();
    const v2 = await openDatabase({ name: DB, version: 2, factory });
    expect([...v2.objectStoreNames]).not.toContain('log');
    await v2.put('identities', { aid: 'alice', certPem: 'pem', gatewayUrl: 'wss://gw/ws', createdAt: 1, updatedAt: 2 });
    await v2.put('cursors', { aid: 'alice', ns: 'p2p:bob', seq: 5 });
    await v2.put('kv', { aid: 'alice', key: 'k', value: { a: 1 } });
    await v2.put('tokens', { aid: 'alice', accessToken: 'a', accessExpiresAt: 9, refreshToken: 'r', obtainedAt: 1 });
    await v2.put('meta', 'device-from-v2', 'deviceId');
    v2.close();

    const s = await openStore({ name: DB, idbFactory: factory });
    expect(await s.identities.get('alice')).toEqual({ aid: 'alice', certPem: 'pem', gatewayUrl: 'wss://gw/ws', createdAt: 1, updatedAt: 2 });
    expect(await s.cursors.all('alice')).toEqual({ 'p2p:bob': 5 });
    expect(await s.kv.get('alice', 'k')).toEqual({ a: 1 });
    expect((await s.tokens.get('alice'))?.accessToken).toBe('a');
    expect(await s.deviceId()).toBe('device-from-v2');
    expect(await s.log.last('alice')).toBe(0);
    expect(await s.outbox.list('alice')).toEqual([]);
    const [entry] = await s.log.commit('alice', { ns: 'p2p:bob', seq: 6 }, [{ key: 'p2p:m1', kind: 'message', data: 1 }]);
    expect(entry?.lsn).toBe(1);
    s.close();

    const raw = await rawDb(factory);
    expectLogStores(raw, 4);
    expect(await raw.get('meta', 'schema')).toMatchObject({ version: DB_VERSION, history: [{ from: 0, to: 2 }, { from: 2, to: DB_VERSION }] });
    raw.close();
  });

  it('v3 -> v4 packs the log rows of each AID and keeps every entry, its lsn, at, order and dedup; a corrupt row stays alone', async () => {
    const factory = freshFactory();
    const v3 = await openDatabase({ name: DB, version: 3, factory });
    expectLogStores(v3, 3);
    const row = (aid: string, lsn: number, key: string, data: unknown = { key }) => ({ aid, lsn, key, kind: 'message', data, at: 100 + lsn });
    const alice = [1, 2, 3, 4, 5].map((n) => row('alice', n, `p2p:m${n}`, n === 3 ? { bytes: new Uint8Array([3]) } : undefined));
    for (const r of [...alice, row('bob', 1, 'p2p:m1'), row('bob', 2, 'p2p:m2')]) await v3.put('log', r);
    await v3.put('log', { aid: 'carol', lsn: 1, key: 'k', kind: 42, data: 1, at: 1 });
    for (const r of [row('dave', 1, 'a'), { ...row('dave', 2, 'b'), kind: 42 }, row('dave', 3, 'c'), row('dave', 4, 'd')]) await v3.put('log', r);
    await v3.put('cursors', { aid: 'alice', ns: 'p2p:bob', seq: 5 });
    v3.close();

    const s = await openStore({ name: DB, idbFactory: factory });
    expect(await s.log.since('alice', 0, 10)).toEqual(alice.map(({ lsn, key, kind, data, at }) => ({ lsn, key, kind, data, at })));
    expect(await s.log.since('alice', 3, 1)).toEqual([{ lsn: 4, key: 'p2p:m4', kind: 'message', data: { key: 'p2p:m4' }, at: 104 }]);
    expect(await s.log.last('alice')).toBe(5);
    expect(await s.log.last('bob')).toBe(2);
    expect(await s.cursors.all('alice')).toEqual({ 'p2p:bob': 5 });
    // The old keys still dedup, the lsn sequence goes on.
    const out = await s.log.commit('alice', { ns: 'p2p:bob', seq: 6 }, [{ key: 'p2p:m2', kind: 'message', data: 0 }, { key: 'p2p:m6', kind: 'message', data: 6 }]);
    expect(out.map((e) => e?.lsn ?? null)).toEqual([null, 6]);
    expect(await s.log.redact('alice', 'p2p:m4', () => 'gone')).toBe(4);
    expect(await s.log.prune('alice', 3)).toBe(3);
    expect((await s.log.since('alice', 0, 10)).map((e) => [e.lsn, e.key, e.data])).toEqual([
      [4, 'p2p:m4', 'gone'],
      [5, 'p2p:m5', { key: 'p2p:m5' }],
      [6, 'p2p:m6', 6],
    ]);
    await expect(s.log.since('carol', 0, 10)).rejects.toThrow(/^log\["carol","1"\] is corrupt: field kind should be a non-empty string, found 42$/);
    // A corrupt row stays alone: its neighbours still read.
    await expect(s.log.since('dave', 0, 10)).rejects.toThrow(/^log\["dave","2"\] is corrupt: field kind should be a non-empty string/);
    expect((await s.log.since('dave', 2, 10)).map((e) => [e.lsn, e.key, e.at])).toEqual([[3, 'c', 103], [4, 'd', 104]]);
    s.close();

    const raw = await rawDb(factory);
    expectLogStores(raw, 4);
    // Consecutive valid rows of an AID are packed, each entry keeping its own `at`.
    expect(await raw.getAllKeys('log')).toEqual([['alice', 5], ['alice', 6], ['bob', 2], ['carol', 1], ['dave', 1], ['dave', 2], ['dave', 4]]);
    expect(await raw.getAllKeysFromIndex('log', 'by_key', ['bob', 'p2p:m2'])).toEqual([['bob', 2]]);
    expect(await raw.get('meta', 'schema')).toMatchObject({ version: 4, history: [{ from: 0, to: 3 }, { from: 3, to: 4 }] });
    raw.close();
  });

  it('a failing migration rolls the whole upgrade back and says which step failed', async () => {
    const factory = freshFactory();
    const v1 = await openDatabase({ name: DB, version: 1, factory });
    await (v1 as unknown as { put(s: string, v: unknown): Promise<unknown> }).put('cursors', { aid: 'alice', seqs: { n: 4 } });
    v1.close();
    const boom: Migration = {
      version: NEXT,
      description: 'test-only failing step',
      upgrade() {
        throw new Error('boom');
      },
    };
    const err = await openDatabase({ name: DB, version: NEXT, factory, migrations: [...MIGRATIONS, boom] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(new RegExp(`to v${NEXT} was rolled back: migration to v${NEXT} \\(test-only failing step\\) failed: Error: boom`));

    const again = await openDatabase({ name: DB, version: 1, factory });
    expect(again.version).toBe(1);
    expect(await (again as unknown as { getAll(s: string): Promise<unknown[]> }).getAll('cursors')).toEqual([{ aid: 'alice', seqs: { n: 4 } }]);
    again.close();
  });

  it('a database already upgraded by a newer build is refused with a clear StoreError', async () => {
    const factory = freshFactory();
    (await openDatabase({ name: DB, version: NEXT, factory, migrations: [...MIGRATIONS, nextNoop] })).close();
    const err = await openStore({ name: DB, idbFactory: factory }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err).not.toBeInstanceOf(StoreBlockedError);
    expect((err as Error).message).toMatch(new RegExp(`newer version than v${DB_VERSION}.*Reload this page`));
  });

  it('refuses versions it has no migrations for', async () => {
    await expect(openDatabase({ name: DB, version: NEXT, factory: freshFactory() })).rejects.toThrow(`migrations exist for v1..v${DB_VERSION}`);
  });
});

describe('blocked upgrades', () => {
  it('openStore rejects with StoreBlockedError when an old connection will not close, then works once it does', async () => {
    const factory = freshFactory();
    const stubborn = await openDatabase({ name: DB, version: 1, factory });
    const t0 = Date.now();
    const err = await openStoreWith({ name: DB, idbFactory: factory, blockedTimeoutMs: 100 }).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(err).toBeInstanceOf(StoreBlockedError);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreBlockedError).name).toBe('StoreBlockedError');
    expect((err as StoreBlockedError).retryable).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`cannot be upgraded to v${DB_VERSION}: .* still has v1 open .* Close \\(or reload\\) the other tabs of this app`));

    stubborn.close();
    const s = await openStore({ name: DB, idbFactory: factory });
    await s.cursors.put('alice', 'n', 1);
    expect(await s.cursors.get('alice', 'n')).toBe(1);
    s.close();
  });

  it('the public openStore gives up after about 3 s', async () => {
    const factory = freshFactory();
    const stubborn = await openDatabase({ name: DB, version: 1, factory });
    const t0 = Date.now();
    await expect(openStore({ name: DB, idbFactory: factory })).rejects.toThrow(StoreBlockedError);
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(2_900);
    expect(waited).toBeLessThan(4_500);
    stubborn.close();
  });

  it('a connection that closes when asked does not block', async () => {
    const factory = freshFactory();
    const polite = await openDatabase({ name: DB, version: 1, factory });
    polite.addEventListener('versionchange', () => polite.close());
    const s = await openStoreWith({ name: DB, idbFactory: factory, blockedTimeoutMs: 100 });
    expect(await s.cursors.all('x')).toEqual({});
    s.close();
  });
});

describe('versionchange', () => {
  it('an open Store closes itself for a newer version and calls onVersionChange', async () => {
    const factory = freshFactory();
    const onVersionChange = vi.fn();
    const s = await openStore({ name: DB, idbFactory: factory, onVersionChange });
    await s.cursors.put('alice', 'n', 3);
    const newer = await openDatabase({ name: DB, version: NEXT, factory, migrations: [...MIGRATIONS, nextNoop], blockedTimeoutMs: 500 });
    expect(newer.version).toBe(NEXT);
    expect(onVersionChange).toHaveBeenCalledTimes(1);
    await expect(s.cursors.get('alice', 'n')).rejects.toThrow(`closed because another tab or worker wants to upgrade it to v${NEXT}; reopen`);
    newer.close();
  });

  it('also for a deleteDatabase, which then goes through', async () => {
    const factory = freshFactory();
    const onVersionChange = vi.fn();
    const s = await openStore({ name: DB, idbFactory: factory, onVersionChange });
    const deleted = new Promise<void>((resolve, reject) => {
      const req = factory.deleteDatabase(DB);
      req.onsuccess = () => resolve();
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error('blocked'));
    });
    await deleted;
    expect(onVersionChange).toHaveBeenCalledTimes(1);
    await expect(s.identities.list()).rejects.toThrow(/wants to delete it/);
  });
});
