// The database layout and the ordered migrations that build it. MIGRATIONS[i] takes a database
// from version i to i + 1; a new version is one new entry here, never an edit of an old one.
//
// Current layout (v4):
//   meta        out-of-line string keys: 'deviceId' -> string,
//               'wrappingKey' -> { id, key: CryptoKey (AES-GCM 256, non-extractable), createdAt },
//               'schema' -> { version, history: [{ from, to, at }] }
//   identities  keyPath 'aid'
//   keys        keyPath ['aid', 'keyId'], index by_aid
//   tokens      keyPath 'aid'
//   cursors     keyPath ['aid', 'ns'],    index by_aid      (v1: keyPath 'aid', { aid, seqs })
//   kv          keyPath ['aid', 'key'],   index by_aid
//   log         keyPath ['aid', 'lsn'],   index by_aid, index by_key 'keys' (unique, multiEntry)
//               one row per commit: { aid, lsn: its last entry's lsn (1, 2, 3… per AID), at,
//               keys: [[aid, dedup key], …], entries: [{ key, kind, data: structured clone,
//               at only if not the row's }, …] }, the entries holding lsn - entries.length + 1 … lsn
//               (v3: one row per entry)
//   outbox      keyPath ['aid', 'id'],    index by_aid      { aid, id, kind, body, createdAt, attempts, seq? }
//               (seq, the order sends were made in, is sorted on in JS: rows from before it have none)
// Values are typed `unknown`: every read goes through a validator in records.ts.

import type { DBSchema, IDBPDatabase, IDBPTransaction } from 'idb';

export const DB_VERSION = 4;
export const DEFAULT_DB_NAME = 'aun-worker';

export interface StoreSchema extends DBSchema {
  meta: { key: string; value: unknown };
  identities: { key: string; value: unknown };
  keys: { key: [string, string]; value: unknown; indexes: { by_aid: string } };
  tokens: { key: string; value: unknown };
  cursors: { key: [string, string]; value: unknown; indexes: { by_aid: string } };
  kv: { key: [string, string]; value: unknown; indexes: { by_aid: string } };
  log: { key: [string, number]; value: unknown; indexes: { by_aid: string; by_key: [string, string] } };
  outbox: { key: [string, string]; value: unknown; indexes: { by_aid: string } };
}

/** Migrations see the database as it is at their own version, so they work untyped. */
export type UpgradeDb = IDBPDatabase<unknown>;
export type UpgradeTx = IDBPTransaction<unknown, string[], 'versionchange'>;

export interface Migration {
  /** The version this migration produces. */
  readonly version: number;
  readonly description: string;
  /**
   * Runs inside the versionchange transaction. It may await requests of `tx`, but nothing that
   * waits for a task (timers, WebCrypto, fetch): the transaction would commit under it. A throw
   * or a rejection aborts the whole upgrade and the database stays at its old version.
   * `oldVersion` / `newVersion` are those of the whole open, not of this step.
   */
  upgrade(db: UpgradeDb, oldVersion: number, newVersion: number, tx: UpgradeTx): void | Promise<void>;
}

const v1: Migration = {
  version: 1,
  description: 'meta, identities, keys, tokens, per-AID cursor maps, kv',
  upgrade(db) {
    db.createObjectStore('meta');
    db.createObjectStore('identities', { keyPath: 'aid' });
    db.createObjectStore('keys', { keyPath: ['aid', 'keyId'] }).createIndex('by_aid', 'aid');
    db.createObjectStore('tokens', { keyPath: 'aid' });
    db.createObjectStore('cursors', { keyPath: 'aid' });
    db.createObjectStore('kv', { keyPath: ['aid', 'key'] }).createIndex('by_aid', 'aid');
  },
};

/**
 * v1 kept one cursor row per AID holding a map of every namespace, so each ack rewrote the whole
 * map (one entry per peer and per group). v2 keeps one row per (aid, ns): a put is one small blind
 * write and `all(aid)` is an index read. Rows that do not look like v1 maps are dropped, not
 * copied: a cursor that is lost only costs a re-pull, a garbage cursor could skip messages.
 */
