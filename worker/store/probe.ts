// Can this context keep a non-extractable CryptoKey in IndexedDB? The keystore stores its wrapping
// key exactly so, and WebKit's SharedWorker cannot (DataCloneError on any CryptoKey, while a page
// or a dedicated worker of the same engine can). Asked once by a SharedWorker at start, so the
// tabs step down to a rung whose owner can keep keys, instead of failing at the first login.

import { describe } from './open.ts';

/** A scratch database: nothing is ever committed to it (the probe's transaction is aborted). */
export const PROBE_DB_NAME = 'aun-worker-probe';

/** null when a non-extractable key can be stored here; otherwise why not, in plain words. */
export async function keystoreProbe(factory: IDBFactory | undefined): Promise<string | null> {
  if (factory === undefined) return 'IndexedDB is not available in this worker';
  if (globalThis.crypto?.subtle === undefined) return 'WebCrypto is not available in this worker';
  let key: CryptoKey;
  try {
    key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['wrapKey', 'unwrapKey']);
  } catch (err) {
    return `WebCrypto cannot generate an AES-GCM key here (${describe(err)})`;
  }
  let db: IDBDatabase;
  try {
    db = await openProbeDb(factory);
  } catch (err) {
    return `IndexedDB cannot be opened in this worker (${describe(err)})`;
  }
  try {
    const tx = db.transaction('probe', 'readwrite');
    try {
      // The structured clone runs (and throws DataCloneError) synchronously, inside put().
      tx.objectStore('probe').put({ key }, 'probe');
      return null;
    } catch (err) {
      return `a non-extractable CryptoKey cannot be stored in IndexedDB from this worker (${describe(err)})`;
    } finally {
      tx.abort();
    }
  } catch (err) {
    return `IndexedDB refused a transaction in this worker (${describe(err)})`;
  } finally {
    db.close();
  }
}

function openProbeDb(factory: IDBFactory): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = factory.open(PROBE_DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore('probe');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('open failed'));
  });
}
