import { afterEach, describe, expect, it } from 'vitest';
import { openStore, StoreCorruptError, StoreError, type IdentityRecord, type Store } from '../../../worker/store/index.ts';
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

function identity(aid: string, over: Partial<IdentityRecord> = {}): IdentityRecord {
  return { aid, certPem: `-----BEGIN CERTIFICATE-----\n${aid}\n-----END CERTIFICATE-----`, gatewayUrl: 'wss://gw.example/ws', createdAt: 1, updatedAt: 2, ...over };
}

async function pkcs8(): Promise<Uint8Array> {
  const kp = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  return new Uint8Array(await crypto.subtle.exportKey('pkcs8', kp.privateKey));
}

describe('device id', () => {
  it('is created once, matches the allowed alphabet, and is stable across re-opens', async () => {
    const factory = freshFactory();
    const a = await openStore({ name: DB, idbFactory: factory });
    const id = await a.deviceId();
    expect(id).toMatch(/^[A-Za-z0-9._-]{1,128}$/);
    expect(await a.deviceId()).toBe(id);
    a.close();
    const b = await newStore(factory);
    expect(await b.deviceId()).toBe(id);
    expect(await (await newStore()).deviceId()).not.toBe(id);
  });

  it('is the same for two first opens racing on an empty database, and so is the wrapping key', async () => {
    const factory = freshFactory();
    const [a, b] = await Promise.all([openStore({ name: DB, idbFactory: factory }), openStore({ name: DB, idbFactory: factory })]);
    open.push(a, b);
    expect(await a.deviceId()).toBe(await b.deviceId());
    await a.keys.put('alice', 'ik', await pkcs8());
    expect(await b.keys.load('alice', 'ik')).toBeDefined();
  });

  it('a corrupt stored device id fails deviceId() only', async () => {
    const factory = freshFactory();
    (await newStore(factory)).close();
    const raw = await rawDb(factory);
    await raw.put('meta', 'not valid!', 'deviceId');
    raw.close();
    const s = await newStore(factory);
    await expect(s.deviceId()).rejects.toThrow(StoreCorruptError);
    await expect(s.deviceId()).rejects.toThrow(/meta\["deviceId"\]/);
    await s.identities.put(identity('alice'));
    expect(await s.identities.get('alice')).toEqual(identity('alice'));
  });
});

describe('identities', () => {
  it('put, get, list, overwrite, remove', async () => {
    const s = await newStore();
    expect(await s.identities.list()).toEqual([]);
    expect(await s.identities.get('alice')).toBeUndefined();
    await s.identities.put(identity('alice'));
    await s.identities.put(identity('bob'));
    await s.identities.put(identity('alice', { updatedAt: 9, gatewayUrl: 'wss://other/ws' }));
    expect(await s.identities.get('alice')).toEqual(identity('alice', { updatedAt: 9, gatewayUrl: 'wss://other/ws' }));
    expect((await s.identities.list()).map((r) => r.aid)).toEqual(['alice', 'bob']);
    await s.identities.remove('alice');
    expect(await s.identities.get('alice')).toBeUndefined();
    expect((await s.identities.list()).map((r) => r.aid)).toEqual(['bob']);
  });

  it('stores only the declared fields', async () => {
    const s = await newStore();
    await s.identities.put({ ...identity('alice'), extra: 'x' } as IdentityRecord);
    expect(Object.keys((await s.identities.get('alice'))!).sort()).toEqual(['aid', 'certPem', 'createdAt', 'gatewayUrl', 'updatedAt']);
  });

  it('remove cascades to keys, tokens, cursors and kv of that AID only', async () => {
    const factory = freshFactory();
    const s = await newStore(factory);
    for (const aid of ['alice', 'bob']) {
      await s.identities.put(identity(aid));
      await s.keys.put(aid, 'ik', await pkcs8());
      await s.keys.put(aid, 'spk:1', await pkcs8());
      await s.tokens.put(aid, { accessToken: `at-${aid}`, accessExpiresAt: 10, refreshToken: 'rt', obtainedAt: 1 });
      await s.cursors.put(aid, 'p2p:carol', 4);
      await s.cursors.put(aid, 'group:g1', 8);
      await s.kv.put(aid, 'spk.meta', { id: 1 });
    }
    await s.identities.remove('alice');
    expect(await s.identities.get('alice')).toBeUndefined();
    expect(await s.keys.list('alice')).toEqual([]);
    expect(await s.tokens.get('alice')).toBeUndefined();
    expect(await s.cursors.all('alice')).toEqual({});
    expect(await s.kv.get('alice', 'spk.meta')).toBeUndefined();

    expect(await s.identities.get('bob')).toEqual(identity('bob'));
    expect(await s.keys.list('bob')).toEqual(['ik', 'spk:1']);
    expect((await s.tokens.get('bob'))?.accessToken).toBe('at-bob');
    expect(await s.cursors.all('bob')).toEqual({ 'p2p:carol': 4, 'group:g1': 8 });
    expect(await s.kv.get('bob', 'spk.meta')).toEqual({ id: 1 });

    const raw = await rawDb(factory);
    for (const store of ['keys', 'cursors', 'kv'] as const) {
      expect(await raw.getAllKeysFromIndex(store, 'by_aid', 'alice')).toEqual([]);
    }
    raw.close();
  });

  it('an AID that is a prefix of another is removed alone', async () => {
    const s = await newStore();
    await s.cursors.put('ali', 'n', 1);
    await s.cursors.put('alice', 'n', 2);
    await s.identities.remove('ali');
    expect(await s.cursors.all('alice')).toEqual({ n: 2 });
  });
});