const v2: Migration = {
  version: 2,
  description: 'cursors: one row per (aid, ns) with an index by aid',
  async upgrade(db, _old, _new, tx) {
    const rows: unknown[] = await tx.objectStore('cursors').getAll();
    db.deleteObjectStore('cursors');
    const cursors = db.createObjectStore('cursors', { keyPath: ['aid', 'ns'] });
    cursors.createIndex('by_aid', 'aid');
    const puts: Promise<unknown>[] = [];
    for (const row of rows) {
      if (typeof row !== 'object' || row === null) continue;
      const { aid, seqs } = row as { aid?: unknown; seqs?: unknown };
      if (typeof aid !== 'string' || aid === '' || typeof seqs !== 'object' || seqs === null) continue;
      for (const [ns, seq] of Object.entries(seqs)) {
        if (ns !== '' && Number.isSafeInteger(seq) && (seq as number) >= 0) puts.push(cursors.put({ aid, ns, seq }));
      }
    }
    await Promise.all(puts);
  },
};

/**
 * Delivery guarantees: `log` is what the worker handed to tabs, so a tab that attaches late can
 * replay from its cursor; `outbox` holds sends the gateway has not acknowledged. Both are new and
 * start empty. Index records are ordered by primary key within one index key, so `by_aid` alone
 * finds an AID's first and last lsn and its oldest rows without building an IDBKeyRange.
 */
const v3: Migration = {
  version: 3,
  description: 'log (per-AID event log with a unique dedup key) and outbox (unacknowledged sends)',
  upgrade(db) {
    const log = db.createObjectStore('log', { keyPath: ['aid', 'lsn'] });
    log.createIndex('by_aid', 'aid');
    log.createIndex('by_key', ['aid', 'key'], { unique: true });
    db.createObjectStore('outbox', { keyPath: ['aid', 'id'] }).createIndex('by_aid', 'aid');
  },
};

/**
 * v3 stored one row per log entry, so a commit of n entries was n requests, each writing the row
 * and two index records: ~0.2 ms per entry in Chromium. v4 stores one row per commit, its dedup
 * keys in one multiEntry unique index, so a commit is one request whatever its size. The v3 rows
 * of an AID are packed into rows of up to 256 consecutive entries (each keeping its lsn, key,
 * kind, data and, where it differs from the row's first, its own `at`), so that a full log
 * upgrades in a few hundred puts rather than 20,000. A row that would not read back as a valid
 * entry gets a row of its own, as it is: it stays corrupt, reported when read, and does not take
 * its neighbours with it.
 */
const v4: Migration = {
  version: 4,
  description: 'log: one row per commit, its dedup keys in a multiEntry unique index',
  async upgrade(db, _old, _new, tx) {
    const old = tx.objectStore('log');
    const [keys, rows] = await Promise.all([old.getAllKeys(), old.getAll() as Promise<unknown[]>]);
    db.deleteObjectStore('log');
    const log = db.createObjectStore('log', { keyPath: ['aid', 'lsn'] });
    log.createIndex('by_aid', 'aid');
    log.createIndex('by_key', 'keys', { unique: true, multiEntry: true });
    const puts: Promise<unknown>[] = [];
    type Entry = { key: unknown; kind: unknown; data?: unknown; at?: unknown };
    let run: { aid: string; lsn: number; at: unknown; entries: Entry[] } | null = null;
    const flush = (): void => {
      if (run === null) return;
      const { aid, lsn, at, entries } = run;
      puts.push(log.put({ aid, lsn, at, keys: entries.map((e) => [aid, e.key]), entries }));
      run = null;
    };
    rows.forEach((row, i) => {
      const [aid, lsn] = keys[i] as [string, unknown];
      const r = typeof row === 'object' && row !== null ? (row as Record<string, unknown>) : {};
      const entry: Entry = { key: r.key, kind: r.kind };
      if ('data' in r) entry.data = r.data;
      const valid =
        Number.isSafeInteger(lsn) && (lsn as number) >= 1 && typeof r.key === 'string' && r.key !== '' &&
        typeof r.kind === 'string' && r.kind !== '' && 'data' in r && typeof r.at === 'number' && Number.isFinite(r.at);
      if (!valid) {
        flush();
        puts.push(log.put({ aid, lsn, at: r.at, keys: [[aid, r.key]], entries: [entry] }));
        return;
      }
      if (run !== null && (run.aid !== aid || run.lsn + 1 !== lsn || run.entries.length === 256)) flush();
      if (run === null) run = { aid, lsn: lsn as number, at: r.at, entries: [] };
      if (r.at !== run.at) entry.at = r.at;
      run.entries.push(entry);
      run.lsn = lsn as number;
    });
    flush();
    await Promise.all(puts);
  },
};

export const MIGRATIONS: readonly Migration[] = [v1, v2, v3, v4];
