// The keystore probe a SharedWorker runs at start: it tells a context that can serialize a
// non-extractable CryptoKey (what storing the wrapping key needs) from one that cannot (WebKit's
// SharedWorker, where the real engine is checked by tests/e2e/engines.test.ts).

import { afterEach, describe, expect, it, vi } from 'vitest';
import { keystoreProbe } from '../../../worker/store/probe.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('keystoreProbe', () => {
  it('passes where a CryptoKey can be serialized', async () => {
    expect(await keystoreProbe()).toBeNull();
  });

  it('names the DataCloneError where a CryptoKey cannot be serialized (as in WebKit\'s SharedWorker)', async () => {
    const post = MessagePort.prototype.postMessage;
    const spy = vi.spyOn(MessagePort.prototype, 'postMessage').mockImplementation(function (this: MessagePort, value: unknown, ...rest: unknown[]) {
      if (value instanceof CryptoKey) throw new DOMException('The object can not be cloned.', 'DataCloneError');
      return (post as (...a: unknown[]) => void).call(this, value, ...rest);
    });
    const why = await keystoreProbe();
    expect(spy).toHaveBeenCalledTimes(1);
    expect(why).toBe('this worker cannot serialize a non-extractable CryptoKey, so the keystore cannot keep its wrapping key in IndexedDB (DataCloneError: The object can not be cloned.)');
  });

  it('says so when WebCrypto cannot make the key', async () => {
    vi.spyOn(crypto.subtle, 'generateKey').mockRejectedValue(new DOMException('no', 'NotSupportedError'));
    expect(await keystoreProbe()).toBe("WebCrypto cannot generate the keystore's wrapping key here (NotSupportedError: no)");
  });
});
