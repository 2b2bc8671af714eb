// The Store: one IndexedDB connection per open, one transaction per call (a log.commit whose
// optimistic one is refused runs a second). It closes itself when another connection wants to
// upgrade or delete the database, and tells the runtime.

import type { IDBPDatabase } from 'idb';
import { corrupt, StoreCorruptError, StoreError } from './errors.ts';
import { describe, openDatabase, withCause } from './open.ts';
import {
  checkCursorInput,
  checkIdentity,
  checkLogInputs,
  checkOutboxItem,
  checkToken,
  newDeviceId,
  parseCursor,
  parseDeviceId,
  parseIdentity,
  parseKeyRow,
  parseKv,
  parseLogKey,
  parseLogRun,
  logRun,
  parseOutboxRow,
  parseToken,
  parseWrappingKey,
  requireId,
  requireInt,
  requireSeq,
  type KeyRow,
} from './records.ts';
import { DB_VERSION, DEFAULT_DB_NAME, type StoreSchema } from './schema.ts';
import type { IdentityRecord, KeyPairHandles, LogEntry, LogInput, OutboxItem, Store, TokenRecord } from './types.ts';
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

  // log.commit calls run one after the other, so one that has to run again after its optimistic
  // attempt was refused still lands before any commit called after it.
  let commits: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const turn = commits.then(fn);
    commits = turn.catch(() => {});
    return turn;
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

    sync: () =>
      run('sync', async () => {
        const tx = db.transaction('meta', 'readwrite', { durability: 'strict' });
        await Promise.all([tx.store.put(Date.now(), 'syncedAt'), tx.done]);
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
          const tx = db.transaction(['identities', 'keys', 'tokens', 'cursors', 'kv', 'log', 'outbox'], 'readwrite');
          const keys = tx.objectStore('keys');
          const cursors = tx.objectStore('cursors');
          const kv = tx.objectStore('kv');
          const log = tx.objectStore('log');
          const outbox = tx.objectStore('outbox');
          await Promise.all([
            tx.objectStore('identities').delete(aid),
            tx.objectStore('tokens').delete(aid),
            keys.index('by_aid').getAllKeys(aid).then((ks) => Promise.all(ks.map((k) => keys.delete(k)))),
            cursors.index('by_aid').getAllKeys(aid).then((ks) => Promise.all(ks.map((k) => cursors.delete(k)))),
            kv.index('by_aid').getAllKeys(aid).then((ks) => Promise.all(ks.map((k) => kv.delete(k)))),
            log.index('by_aid').getAllKeys(aid).then((ks) => Promise.all(ks.map((k) => log.delete(k)))),
            outbox.index('by_aid').getAllKeys(aid).then((ks) => Promise.all(ks.map((k) => outbox.delete(k)))),
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

    // One row per commit, keyed [aid, its last lsn] (schema.ts v4). No IDBKeyRange anywhere:
    // `by_aid` lists an AID's rows in primary-key (lsn) order, so a plain key query plus a cursor
    // direction finds the first, the last and the oldest rows. That works with any IDBFactory
    // handed in, whatever the realm's global IDBKeyRange is (or is missing).
    log: {
      commit: (aid: string, cursor: { ns: string; seq: number } | { ns: string; seq: number }[] | null, inputs: LogInput[]) =>
        run('log.commit', async () => {
          requireId('log.commit', 'aid', aid);
          const cur = checkCursorInput('log.commit', cursor);
          const ins = checkLogInputs('log.commit', inputs);
          // Optimistic first: no dedup read per entry, the unique by_key index refuses a key that
          // is already logged, which aborts the whole transaction (nothing lands). Only then the
          // same call again, reading each key first.
          return inTurn(async () => (await appendLog(db, aid, cur, ins, false)) ?? (await appendLog(db, aid, cur, ins, true))!);
        }),
      since: (aid: string, afterLsn: number, limit: number) =>
        run('log.since', async () => {
          requireId('log.since', 'aid', aid);
          requireInt('log.since', 'afterLsn', afterLsn);
          requireInt('log.since', 'limit', limit, 1);
          // A row is keyed by its last lsn: the first one past afterLsn holds afterLsn + 1.
          let cur = await db.transaction('log').store.index('by_aid').openCursor(aid);
          if (cur !== null && parseLogKey(cur.primaryKey, aid) <= afterLsn) cur = await cur.continuePrimaryKey(aid, [aid, afterLsn + 1]);
          const out: LogEntry[] = [];
          while (cur !== null) {
            for (const entry of parseLogRun(cur.value, aid, cur.primaryKey)) {
              if (entry.lsn <= afterLsn) continue;
              out.push(entry);
              if (out.length === limit) return out;
            }
            cur = await cur.continue();
          }
          return out;
        }),
      redact: (aid: string, key: string, patch: (data: unknown) => unknown) =>
        run('log.redact', async () => {
          requireId('log.redact', 'aid', aid);
          requireId('log.redact', 'key', key);
          const tx = db.transaction('log', 'readwrite');
          const primary = await tx.store.index('by_key').getKey([aid, key]);
          if (primary === undefined) {
            await tx.done;
            return null;
          }
          const entries = parseLogRun(await tx.store.get(primary), aid, primary);
          const i = entries.findIndex((e) => e.key === key);
          if (i < 0) throw corrupt('log', [aid, String(primary[1])], `is indexed under key ${JSON.stringify(key)} but holds no entry with it`);
          const entry = entries[i]!;
          entries[i] = { ...entry, data: patch(entry.data) };
          await Promise.all([tx.store.put(logRun(aid, entries)), tx.done]);
          return entry.lsn;
        }),
      last: (aid: string) =>
        run('log.last', async () => {
          requireId('log.last', 'aid', aid);
          const top = await db.transaction('log').store.index('by_aid').openKeyCursor(aid, 'prev');
          return top === null ? 0 : parseLogKey(top.primaryKey, aid);
        }),
      prune: (aid: string, keep: number) =>
        run('log.prune', async () => {
          requireId('log.prune', 'aid', aid);
          requireInt('log.prune', 'keep', keep, 1);
          const tx = db.transaction('log', 'readwrite');
          // Rows hold consecutive lsn: row i holds (its predecessor's lsn, its own lsn].
          const rows = await tx.store.index('by_aid').getAllKeys(aid);
          if (rows.length === 0) return 0;
          const cut = parseLogKey(rows[rows.length - 1], aid) - keep;
          // A corrupt row cannot be read, but its key says where it ends: rows wholly before the
          // cut go whatever they hold (as they did when each entry was a row), and a corrupt row
          // the cut goes through stays as it is. Pruning never stops at a bad row.
          const entriesOf = async (row: [string, number]): Promise<LogEntry[] | null> => {
            try {
              return parseLogRun(await tx.store.get(row), aid, row);
            } catch (err) {
              if (err instanceof StoreCorruptError) return null;
              throw err;
            }
          };
          const oldest = await entriesOf(rows[0]!);
          const first = oldest ? oldest[0]!.lsn : parseLogKey(rows[0], aid);
          if (cut < first) return 0;
          const writes: Promise<unknown>[] = [tx.done];
          for (const row of rows) {
            const last = parseLogKey(row, aid);
            if (last <= cut) {
              writes.push(tx.store.delete(row));
              continue;
            }
            // The row the cut goes through keeps its newer entries, under the same key.
            const entries = row === rows[0] ? oldest : await entriesOf(row);
            if (entries && entries[0]!.lsn <= cut) writes.push(tx.store.put(logRun(aid, entries.filter((e) => e.lsn > cut))));
            break;
          }
          await Promise.all(writes);
          return cut - first + 1;
        }),
    },

    outbox: {
      put: (aid: string, item: OutboxItem) =>
        run('outbox.put', async () => {
          requireId('outbox.put', 'aid', aid);
          await db.put('outbox', { aid, ...checkOutboxItem('outbox.put', item) });
        }),
      list: (aid: string) =>
        run('outbox.list', async () => {
          requireId('outbox.list', 'aid', aid);
          const rows = await db.getAllFromIndex('outbox', 'by_aid', aid);
          return rows.map((row) => parseOutboxRow(row, aid)).sort(oldestFirst);
        }),
      remove: (aid: string, id: string) =>
        run('outbox.remove', async () => {
          requireId('outbox.remove', 'aid', aid);
          requireId('outbox.remove', 'id', id);
          await db.delete('outbox', [aid, id]);
        }),
    },

    close: () => conn.close(),
  };
}

/**
 * One log.commit transaction over `log` and `cursors`, its new entries in one row. With
 * `careful`, each key is looked up first and a logged one returns null; without, the row is
 * added blindly and a key that is already logged makes the unique by_key index refuse it: the
 * transaction aborts, nothing of it lands, and this resolves undefined so the caller runs the
 * careful one. Duplicates within `ins` are dropped in memory either way.
 */
async function appendLog(
  db: Db,
  aid: string,
  cur: { ns: string; seq: number }[],
  ins: LogInput[],
  careful: boolean,
): Promise<(LogEntry | null)[] | undefined> {
  const tx = db.transaction(['log', 'cursors'], 'readwrite');
  const writes: Promise<unknown>[] = [tx.done];
  let logged = false;
  const refused = (err: unknown): void => {
    if ((err as { name?: unknown } | null)?.name === 'ConstraintError') logged = true;
  };
  try {
    const log = tx.objectStore('log');
    const byKey = log.index('by_key');
    const [top, found] = await Promise.all([
      log.index('by_aid').openKeyCursor(aid, 'prev'),
      careful ? Promise.all(ins.map((input) => byKey.getKey([aid, input.key]))) : [],
    ]);
    let lsn = top === null ? 0 : parseLogKey(top.primaryKey, aid);
    const at = Date.now();
    const fresh = new Set<string>();
    for (const c of cur) writes.push(tx.objectStore('cursors').put({ aid, ns: c.ns, seq: c.seq }));
    const out = ins.map((input, i): LogEntry | null => {
      if (found[i] !== undefined || fresh.has(input.key)) return null;
      fresh.add(input.key);
      return { lsn: ++lsn, key: input.key, kind: input.kind, data: input.data, at };
    });
    const entries = out.filter((e): e is LogEntry => e !== null);
    if (entries.length > 0) {
      // Throws DataCloneError synchronously for a value that cannot be stored.
      const add = log.add(logRun(aid, entries));
      // The refusal itself is not the error: tx.done rejects with the abort it causes.
      writes.push(careful ? add : add.catch(refused));
    }
    await Promise.all(writes);
    return out;
  } catch (err) {
    // An add that threw synchronously does not abort the transaction by itself: the cursor
    // would commit without the entries.
    abortQuietly(tx);
    await Promise.allSettled(writes);
    if (logged) return undefined;
    throw err;
  }
}

/**
 * The order sends were made in. A seq (given by the outbox, one past every stored one) orders
 * strictly, whatever the clock did. Rows without one were stored by an older worker, so before
 * any row with one: they go first, in the order they always had (createdAt, then id).
 */
function oldestFirst(a: OutboxItem, b: OutboxItem): number {
  if (a.seq !== undefined && b.seq !== undefined) return a.seq - b.seq;
  if (a.seq !== undefined || b.seq !== undefined) return a.seq === undefined ? -1 : 1;
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function abortQuietly(tx: { abort(): void }): void {
  try {
    tx.abort();
  } catch {
    // already aborted by a failed request, or already finished
  }
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
