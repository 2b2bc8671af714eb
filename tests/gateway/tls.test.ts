// The dev gateway with `tls: true`: HTTPS and WSS on one port, a server certificate from its own
// root, discovery listing the wss:// URL, and clients that trust only that root.

import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type DetailedPeerCertificate } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '../../gateway/server.ts';
import { getText, Identity, openSocket, Session, splitPems } from '../support/aun-client.ts';
import { newAid, testGateway } from '../support/gateway.ts';

let gw: Gateway;
beforeAll(async () => {
  gw = await testGateway({ tls: true });
});
afterAll(() => gw?.close());

/** The chain the server presents in the TLS handshake, leaf first. */
function presentedChain(port: number, ca: string): Promise<DetailedPeerCertificate[]> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const chain: DetailedPeerCertificate[] = [];
      let c: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
      // The root is its own issuer: stop at the first certificate seen twice.
      while (c && !chain.some((x) => x.fingerprint256 === c!.fingerprint256)) {
        chain.push(c);
        c = c.issuerCertificate;
      }
      socket.end();
      resolve(chain);
    });
    socket.on('error', reject);
  });
}

describe('the dev gateway over TLS', () => {
  it('announces wss:// and https:// URLs and its trust material', () => {
    expect(gw.url).toBe(`wss://127.0.0.1:${gw.port}/ws`);
    expect(gw.httpUrl).toBe(`https://127.0.0.1:${gw.port}`);
    expect(gw.tls!.rootPem).toBe(gw.rootPem);
  });

  it('presents a server certificate for 127.0.0.1 and localhost, issued by a TLS CA under the root', async () => {
    const [leaf, ca, root] = (await presentedChain(gw.port, gw.tls!.rootPem)).map((c) => new X509Certificate(c.raw));
    expect(leaf!.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf!.checkHost('localhost')).toBe('localhost');
    expect(leaf!.checkIP('::1')).toBe('::1');
    expect(leaf!.ca).toBe(false);
    expect(leaf!.keyUsage).toContain('1.3.6.1.5.5.7.3.1');
    expect(leaf!.raw.equals(new X509Certificate(gw.tls!.certPem).raw)).toBe(true);
    expect(ca!.ca).toBe(true);
    expect(ca!.raw.equals(new X509Certificate(gw.tls!.caPem).raw)).toBe(true);
    expect(leaf!.verify(ca!.publicKey)).toBe(true);
    expect(root!.raw.equals(new X509Certificate(gw.rootPem).raw)).toBe(true);
    expect(ca!.verify(root!.publicKey)).toBe(true);
    const spki = leaf!.publicKey.export({ type: 'spki', format: 'der' });
    expect(createHash('sha256').update(spki).digest('base64')).toBe(gw.tls!.spkiSha256);
  });

  it('keeps the TLS CA out of the AUN chain: /pki/chain is still the issuer CA then the root', async () => {
    const pems = splitPems(await getText(`${gw.httpUrl}/pki/chain`, gw.tls!.rootPem));
    expect(pems).toHaveLength(2);
    expect(new X509Certificate(pems[0]!).subject).toContain(`CN=${gw.config.issuer}`);
    expect(pems.some((p) => new X509Certificate(p).raw.equals(new X509Certificate(gw.tls!.caPem).raw))).toBe(false);
  });

  it('lists its wss:// URL in /.well-known/aun-gateway', async () => {
    const doc = JSON.parse(await getText(`${gw.httpUrl}/.well-known/aun-gateway`, gw.tls!.rootPem)) as unknown;
    expect(doc).toEqual({ gateways: [{ url: `wss://127.0.0.1:${gw.port}/ws`, priority: 1 }] });
  });

  it('lets a client that trusts only the dev root register, log in and connect over wss', async () => {
    const ca = gw.tls!.rootPem;
    const id = new Identity(newAid('tls', gw.config.issuer));
    await id.register(gw.url, ca);
    await id.login(gw.url, gw.httpUrl, gw.rootPem, ca);
    const s = await Session.open(gw.url, id, { ca });
    expect(s.hello.status).toBe('ok');
    expect(await s.call('meta.ping')).toMatchObject({ pong: true });
    expect(gw.stats().connections.find((c) => c.aid === id.aid && c.kind === 'long')).toMatchObject({ secure: true });
    s.close();
  });

  it('refuses a client that does not trust the dev root', async () => {
    await expect(openSocket(gw.url)).rejects.toThrow(/certificate/i);
    await expect(fetch(`${gw.httpUrl}/health`)).rejects.toThrow();
    const other = await testGateway({ tls: true });
    try {
      // Another gateway's root does not do either: trust is in this root, not in "any dev root".
      await expect(openSocket(gw.url, other.tls!.rootPem)).rejects.toThrow(/certificate/i);
    } finally {
      await other.close();
    }
  });
});

describe('the TLS material', () => {
  it('keeps the TLS CA and the server key across restarts on the same data dir', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'aun-tls-'));
    try {
      const first = await startGateway({ dataDir, tls: true });
      const before = first.tls!;
      await first.close();
      const second = await startGateway({ dataDir, tls: true });
      expect(second.tls!.rootPem).toBe(before.rootPem);
      expect(second.tls!.caPem).toBe(before.caPem);
      expect(second.tls!.spkiSha256).toBe(before.spkiSha256);
      await second.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('leaves the default plain: ws://, http://, no TLS material, ws:// in discovery', async () => {
    const plain = await testGateway();
    try {
      expect(plain.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
      expect(plain.httpUrl).toMatch(/^http:\/\//);
      expect(plain.tls).toBeNull();
      const doc = await (await fetch(`${plain.httpUrl}/.well-known/aun-gateway`)).json() as { gateways: { url: string }[] };
      expect(doc.gateways[0]!.url).toBe(plain.url);
    } finally {
      await plain.close();
    }
  });
});
