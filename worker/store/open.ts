// Opening the database at a given version: runs the migrations, turns a blocked upgrade into a
// StoreBlockedError after a bounded wait, and maps the browser's open failures to StoreErrors.
// Exported beyond index.ts only for tests, which open "old" versions next to the current one.

import { wrap, type IDBPDatabase } from 'idb';
import { StoreBlockedError, StoreError } from './errors.ts';
import { MIGRATIONS, type Migration, type StoreSchema, type UpgradeDb, type UpgradeTx } from './schema.ts';

export const BLOCKED_TIMEOUT_MS = 3_000;

export interface OpenDatabaseOptions {
  name: string;
  version: number;
  factory: IDBFactory;
  migrations?: readonly Migration[];
  /** How long an upgrade may wait for older connections to close; from the first 'blocked'. */
  blockedTimeoutMs?: number;
}

export interface SchemaInfo {
  version: number;
  history: { from: number; to: number; at: number }[];
}

/**
 * Resolves with an open connection at exactly `version`. The connection does nothing on
 * `versionchange`; whoever holds it decides (the Store closes itself).
 */
export function openDatabase(opts: OpenDatabaseOptions): Promise<IDBPDatabase<StoreSchema>> {
  const { name, version, factory } = opts;
  const migrations = opts.migrations ?? MIGRATIONS;
  const blockedTimeoutMs = opts.blockedTimeoutMs ?? BLOCKED_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    if (!Number.isInteger(version) || version < 1 || version > migrations.length) {
      reject(new StoreError(`cannot open database "${name}" at v${version}: migrations exist for v1..v${migrations.length}`));
      return;
    }
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let migrationError: unknown;
    const settle = (fn: () => void): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      fn();
      return true;
    };

    let request: IDBOpenDBRequest;
    try {
      request = factory.open(name, version);
    } catch (err) {
      reject(withCause(new StoreError(`cannot open database "${name}": ${describe(err)}`), err));
      return;
    }

    request.onupgradeneeded = (event) => {
      const tx = request.transaction!;
      // The caller already got a StoreBlockedError: do not migrate behind its back.
      if (settled) {
        tx.abort();
        return;
      }
      const db = wrap(request.result) as unknown as UpgradeDb;
      const upgradeTx = wrap(tx) as unknown as UpgradeTx;
      // An abort is reported through the open request's error; the wrapper's own promise is not.
      upgradeTx.done.catch(() => {});
      runMigrations(db, upgradeTx, event.oldVersion, event.newVersion ?? version, migrations).catch(
        (err: unknown) => {
          migrationError = err;
          try {
            tx.abort();
          } catch {
            // already aborted by the failed request
          }
        },
      );
    };

    request.onblocked = (event) => {
      if (settled || timer !== undefined) return;
      timer = setTimeout(() => {
        settle(() =>
          reject(
            new StoreBlockedError(
              `database "${name}" cannot be upgraded to v${version}: another tab or worker of this app ` +
                `still has v${event.oldVersion} open and did not release it within ${blockedTimeoutMs} ms. ` +
                'Close (or reload) the other tabs of this app, then try again.',
              undefined,
              { name, version, openVersion: event.oldVersion },
              true,
            ),
          ),
        );
      }, blockedTimeoutMs);
    };

    request.onsuccess = () => {
      const db = request.result;
      // A late success after a blocked timeout: nobody holds this connection, release it.
      if (!settle(() => resolve(wrap(db) as unknown as IDBPDatabase<StoreSchema>))) db.close();
    };

    request.onerror = () => {
      const err = request.error;
      settle(() => reject(openFailure(name, version, err, migrationError)));
    };
  });
}

async function runMigrations(
  db: UpgradeDb,
  tx: UpgradeTx,
  oldVersion: number,
  newVersion: number,
  migrations: readonly Migration[],
): Promise<void> {
  for (let v = oldVersion + 1; v <= newVersion; v++) {
    const m = migrations[v - 1];
    if (m === undefined || m.version !== v) throw new StoreError(`no migration produces schema v${v}`);
    try {
      await m.upgrade(db, oldVersion, newVersion, tx);
    } catch (err) {
      throw withCause(new StoreError(`migration to v${v} (${m.description}) failed: ${describe(err)}`), err);
    }
  }
  const meta = tx.objectStore('meta');
  const prev: unknown = await meta.get('schema');
  const history = isSchemaInfo(prev) ? prev.history : [];
  const info: SchemaInfo = { version: newVersion, history: [...history, { from: oldVersion, to: newVersion, at: Date.now() }] };
  await meta.put(info, 'schema');
}

export function isSchemaInfo(v: unknown): v is SchemaInfo {
  if (typeof v !== 'object' || v === null) return false;
  const { version, history } = v as Partial<SchemaInfo>;
  return (
    Number.isInteger(version) &&
    Array.isArray(history) &&
    history.every((h: unknown) => {
      if (typeof h !== 'object' || h === null) return false;
      const { from, to, at } = h as Record<string, unknown>;
      return Number.isInteger(from) && Number.isInteger(to) && typeof at === 'number';
    })
  );
}

function openFailure(name: string, version: number, err: DOMException | null, migrationError: unknown): StoreError {
  if (migrationError !== undefined) {
    const msg = migrationError instanceof StoreError ? migrationError.message : describe(migrationError);
    return withCause(new StoreError(`upgrade of database "${name}" to v${version} was rolled back: ${msg}`), migrationError);
  }
  if (err?.name === 'VersionError') {
    return withCause(
      new StoreError(
        `database "${name}" is at a newer version than v${version}, the newest this build knows: a newer ` +
          'copy of the app has upgraded it. Reload this page to get the new version.',
        undefined,
        { name, version },
      ),
      err,
    );
  }
  return withCause(new StoreError(`cannot open database "${name}" v${version}: ${describe(err)}`), err);
}

export function describe(err: unknown): string {
  if (err instanceof Error || err instanceof DOMException) return err.message ? `${err.name}: ${err.message}` : err.name;
  return String(err);
}

export function withCause<E extends Error>(e: E, cause: unknown): E {
  if (cause !== undefined && cause !== null) e.cause = cause;
  return e;
}
