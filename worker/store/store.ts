// The Store: one IndexedDB connection per open, one transaction per call. It closes itself when
// another connection wants to upgrade or delete the database, and tells the runtime.

import type { IDBPDatabase } from 'idb';
import { corrupt, StoreCorruptError, StoreError } from './errors.ts';
import { describe, openDatabase, withCause } from './open.ts';
import {
  checkIdentity,
  checkToken,
  newDeviceId,
  parseCursor,
  parseDeviceId,
  parseIdentity,
  parseKeyRow,
  parseKv,
  parseToken,
  parseWrappingKey,
  requireId,
  requireSeq,
  type KeyRow,
} from './records.ts';
import { DB_VERSION, DEFAULT_DB_NAME, type StoreSchema } from './schema.ts';
import type { IdentityRecord, KeyPairHandles, Store, TokenRecord } from './types.ts';
import { newWrappingKey, unwrapPrivateKey, wrapPrivateKey, type WrappingKey } from './wrapping.ts';

export interface OpenStoreOptions {
  /** IndexedDB database name; default 'aun-worker'. */
  name?: string;
  /** Default `globalThis.indexedDB`. */
  idbFactory?: IDBFactory;
  /** Called after the Store closed itself because another connection upgrades or deletes the database. */
  onVersionChange?: () => void;
}

type Db = IDBPDatabase<StoreSchema>;

interface Meta {
  deviceId: string | StoreCorruptError;
  wrapping: WrappingKey | StoreCorruptError;
}

export function openStore(opts: OpenStoreOptions = {}): Promise<Store> {
  return openStoreWith(opts);
}

/** openStore with the blocked-upgrade wait exposed, for tests. */
export async function openStoreWith(opts: OpenStoreOptions & { blockedTimeoutMs?: number }): Promise<Store> {
  const name = opts.name ?? DEFAULT_DB_NAME;
  const factory = opts.idbFactory ?? globalThis.indexedDB;
  if (factory === undefined) throw new StoreError('IndexedDB is not available in this context');
  if (globalThis.crypto?.subtle === undefined) {
    throw new StoreError('WebCrypto is not available: the keystore needs a secure context (https or localhost)');
  }
  const db = await openDatabase({ name, version: DB_VERSION, factory, blockedTimeoutMs: opts.blockedTimeoutMs });

  let closedReason: string | undefined;
  let handedOut = false;
  db.addEventListener('versionchange', (event) => {
    db.close();
    const to = event.newVersion === null ? 'delete it' : `upgrade it to v${event.newVersion}`;
    closedReason = `store "${name}" was closed because another tab or worker wants to ${to}; reopen the store`;
    if (handedOut) opts.onVersionChange?.();
  });
  db.addEventListener('close', () => {
    closedReason ??= `the browser closed database "${name}" (storage cleared or evicted); reopen the store`;
  });

  let meta: Meta;
  try {
    meta = await loadMeta(db);
  } catch (err) {
    db.close();
    throw asStoreError(`openStore("${name}")`, err, closedReason);
  }
  const store = createStore(db, name, meta, {
    closedReason: () => closedReason,
    close: () => {
      closedReason ??= `store "${name}" is closed`;
      db.close();
    },
  });
  handedOut = true;
  return store;
}

/**
 * Creates the device id and the wrapping key on first open. The new wrapping key is generated
 * before the readwrite transaction (WebCrypto cannot run inside one) and only stored if no other
 * connection stored one first, so two first opens agree.
 */
async function loadMeta(db: Db): Promise<Meta> {
  const ro = db.transaction('meta');
  let [dev, wk] = await Promise.all([ro.store.get('deviceId'), ro.store.get('wrappingKey'), ro.done]);
  if (dev === undefined || wk === undefined) {
    const fresh = wk === undefined ? await newWrappingKey() : undefined;
    const tx = db.transaction('meta', 'readwrite');
    [dev, wk] = await Promise.all([tx.store.get('deviceId'), tx.store.get('wrappingKey')]);
    const writes: Promise<unknown>[] = [tx.done];
    if (dev === undefined) {
      dev = newDeviceId();
      writes.push(tx.store.put(dev, 'deviceId'));
    }
    if (wk === undefined && fresh !== undefined) {
      wk = fresh;
      writes.push(tx.store.put(fresh, 'wrappingKey'));
    }
    await Promise.all(writes);
  }
  return { deviceId: parseDeviceId(dev), wrapping: parseWrappingKey(wk) };
}

