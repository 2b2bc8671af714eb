import { afterEach, describe, expect, it } from 'vitest';
import { fromBase64Url } from '../../../protocol/bytes.ts';
import { openStore, StoreCorruptError, StoreError, type Store } from '../../../worker/store/index.ts';
import { containsBytes, DB, freshFactory, rawDb } from './support.ts';

const ECDSA = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDH = { name: 'ECDH', namedCurve: 'P-256' } as const;

const open: Store[] = [];
async function newStore(factory = freshFactory()): Promise<Store> {
  const s = await openStore({ name: DB, idbFactory: factory });
  open.push(s);
  return s;
}
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

/** A P-256 key as another module would hand it in: PKCS#8 bytes, plus what the test checks against. */
async function p256Key(): Promise<{ pkcs8: Uint8Array; spki: Uint8Array; scalar: Uint8Array }> {
  const kp = await crypto.subtle.generateKey(ECDSA, true, ['sign', 'verify']);
  const jwk = await crypto.subtle.exportKey('jwk', kp.privateKey);
  return {
    pkcs8: new Uint8Array(await crypto.subtle.exportKey('pkcs8', kp.privateKey)),
    spki: new Uint8Array(await crypto.subtle.exportKey('spki', kp.publicKey)),
    scalar: fromBase64Url(jwk.d!),
  };
}

describe('keys', () => {
  it('round trip: the loaded ECDSA key signs, the returned SPKI verifies', async () => {
    const s = await newStore();
    const k = await p256Key();
    await s.keys.put('alice', 'ik', k.pkcs8);
    const h = (await s.keys.load('alice', 'ik'))!;
    expect(h.publicSpki).toEqual(k.spki);
    const msg = new TextEncoder().encode('hello');
    const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, h.ecdsa, msg);
    const pub = await crypto.subtle.importKey('spki', h.publicSpki as Uint8Array<ArrayBuffer>, ECDSA, false, ['verify']);
    expect(await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, pub, sig, msg)).toBe(true);
  });

  it('round trip: ECDH with the loaded key agrees with the other side', async () => {
    const s = await newStore();
    const k = await p256Key();
    await s.keys.put('alice', 'spk:7', k.pkcs8);
    const h = (await s.keys.load('alice', 'spk:7'))!;
    const peer = await crypto.subtle.generateKey(ECDH, false, ['deriveBits']);
    const mine = await crypto.subtle.deriveBits({ name: 'ECDH', public: peer.publicKey }, h.ecdh, 256);
    const myPub = await crypto.subtle.importKey('spki', h.publicSpki as Uint8Array<ArrayBuffer>, ECDH, false, []);
    const theirs = await crypto.subtle.deriveBits({ name: 'ECDH', public: myPub }, peer.privateKey, 256);
    expect(new Uint8Array(mine)).toEqual(new Uint8Array(theirs));
  });

  it('loaded private keys are non-extractable and limited to their usage', async () => {
    const s = await newStore();
    await s.keys.put('alice', 'ik', (await p256Key()).pkcs8);
    const h = (await s.keys.load('alice', 'ik'))!;
    expect(h.ecdsa.extractable).toBe(false);
    expect(h.ecdh.extractable).toBe(false);
    expect(h.ecdsa.usages).toEqual(['sign']);
    expect(h.ecdh.usages).toEqual(['deriveBits']);
    for (const key of [h.ecdsa, h.ecdh]) {
      for (const format of ['pkcs8', 'jwk'] as const) await expect(crypto.subtle.exportKey(format, key)).rejects.toThrow();
    }
  });

  it('the wrapping key is a non-extractable CryptoKey and the stored record holds no plaintext', async () => {
    const factory = freshFactory();
    const s = await newStore(factory);
    const k = await p256Key();
    await s.keys.put('alice', 'ik', k.pkcs8);

    const raw = await rawDb(factory);
    const wk = (await raw.get('meta', 'wrappingKey')) as { key: CryptoKey };
    expect(wk.key).toBeInstanceOf(CryptoKey);
    expect(wk.key.extractable).toBe(false);
    expect(wk.key.algorithm).toMatchObject({ name: 'AES-GCM', length: 256 });
    await expect(crypto.subtle.exportKey('raw', wk.key)).rejects.toThrow();

    const row = (await raw.get('keys', ['alice', 'ik'])) as Record<string, unknown>;
    raw.close();
    const byteFields = Object.values(row).filter((v): v is Uint8Array => v instanceof Uint8Array);
    expect(byteFields.length).toBeGreaterThanOrEqual(3);
    const everything = new Uint8Array(Buffer.concat([...byteFields, Buffer.from(JSON.stringify(row))]));
    expect(containsBytes(everything, k.pkcs8)).toBe(false);
    expect(containsBytes(everything, k.scalar)).toBe(false);
    expect(containsBytes(everything, k.scalar.subarray(0, 8))).toBe(false);
    expect(row.spki).toEqual(k.spki);
  });

  it('uses a fresh IV per record', async () => {
    const factory = freshFactory();
    const s = await newStore(factory);
    const k = await p256Key();
    await s.keys.put('alice', 'a', k.pkcs8);
    await s.keys.put('alice', 'b', k.pkcs8);
    const raw = await rawDb(factory);
    const a = (await raw.get('keys', ['alice', 'a'])) as { iv: Uint8Array; ct: Uint8Array };
    const b = (await raw.get('keys', ['alice', 'b'])) as { iv: Uint8Array; ct: Uint8Array };
    raw.close();
    expect(a.iv.length).toBe(12);
    expect(a.iv).not.toEqual(b.iv);
    expect(a.ct).not.toEqual(b.ct);
  });

  it('list, overwrite and remove', async () => {
    const s = await newStore();
    const [k1, k2] = [await p256Key(), await p256Key()];
    await s.keys.put('alice', 'spk:2', k1.pkcs8);
    await s.keys.put('alice', 'ik', k1.pkcs8);
    await s.keys.put('alice', 'gspk:g1:1', k1.pkcs8);
    await s.keys.put('bob', 'ik', k1.pkcs8);
    expect(await s.keys.list('alice')).toEqual(['gspk:g1:1', 'ik', 'spk:2']);
    await s.keys.put('alice', 'ik', k2.pkcs8);
    expect((await s.keys.load('alice', 'ik'))!.publicSpki).toEqual(k2.spki);
    await s.keys.remove('alice', 'ik');
    expect(await s.keys.load('alice', 'ik')).toBeUndefined();
    expect(await s.keys.list('alice')).toEqual(['gspk:g1:1', 'spk:2']);
    expect(await s.keys.list('bob')).toEqual(['ik']);
  });

  it('rejects input that is not a P-256 PKCS#8 key', async () => {
    const s = await newStore();
    const p384 = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign']);
    const p384pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', p384.privateKey));
    await expect(s.keys.put('alice', 'ik', p384pkcs8)).rejects.toThrow(/not a P-256 PKCS#8 private key/);
    await expect(s.keys.put('alice', 'ik', new Uint8Array([1, 2, 3]))).rejects.toThrow(StoreError);
    await expect(s.keys.put('alice', 'ik', new Uint8Array())).rejects.toThrow(/non-empty Uint8Array/);
    await expect(s.keys.put('alice', '', (await p256Key()).pkcs8)).rejects.toThrow(/keyId must be a non-empty string/);
    expect(await s.keys.list('alice')).toEqual([]);
  });
});

