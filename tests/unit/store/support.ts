// Shared helpers for the store tests: an isolated IndexedDB per test, raw access to the rows.

import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import type { IDBPDatabase } from 'idb';
import { openDatabase } from '../../../worker/store/open.ts';
import { DB_VERSION, type StoreSchema } from '../../../worker/store/schema.ts';

export const DB = 'aun-worker-test';

export function freshFactory(): IDBFactory {
  return new IDBFactory();
}

/** A second, plain connection at the current version, for reading and corrupting raw rows. */
export function rawDb(factory: IDBFactory, version = DB_VERSION): Promise<IDBPDatabase<StoreSchema>> {
  return openDatabase({ name: DB, version, factory });
}

export function containsBytes(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}