describe('tokens', () => {
  it('round trip, overwrite and clear', async () => {
    const s = await newStore();
    const t = { accessToken: 'a1', accessExpiresAt: 1_700_000_000_000, refreshToken: 'r1', obtainedAt: 1_699_999_000_000 };
    expect(await s.tokens.get('alice')).toBeUndefined();
    await s.tokens.put('alice', t);
    expect(await s.tokens.get('alice')).toEqual(t);
    await s.tokens.put('alice', { ...t, accessToken: 'a2' });
    expect((await s.tokens.get('alice'))?.accessToken).toBe('a2');
    await s.tokens.clear('alice');
    expect(await s.tokens.get('alice')).toBeUndefined();
  });

  it('rejects malformed tokens from the caller', async () => {
    const s = await newStore();
    const t = { accessToken: 'a', accessExpiresAt: 1, refreshToken: 'r', obtainedAt: 1 };
    await expect(s.tokens.put('alice', { ...t, accessToken: '' })).rejects.toThrow(/accessToken must be a non-empty string/);
    await expect(s.tokens.put('alice', { ...t, accessExpiresAt: Number.NaN })).rejects.toThrow(/accessExpiresAt must be a finite number/);
    await expect(s.tokens.put('alice', null as never)).rejects.toThrow(StoreError);
  });
});

describe('cursors', () => {
  it('0 when absent; put overwrites in either direction; all() per AID', async () => {
    const s = await newStore();
    expect(await s.cursors.get('alice', 'p2p:bob')).toBe(0);
    await s.cursors.put('alice', 'p2p:bob', 10);
    await s.cursors.put('alice', 'p2p:bob', 7);
    await s.cursors.put('alice', 'group:g1', 0);
    await s.cursors.put('bob', 'p2p:alice', 3);
    expect(await s.cursors.get('alice', 'p2p:bob')).toBe(7);
    expect(await s.cursors.all('alice')).toEqual({ 'p2p:bob': 7, 'group:g1': 0 });
    expect(await s.cursors.all('nobody')).toEqual({});
  });

  it('keeps a namespace named __proto__ as data', async () => {
    const s = await newStore();
    await s.cursors.put('alice', '__proto__', 5);
    const all = await s.cursors.all('alice');
    expect(Object.getPrototypeOf(all)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(all, '__proto__')?.value).toBe(5);
  });

  it('rejects bad seqs and ids with StoreError', async () => {
    const s = await newStore();
    for (const seq of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '3']) {
      const p = s.cursors.put('alice', 'n', seq as number);
      await expect(p).rejects.toThrow(StoreError);
      await expect(p).rejects.not.toThrow(StoreCorruptError);
      await expect(p).rejects.toThrow(/cursors\.put: seq must be a non-negative safe integer/);
    }
    await expect(s.cursors.put('', 'n', 1)).rejects.toThrow(/cursors\.put: aid must be a non-empty string/);
    await expect(s.cursors.get('alice', '')).rejects.toThrow(/cursors\.get: ns must be a non-empty string/);
    expect(await s.cursors.all('alice')).toEqual({});
  });
});