describe('keys: tampering', () => {
  async function setup() {
    const factory = freshFactory();
    const s = await newStore(factory);
    await s.keys.put('alice', 'ik', (await p256Key()).pkcs8);
    const raw = await rawDb(factory);
    const row = (await raw.get('keys', ['alice', 'ik'])) as Record<string, unknown>;
    return { factory, s, raw, row };
  }

  async function expectCorrupt(p: Promise<unknown>, record: RegExp, why: RegExp) {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreCorruptError);
    expect((err as Error).message).toMatch(record);
    expect((err as Error).message).toMatch(why);
  }

  it('a flipped ciphertext byte', async () => {
    const { s, raw, row } = await setup();
    const ct = (row.ct as Uint8Array).slice();
    ct[5]! ^= 1;
    await raw.put('keys', { ...row, ct });
    raw.close();
    await expectCorrupt(s.keys.load('alice', 'ik'), /keys\["alice","ik"\]/, /authentication failed/);
  });

  it('a changed IV, a swapped SPKI', async () => {
    const { s, raw, row } = await setup();
    const iv = (row.iv as Uint8Array).slice();
    iv[0]! ^= 0x80;
    await raw.put('keys', { ...row, iv });
    await expectCorrupt(s.keys.load('alice', 'ik'), /keys\["alice","ik"\]/, /authentication failed/);
    await raw.put('keys', { ...row, spki: (await p256Key()).spki });
    raw.close();
    await expectCorrupt(s.keys.load('alice', 'ik'), /keys\["alice","ik"\]/, /authentication failed/);
  });

  it('a record moved to another AID or keyId (wrong AAD)', async () => {
    const { s, raw, row } = await setup();
    await raw.put('keys', { ...row, aid: 'mallory' });
    await raw.put('keys', { ...row, keyId: 'spk:1' });
    raw.close();
    await expectCorrupt(s.keys.load('mallory', 'ik'), /keys\["mallory","ik"\]/, /moved to another AID or keyId/);
    await expectCorrupt(s.keys.load('alice', 'spk:1'), /keys\["alice","spk:1"\]/, /authentication failed/);
    expect(await s.keys.load('alice', 'ik')).toBeDefined();
  });

  it('a malformed record', async () => {
    const { s, raw, row } = await setup();
    await raw.put('keys', { ...row, iv: 'AAAA' });
    raw.close();
    await expectCorrupt(s.keys.load('alice', 'ik'), /keys\["alice","ik"\]/, /field iv should be 12 bytes/);
  });

  it('a missing wrapping key: old records are reported, new ones work', async () => {
    const { factory, s, raw } = await setup();
    s.close();
    await raw.delete('meta', 'wrappingKey');
    raw.close();
    const again = await newStore(factory);
    await expectCorrupt(again.keys.load('alice', 'ik'), /keys\["alice","ik"\]/, /wrapping key that is no longer in this database/);
    const k = await p256Key();
    await again.keys.put('alice', 'ik2', k.pkcs8);
    expect((await again.keys.load('alice', 'ik2'))!.publicSpki).toEqual(k.spki);
  });

  it('a wrapping key replaced by something else fails key calls only', async () => {
    const { factory, s, raw } = await setup();
    s.close();
    await raw.put('meta', { id: 'x', key: 'not a key', createdAt: 1 }, 'wrappingKey');
    raw.close();
    const again = await newStore(factory);
    await expectCorrupt(again.keys.load('alice', 'ik'), /keys\["alice","ik"\]/, /meta\["wrappingKey"\] is corrupt/);
    await expectCorrupt(again.keys.put('alice', 'ik', (await p256Key()).pkcs8), /keys\["alice","ik"\]/, /wrappingKey/);
    await again.cursors.put('alice', 'n', 1);
    expect(await again.cursors.get('alice', 'n')).toBe(1);
  });
});
