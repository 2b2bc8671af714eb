// The gateway keeps parsed agent keys and certificate fingerprints by their text (gateway/sig.ts):
// the same text gives the same parsed key, a bounded number are kept (the oldest go first), and a
// text longer than a P-256 SPKI is parsed each time, never kept.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { publicKeyFromSpki } from '../../gateway/sig.ts';

const spkiB64 = (): string => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' }).toString('base64');

describe('gateway key cache', () => {
  it('parses a key once per text, keeps at most 1024, and drops the oldest first', () => {
    const first = spkiB64();
    const key = publicKeyFromSpki(first);
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(publicKeyFromSpki(first)).toBe(key);
    for (let i = 0; i < 1024; i++) publicKeyFromSpki(spkiB64());
    const again = publicKeyFromSpki(first);
    expect(again).not.toBe(key);
    expect(again.equals(key)).toBe(true);
  });

  it('a text longer than a P-256 SPKI is parsed each time and not kept', () => {
    const padded = `${spkiB64()}\n\n`; // base64 decoding skips the newlines: the same key
    const a = publicKeyFromSpki(padded);
    expect(publicKeyFromSpki(padded)).not.toBe(a);
    expect(publicKeyFromSpki(padded).equals(a)).toBe(true);
  });

  it('a bad key still throws, every time', () => {
    expect(() => publicKeyFromSpki('AAAA')).toThrow();
    expect(() => publicKeyFromSpki('AAAA')).toThrow();
  });
});