describe('kv', () => {
  it('round trips structured-clone values per AID', async () => {
    const s = await newStore();
    const value = { spkId: 'abc', createdAt: 5, bytes: new Uint8Array([1, 2, 3]), when: new Date(0), set: new Map([['a', 1]]) };
    await s.kv.put('alice', 'spk.current', value);
    expect(await s.kv.get('alice', 'spk.current')).toEqual(value);
    expect(await s.kv.get('bob', 'spk.current')).toBeUndefined();
    await s.kv.put('alice', 'n', null);
    expect(await s.kv.get('alice', 'n')).toBeNull();
    await s.kv.delete('alice', 'spk.current');
    expect(await s.kv.get('alice', 'spk.current')).toBeUndefined();
  });

  it('rejects undefined and non-cloneable values with StoreError', async () => {
    const s = await newStore();
    await expect(s.kv.put('alice', 'k', undefined)).rejects.toThrow(/use kv\.delete/);
    await expect(s.kv.put('alice', 'k', { f: () => 1 })).rejects.toThrow(/cannot be stored/);
    await expect(s.kv.put('alice', '', 1)).rejects.toThrow(/kv\.put: key must be a non-empty string/);
  });
});

describe('reading bad rows', () => {
  it('names the record and never returns it', async () => {
    const factory = freshFactory();
    const s = await newStore(factory);
    const raw = await rawDb(factory);
    await raw.put('identities', { aid: 'alice', certPem: 42, gatewayUrl: 'x', createdAt: 1, updatedAt: 1 });
    await raw.put('tokens', { aid: 'alice', accessToken: 'a', refreshToken: 'r', obtainedAt: 1 });
    await raw.put('cursors', { aid: 'alice', ns: 'p2p:bob', seq: -4 });
    await raw.put('kv', { aid: 'alice', key: 'k' });
    raw.close();

    await expect(s.identities.get('alice')).rejects.toThrow(/identities\["alice"\] is corrupt: field certPem should be a string/);
    await expect(s.identities.list()).rejects.toThrow(StoreCorruptError);
    await expect(s.tokens.get('alice')).rejects.toThrow(/tokens\["alice"\] is corrupt: field accessExpiresAt/);
    await expect(s.cursors.get('alice', 'p2p:bob')).rejects.toThrow(/cursors\["alice","p2p:bob"\] is corrupt/);
    await expect(s.cursors.all('alice')).rejects.toThrow(/cursors\["alice","p2p:bob"\] is corrupt/);
    await expect(s.kv.get('alice', 'k')).rejects.toThrow(/kv\["alice","k"\] is corrupt: no value field/);

    const err = await s.tokens.get('alice').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreCorruptError);
    expect((err as StoreCorruptError).name).toBe('StoreCorruptError');
    expect((err as StoreCorruptError).data).toEqual({ store: 'tokens', key: ['alice'] });
  });
});

describe('lifecycle', () => {
  it('calls after close() reject with StoreError; close is idempotent', async () => {
    const s = await openStore({ name: DB, idbFactory: freshFactory() });
    s.close();
    s.close();
    await expect(s.identities.list()).rejects.toThrow(StoreError);
    await expect(s.cursors.get('a', 'n')).rejects.toThrow(/is closed/);
  });

  it('errors are AunErrors with the StoreError name', async () => {
    const s = await newStore();
    const err = await s.identities.get('').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).name).toBe('StoreError');
    expect((err as Error).message).toBe('identities.get: aid must be a non-empty string, got ""');
  });
});

describe('sync', () => {
  it('commits a transaction with durability strict (Chromium and the others default to relaxed)', async () => {
    const { IDBDatabase: FDBDatabase } = await import('fake-indexeddb');
    const s = await newStore();
    const seen: { stores: unknown; mode: unknown; durability: unknown }[] = [];
    const original = FDBDatabase.prototype.transaction;
    FDBDatabase.prototype.transaction = function (this: InstanceType<typeof FDBDatabase>, stores: string | string[], mode?: IDBTransactionMode, options?: IDBTransactionOptions) {
      seen.push({ stores, mode, durability: options?.durability });
      return original.call(this, stores, mode, options);
    } as typeof original;
    try {
      await s.sync();
    } finally {
      FDBDatabase.prototype.transaction = original;
    }
    expect(seen).toEqual([{ stores: 'meta', mode: 'readwrite', durability: 'strict' }]);
  });
});
