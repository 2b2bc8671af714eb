// worker/auth/x509.ts against @peculiar/x509 (the gateway's library) as the reference reader:
// the same fields from the same certificates, P-256 and P-384, and hostile bytes never crash.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { pemToDer } from '../../../protocol/bytes.ts';
import { parseCertificate, signedBy, verifyKey } from '../../../worker/auth/x509.ts';

const DAY = 86_400_000;
const P384 = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' } as const;
const P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

async function chain() {
  const rootKeys = await crypto.subtle.generateKey(P384, true, ['sign', 'verify']);
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '00c3a1', name: 'CN=Root CA, O=aun-worker tests, C=DE', keys: rootKeys, signingAlgorithm: P384,
    notBefore: new Date('2024-01-02T03:04:05Z'), notAfter: new Date('2051-06-07T08:09:10Z'),
    extensions: [new x509.BasicConstraintsExtension(true, 1, true)],
  });
  const leafKeys = await crypto.subtle.generateKey(P256, true, ['sign', 'verify']);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: '1234', subject: new x509.Name([{ CN: ['alice.test'], OU: ['devices'] }, { O: ['Ä, example'] }]),
    issuer: root.subject, publicKey: leafKeys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm: P384,
    notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY),
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  return { root, leaf };
}

const der = (c: x509.X509Certificate) => new Uint8Array(c.rawData);

describe('parseCertificate', () => {
  it('reads what @peculiar/x509 reads', async () => {
    const { root, leaf } = await chain();
    for (const ref of [root, leaf]) {
      const cert = parseCertificate(der(ref));
      expect(cert.der).toEqual(der(ref));
      expect(cert.serialNumber).toBe(ref.serialNumber);
      expect(cert.notBefore.getTime()).toBe(ref.notBefore.getTime());
      expect(cert.notAfter.getTime()).toBe(ref.notAfter.getTime());
      expect(cert.spki).toEqual(new Uint8Array(ref.publicKey.rawData));
      expect(cert.commonName).toBe(ref.subjectName.getField('CN')[0]);
      expect(cert.isCa).toBe(ref.getExtension(x509.BasicConstraintsExtension)!.ca);
      expect(cert.subjectDer).toEqual(new Uint8Array(ref.subjectName.toArrayBuffer()));
      expect(cert.issuerDer).toEqual(new Uint8Array(ref.issuerName.toArrayBuffer()));
    }
    const r = parseCertificate(der(root));
    expect(r.subject).toBe('CN=Root CA, O=aun-worker tests, C=DE');
    expect(r.notAfter.toISOString()).toBe('2051-06-07T08:09:10.000Z');
    const l = parseCertificate(der(leaf));
    expect(l.subject).toBe('CN=alice.test+OU=devices, O=Ä\\, example');
    expect(l.commonName).toBe('alice.test');
    expect(l.issuer).toBe(r.subject);
  });

  it('reads a PEM through pemToDer the same', async () => {
    const { leaf } = await chain();
    expect(parseCertificate(pemToDer(leaf.toString('pem'))).der).toEqual(der(leaf));
  });

  it('has no CA flag without basicConstraints', async () => {
    const keys = await crypto.subtle.generateKey(P256, true, ['sign', 'verify']);
    const bare = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=bare', keys, signingAlgorithm: P256 });
    expect(parseCertificate(der(bare)).isCa).toBe(false);
  });

  it('throws TypeError, and only that, on every truncation, on trailing bytes and on flipped bytes', async () => {
    const { leaf } = await chain();
    const bytes = der(leaf);
    for (let n = 0; n < bytes.length; n++) expect(() => parseCertificate(bytes.slice(0, n))).toThrow(TypeError);
    expect(() => parseCertificate(new Uint8Array([...bytes, 0]))).toThrow(TypeError);
    for (let i = 0; i < bytes.length; i++) {
      const flipped = bytes.slice();
      flipped[i]! ^= 0xff;
      try {
        parseCertificate(flipped);
      } catch (err) {
        expect(err).toBeInstanceOf(TypeError);
      }
    }
  });
});

describe('signedBy and verifyKey', () => {
  it('verifies a P-384/SHA-384 signature, and a self-signature', async () => {
    const { root, leaf } = await chain();
    const r = parseCertificate(der(root));
    const l = parseCertificate(der(leaf));
    expect(await signedBy(l, r)).toBe(true);
    expect(await signedBy(r, r)).toBe(true);
    expect(await signedBy(r, l)).toBe(false);
    expect((await verifyKey(l)).algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
  });

  it('refuses a signature over altered bytes', async () => {
    const { root, leaf } = await chain();
    const l = parseCertificate(der(leaf));
    const tbs = l.tbs.slice();
    tbs[tbs.length - 1]! ^= 0x01;
    expect(await signedBy({ ...l, tbs }, parseCertificate(der(root)))).toBe(false);
    expect(await signedBy({ ...l, signature: l.signature.subarray(1) }, parseCertificate(der(root)))).toBe(false);
  });
});