function createStore(
  db: Db,
  name: string,
  meta: Meta,
  conn: { closedReason(): string | undefined; close(): void },
): Store {
  const run = async <T>(op: string, fn: () => Promise<T>): Promise<T> => {
    const closed = conn.closedReason();
    if (closed !== undefined) throw new StoreError(`${op}: ${closed}`);
    try {
      return await fn();
    } catch (err) {
      throw asStoreError(op, err, conn.closedReason());
    }
  };

  const wrappingFor = (aid: string, keyId: string): WrappingKey => {
    if (!(meta.wrapping instanceof StoreCorruptError)) return meta.wrapping;
    throw corrupt('keys', [aid, keyId], `cannot be used: ${meta.wrapping.message}`, meta.wrapping);
  };

  return {
    name,

    deviceId: () =>
      run('deviceId', async () => {
        if (meta.deviceId instanceof StoreCorruptError) throw meta.deviceId;
        return meta.deviceId;
      }),

    identities: {
      list: () =>
        run('identities.list', async () => {
          const tx = db.transaction('identities');
          const [keys, rows] = await Promise.all([tx.store.getAllKeys(), tx.store.getAll(), tx.done]);
          return rows.map((row, i) => parseIdentity(row, String(keys[i])));
        }),
      get: (aid: string) =>
        run('identities.get', async () => {
          requireId('identities.get', 'aid', aid);
          const row = await db.get('identities', aid);
          return row === undefined ? undefined : parseIdentity(row, aid);
        }),
      put: (rec: IdentityRecord) =>
        run('identities.put', async () => {
          await db.put('identities', checkIdentity('identities.put', rec));
        }),
      remove: (aid: string) =>
        run('identities.remove', async () => {
          requireId('identities.remove', 'aid', aid);
          const tx = db.transaction(['identities', 'keys', 'tokens', 'cursors', 'kv'], 'readwrite');
          const keys = tx.objectStore('keys');
          const cursors = tx.objectStore('cursors');
          const kv = tx.objectStore('kv');
          await Promise.all([
            tx.objectStore('identities').delete(aid),
            tx.objectStore('tokens').delete(aid),
            keys.index('by_aid').getAllKeys(aid).then((ks) => Promise.all(ks.map((k) => keys.delete(k)))),
            cursors.index('by_aid').getAllKeys(aid).then((ks) => Promise.all(ks.map((k) => cursors.delete(k)))),
            kv.index('by_aid').getAllKeys(aid).then((ks) => Promise.all(ks.map((k) => kv.delete(k)))),
            tx.done,
          ]);
        }),
    },

    keys: {
      put: (aid: string, keyId: string, pkcs8: Uint8Array) =>
        run('keys.put', async () => {
          requireId('keys.put', 'aid', aid);
          requireId('keys.put', 'keyId', keyId);
          if (!(pkcs8 instanceof Uint8Array) || pkcs8.length === 0) throw new StoreError('keys.put: pkcs8 must be a non-empty Uint8Array');
          const wk = wrappingFor(aid, keyId);
          const wrapped = await wrapPrivateKey(wk, aid, keyId, pkcs8);
          const row: KeyRow = { aid, keyId, alg: 'P-256', wrapKeyId: wk.id, ...wrapped, createdAt: Date.now() };
          await db.put('keys', row);
        }),
      load: (aid: string, keyId: string) =>
        run('keys.load', async (): Promise<KeyPairHandles | undefined> => {
          requireId('keys.load', 'aid', aid);
          requireId('keys.load', 'keyId', keyId);
          const raw = await db.get('keys', [aid, keyId]);
          if (raw === undefined) return undefined;
          const row = parseKeyRow(raw, aid, keyId);
          const wk = wrappingFor(aid, keyId);
          if (row.wrapKeyId !== wk.id) {
            throw corrupt(
              'keys',
              [aid, keyId],
              'it was wrapped with a wrapping key that is no longer in this database (meta was cleared or replaced); ' +
                'the private key cannot be recovered: remove it and provision a new one',
            );
          }
          try {
            const { ecdsa, ecdh } = await unwrapPrivateKey(wk, aid, keyId, row);
            return { ecdsa, ecdh, publicSpki: row.spki.slice() };
          } catch (err) {
            throw corrupt(
              'keys',
              [aid, keyId],
              'authentication failed (ciphertext, IV or SPKI altered, or the record was moved to another AID or keyId)',
              err,
            );
          }
        }),
      list: (aid: string) =>
        run('keys.list', async () => {
          requireId('keys.list', 'aid', aid);
          const keys = await db.getAllKeysFromIndex('keys', 'by_aid', aid);
          return keys.map(([, keyId]) => keyId);
        }),
      remove: (aid: string, keyId: string) =>
        run('keys.remove', async () => {
          requireId('keys.remove', 'aid', aid);
          requireId('keys.remove', 'keyId', keyId);
          await db.delete('keys', [aid, keyId]);
        }),
    },

    tokens: {
      get: (aid: string) =>
        run('tokens.get', async () => {
          requireId('tokens.get', 'aid', aid);
          const row = await db.get('tokens', aid);
          return row === undefined ? undefined : parseToken(row, aid);
        }),
      put: (aid: string, t: TokenRecord) =>
        run('tokens.put', async () => {
          requireId('tokens.put', 'aid', aid);
          await db.put('tokens', { aid, ...checkToken('tokens.put', t) });
        }),
      clear: (aid: string) =>
        run('tokens.clear', async () => {
          requireId('tokens.clear', 'aid', aid);
          await db.delete('tokens', aid);
        }),
    },

    cursors: {
      get: (aid: string, ns: string) =>
        run('cursors.get', async () => {
          requireId('cursors.get', 'aid', aid);
          requireId('cursors.get', 'ns', ns);
          const row = await db.get('cursors', [aid, ns]);
          return row === undefined ? 0 : parseCursor(row, aid, ns).seq;
        }),
      put: (aid: string, ns: string, seq: number) =>
        run('cursors.put', async () => {
          requireId('cursors.put', 'aid', aid);
          requireId('cursors.put', 'ns', ns);
          await db.put('cursors', { aid, ns, seq: requireSeq('cursors.put', seq) });
        }),
      all: (aid: string) =>
        run('cursors.all', async () => {
          requireId('cursors.all', 'aid', aid);
          const rows = await db.getAllFromIndex('cursors', 'by_aid', aid);
          // fromEntries defines own properties, so a namespace named "__proto__" stays data.
          return Object.fromEntries(rows.map((row) => parseCursor(row, aid)).map(({ ns, seq }) => [ns, seq]));
        }),
    },

    kv: {
      get: <T>(aid: string, key: string) =>
        run('kv.get', async () => {
          requireId('kv.get', 'aid', aid);
          requireId('kv.get', 'key', key);
          const row = await db.get('kv', [aid, key]);
          return row === undefined ? undefined : (parseKv(row, aid, key) as T);
        }),
      put: (aid: string, key: string, value: unknown) =>
        run('kv.put', async () => {
          requireId('kv.put', 'aid', aid);
          requireId('kv.put', 'key', key);
          if (value === undefined) throw new StoreError('kv.put: value is undefined; use kv.delete to remove a key');
          await db.put('kv', { aid, key, value });
        }),
      delete: (aid: string, key: string) =>
        run('kv.delete', async () => {
          requireId('kv.delete', 'aid', aid);
          requireId('kv.delete', 'key', key);
          await db.delete('kv', [aid, key]);
        }),
    },

    close: () => conn.close(),
  };
}

function asStoreError(op: string, err: unknown, closedReason: string | undefined): StoreError {
  if (err instanceof StoreError) return err;
  const name = err instanceof Error || err instanceof DOMException ? err.name : '';
  if (name === 'DataCloneError') {
    return withCause(new StoreError(`${op}: the value cannot be stored (only structured-cloneable values: no functions, symbols or DOM nodes)`), err);
  }
  if (name === 'QuotaExceededError') {
    return withCause(new StoreError(`${op}: the storage quota of this origin is exhausted; free space or request persistent storage`), err);
  }
  if (closedReason !== undefined) return withCause(new StoreError(`${op}: ${closedReason}`), err);
  return withCause(new StoreError(`${op} failed: ${describe(err)}`), err);
}
