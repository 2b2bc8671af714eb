import { createHash, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromBase64, utf8 } from '../../../protocol/bytes.ts';
import { stableJson } from '../../../protocol/canonical.ts';
import { certFingerprint, derToP1363, p1363ToDer, paramsHash, signClientCall, signDer, verifyDer } from '../../../worker/auth/sign.ts';
import { makeRoot } from './helpers.ts';

async function p256() {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
  return { ...pair, nodePublic: createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }) };
}

describe('DER ⇄ P1363', () => {
  it('round-trips, including halves with leading zeros and set top bits', () => {
    const cases = [
      new Uint8Array(64).fill(0xff),
      new Uint8Array(64).fill(0x01),
      Uint8Array.from({ length: 64 }, (_, i) => (i < 3 || (i >= 32 && i < 34) ? 0 : i * 7)),
    ];
    for (const raw of cases) {
      const der = p1363ToDer(raw);
      expect(der[0]).toBe(0x30);
      expect(derToP1363(der, 32)).toEqual(raw);
    }
    // A top bit set needs the 0x00 pad: 2 + (2 + 33) * 2 bytes.
    expect(p1363ToDer(new Uint8Array(64).fill(0xff))).toHaveLength(72);
  });

  it('round-trips P-384 sizes and matches what Node produces', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const der = nodeSign('sha384', Buffer.from('x'), { key: privateKey, dsaEncoding: 'der' });
    const raw = nodeSign('sha384', Buffer.from('y'), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    expect(p1363ToDer(derToP1363(der, 48))).toEqual(new Uint8Array(der));
    expect(derToP1363(p1363ToDer(raw), 48)).toEqual(new Uint8Array(raw));
  });

  it('refuses malformed DER', () => {
    const good = p1363ToDer(new Uint8Array(64).fill(0x42));
    const bad = [
      good.subarray(0, good.length - 1),
      Uint8Array.from([...good, 0]),
      Uint8Array.from([0x31, ...good.subarray(1)]),
      Uint8Array.from([0x30, 6, 0x02, 1, 0x80, 0x02, 1, 1]),
      Uint8Array.from([0x30, 7, 0x02, 2, 0x00, 0x01, 0x02, 1, 1]),
    ];
    for (const der of bad) expect(() => derToP1363(der, 32)).toThrow(TypeError);
    expect(() => derToP1363(p1363ToDer(new Uint8Array(98).fill(0x42)), 32)).toThrow(/larger than the curve order/);
  });
});

describe('signDer / verifyDer', () => {
  it('signs DER that Node verifies, and verifies DER that Node signs', async () => {
    const key = await p256();
    const sig = await signDer(key.privateKey, utf8('nonce:123'));
    expect(nodeVerify('sha256', Buffer.from('nonce:123'), { key: key.nodePublic, dsaEncoding: 'der' }, sig)).toBe(true);
    expect(await verifyDer(key.publicKey, utf8('nonce:123'), sig)).toBe(true);
    expect(await verifyDer(key.publicKey, utf8('nonce:124'), sig)).toBe(false);
    expect(await verifyDer(key.publicKey, utf8('nonce:123'), sig.subarray(1))).toBe(false);
  });
});

describe('client signature', () => {
  it('certFingerprint is sha256 over the certificate DER', async () => {
    const { pem, cert } = await makeRoot();
    const expected = 'sha256:' + createHash('sha256').update(new Uint8Array(cert.rawData)).digest('hex');
    expect(await certFingerprint(pem)).toBe(expected);
  });

  it('hashes params without client_signature and _-prefixed keys, as stable JSON', async () => {
    const params = { b: 1, a: { z: 'ü', y: [1, 2] }, _trace: { id: 'x' }, client_signature: { any: 1 } };
    const expected = createHash('sha256').update(stableJson({ a: { y: [1, 2], z: 'ü' }, b: 1 })).digest('hex');
    expect(await paramsHash(params)).toBe(expected);
  });

  it('signs "<method>|<aid>|<ts>|<params_hash>" and keeps the params', async () => {
    const key = await p256();
    const params = { up_to_seq: 3, _trace: { t: 1 } };
    const signed = await signClientCall('message.v2.ack', params, 'alice.aun.local', 'sha256:' + 'ab'.repeat(32), key.privateKey, 1_735_689_550_999);
    const cs = signed.client_signature;
    expect(signed.up_to_seq).toBe(3);
    expect(signed._trace).toEqual({ t: 1 });
    expect(cs).toMatchObject({ aid: 'alice.aun.local', cert_fingerprint: 'sha256:' + 'ab'.repeat(32), timestamp: '1735689550' });
    expect(cs.params_hash).toBe(createHash('sha256').update('{"up_to_seq":3}').digest('hex'));
    const text = `message.v2.ack|alice.aun.local|1735689550|${cs.params_hash}`;
    expect(nodeVerify('sha256', Buffer.from(text), { key: key.nodePublic, dsaEncoding: 'der' }, fromBase64(cs.signature))).toBe(true);
  });
});
