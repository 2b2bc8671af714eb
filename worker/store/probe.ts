// Can this worker keep a non-extractable CryptoKey at rest? The keystore stores its wrapping key
// as one in IndexedDB, and storing it needs the browser to serialize a CryptoKey. WebKit's
// SharedWorker cannot serialize any CryptoKey — IndexedDB put and postMessage both throw
// DataCloneError there, and a key a page stored reads back as null — while a page or a dedicated
// worker of the same engine can. A SharedWorker asks this once at start, so that tabs step down to
// a rung whose owner can keep keys instead of failing at their first login. The check is a
// structured clone through a MessageChannel: synchronous, no disk, microseconds after the key
// exists, and it fails exactly where the IndexedDB put does.

import { describe } from './open.ts';

/** null when this context can serialize a non-extractable CryptoKey; otherwise why not. */
export async function keystoreProbe(): Promise<string | null> {
  if (globalThis.crypto?.subtle === undefined) return 'WebCrypto is not available in this worker (it needs a secure context)';
  let key: CryptoKey;
  try {
    key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['wrapKey', 'unwrapKey']);
  } catch (err) {
    return `WebCrypto cannot generate the keystore's wrapping key here (${describe(err)})`;
  }
  const ch = new MessageChannel();
  try {
    ch.port1.postMessage(key);
    return null;
  } catch (err) {
    return `this worker cannot serialize a non-extractable CryptoKey, so the keystore cannot keep its wrapping key in IndexedDB (${describe(err)})`;
  } finally {
    ch.port1.close();
    ch.port2.close();
  }
}
