// The keystore probe a SharedWorker runs at start: it tells a context that can keep a
// non-extractable CryptoKey in IndexedDB from one that cannot (WebKit's SharedWorker), and writes
// nothing either way.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { IDBObjectStore } from 'fake-indexeddb';
import { keystoreProbe, PROBE_DB_NAME } from '../../../worker/store/probe.ts';
import { freshFactory } from './support.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

async function probeRows(factory: IDBFactory): Promise<number> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const req = factory.open(PROBE_DB_NAME, 1);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const n = await new Promise<number>((resolve, reject) => {
    const req = db.transaction('probe').objectStore('probe').count();
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  db.close();
  return n;
}

describe('keystoreProbe', () => {
  it('passes where a CryptoKey can be stored, and leaves the scratch database empty', async () => {
    const factory = freshFactory();
    expect(await keystoreProbe(factory)).toBeNull();
    expect(await keystoreProbe(factory)).toBeNull();
    expect(await probeRows(factory)).toBe(0);
  });

  it('names the DataCloneError where a CryptoKey cannot be stored (as in WebKit\'s SharedWorker)', async () => {
    const put = IDBObjectStore.prototype.put;
    const spy = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
      if ((value as { key?: unknown } | null)?.key instanceof CryptoKey) throw new DOMException('The object can not be cloned.', 'DataCloneError');
      return put.call(this, value, key);
    });
    const factory = freshFactory();
    const why = await keystoreProbe(factory);
    expect(spy).toHaveBeenCalled();
    expect(why).toMatch(/non-extractable CryptoKey cannot be stored in IndexedDB from this worker \(DataCloneError/);
    expect(await probeRows(factory)).toBe(0);
  });

  it('says so when there is no IndexedDB, or it cannot be opened', async () => {
    expect(await keystoreProbe(undefined)).toBe('IndexedDB is not available in this worker');
    const broken = { open: () => { throw new DOMException('denied', 'SecurityError'); } } as unknown as IDBFactory;
    expect(await keystoreProbe(broken)).toMatch(/IndexedDB cannot be opened in this worker \(SecurityError: denied\)/);
  });
});
