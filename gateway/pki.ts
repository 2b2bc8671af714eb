// The dev gateway's certificate authority: a self-signed root, an issuer CA (CN = issuer) and the
// auth-service certificate (CN = auth.<issuer>), made on first start and kept in SQLite; agent
// certificates (CN = aid, P-256) issued on auth.create_aid. X.509 through @peculiar/x509.
// For `--tls`, a TLS CA under the same root (made on first use, also kept) issues the HTTPS/WSS
// server certificate at every start.

// @peculiar/x509 2.x resolves its services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, createPrivateKey, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type Database from 'better-sqlite3';
import { pemToDer } from '../protocol/bytes.ts';
import { migrate } from './db.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const subtle = webcrypto.subtle;
const P384 = { name: 'ECDSA', namedCurve: 'P-384' } as const;
const P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const DAY_MS = 86_400_000;

interface StoredKeyPair { certPem: string; keyPem: string }
interface StoredTls { ca: StoredKeyPair; serverKeyPem: string }
interface StoredPki { root: StoredKeyPair; issuer: StoredKeyPair; auth: StoredKeyPair; tls?: StoredTls; tokenKeyPem?: string }

/** What an HTTPS server needs, and what a client needs to trust it. */
export interface ServerTls {
  /** The server certificate, then the TLS CA: the chain the server sends. */
  certChainPem: string;
  keyPem: string;
  certPem: string;
  caPem: string;
  /** base64 SHA-256 of the server certificate's SPKI (Chromium's --ignore-certificate-errors-spki-list). */
  spkiSha256: string;
}

export interface Pki {
  rootPem: string;
  issuerPem: string;
  authCertPem: string;
  /** Auth-service private key (P-256): signs login1 client nonces, and nothing else. */
  authKey: KeyObject;
  /**
   * Access-token key (P-256), never used for anything but JWTs: a signature the auth key makes over
   * a caller-chosen client nonce can then never pass as a token.
   */
  tokenKey: KeyObject;
  /** The JWT `kid` of `tokenKey`: "jwt-" + 16 hex of the SHA-256 of its SPKI. */
  tokenKid: string;
  /** Issues a P-256 agent certificate for a SPKI DER public key. */
  issueAgent(aid: string, spkiDer: Uint8Array): Promise<string>;
  /** A TLS server certificate for these host names and IP addresses, under the TLS CA. */
  serverTls(hosts: readonly string[]): Promise<ServerTls>;
}

function derToPem(der: ArrayBuffer | Uint8Array, label: string): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
}

/** "sha256:" + 64 hex of the certificate's DER (client_signature.cert_fingerprint, spec §4.3). */
export function certFingerprint(certPem: string): string {
  return 'sha256:' + createHash('sha256').update(pemToDer(certPem)).digest('hex');
}

/** SPKI DER of a certificate's public key. */
export function certSpki(certPem: string): Buffer {
  return Buffer.from(new x509.X509Certificate(certPem).publicKey.rawData);
}

function randomSerial(): string {
  // A positive 16-byte serial: clear the top bit so DER needs no sign byte.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f | 0x01;
  return Buffer.from(bytes).toString('hex');
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  return derToPem(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function importSigningKey(pem: string, alg: typeof P384 | typeof P256): Promise<CryptoKey> {
  return subtle.importKey('pkcs8', pemToDer(pem), alg, false, ['sign']);
}

async function createPki(issuer: string): Promise<StoredPki> {
  const now = Date.now();
  const notBefore = new Date(now - DAY_MS);
  const rootKeys = await subtle.generateKey(P384, true, ['sign', 'verify']);
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=AUN Dev Root CA ${issuer}, O=aun-worker dev gateway`,
    notBefore,
    notAfter: new Date(now + 20 * 365 * DAY_MS),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    keys: rootKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 2, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const issuerKeys = await subtle.generateKey(P384, true, ['sign', 'verify']);
  const issuerCert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${issuer}`,
    issuer: root.subject,
    notBefore,
    notAfter: new Date(now + 10 * 365 * DAY_MS),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    publicKey: issuerKeys.publicKey,
    signingKey: rootKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(issuerKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const authKeys = await subtle.generateKey(P256, true, ['sign', 'verify']);
  const authCert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=auth.${issuer}`,
    issuer: issuerCert.subject,
    notBefore,
    notAfter: new Date(now + 5 * 365 * DAY_MS),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    publicKey: authKeys.publicKey,
    signingKey: issuerKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      await x509.AuthorityKeyIdentifierExtension.create(issuerKeys.publicKey),
    ],
  });
  return {
    root: { certPem: root.toString('pem'), keyPem: await exportKeyPem(rootKeys.privateKey) },
    issuer: { certPem: issuerCert.toString('pem'), keyPem: await exportKeyPem(issuerKeys.privateKey) },
    auth: { certPem: authCert.toString('pem'), keyPem: await exportKeyPem(authKeys.privateKey) },
  };
}

/**
 * A CA for TLS server certificates only (pathlen 0, EKU serverAuth), signed by the root: the AUN
 * issuer CA keeps issuing agents only, and the root key signs once, when this CA is made.
 */
async function createTlsCa(issuer: string, root: StoredKeyPair): Promise<StoredTls> {
  const now = Date.now();
  const rootCert = new x509.X509Certificate(root.certPem);
  const rootKey = await importSigningKey(root.keyPem, P384);
  const keys = await subtle.generateKey(P384, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=AUN Dev TLS CA ${issuer}, O=aun-worker dev gateway`,
    issuer: rootCert.subject,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 10 * 365 * DAY_MS),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    publicKey: keys.publicKey,
    signingKey: rootKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(await rootCert.publicKey.export()),
    ],
  });
  const serverKeys = await subtle.generateKey(P256, true, ['sign', 'verify']);
  return {
    ca: { certPem: ca.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) },
    serverKeyPem: await exportKeyPem(serverKeys.privateKey),
  };
}

/** The server certificate (P-256, EKU serverAuth, SAN = `hosts`); its key is kept, so its SPKI is stable per data dir. */
async function issueServer(tls: StoredTls, hosts: readonly string[]): Promise<ServerTls> {
  const caCert = new x509.X509Certificate(tls.ca.certPem);
  const caKey = await importSigningKey(tls.ca.keyPem, P384);
  const privateKey = createPrivateKey(tls.serverKeyPem);
  const spkiDer = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const publicKey = await subtle.importKey('spki', spkiDer, P256, true, ['verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${hosts[0] ?? 'localhost'}`,
    issuer: caCert.subject,
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 397 * DAY_MS),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
    publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(hosts.map((h) => ({ type: isIP(h) ? 'ip' as const : 'dns' as const, value: h }))),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(await caCert.publicKey.export()),
    ],
  });
  const certPem = cert.toString('pem');
  return {
    certChainPem: `${certPem}\n${tls.ca.certPem}\n`,
    keyPem: tls.serverKeyPem,
    certPem,
    caPem: tls.ca.certPem,
    spkiSha256: createHash('sha256').update(spkiDer).digest('base64'),
  };
}

const MIGRATIONS = ['CREATE TABLE pki (issuer TEXT PRIMARY KEY, material TEXT NOT NULL, created_at INTEGER NOT NULL)'];

/** Loads the CA of `issuer` from the database, creating it on first start. */
export async function loadPki(db: Database.Database, issuer: string, agentValidityDays = 365, clock: () => number = Date.now): Promise<Pki> {
  migrate(db, 'pki', MIGRATIONS);
  const row = db.prepare('SELECT material FROM pki WHERE issuer = ?').get(issuer) as { material: string } | undefined;
  let stored: StoredPki;
  if (row) {
    stored = JSON.parse(row.material) as StoredPki;
  } else {
    stored = await createPki(issuer);
    db.prepare('INSERT INTO pki (issuer, material, created_at) VALUES (?, ?, ?)').run(issuer, JSON.stringify(stored), Date.now());
  }
  const issuerCert = new x509.X509Certificate(stored.issuer.certPem);
  const issuerKey = await importSigningKey(stored.issuer.keyPem, P384);
  const issuerPublic = await issuerCert.publicKey.export();
  const authCert = new x509.X509Certificate(stored.auth.certPem);
  if (!stored.tokenKeyPem) {
    // Data dirs made before tokens had their own key get one now; their old tokens stop working.
    stored.tokenKeyPem = await exportKeyPem((await subtle.generateKey(P256, true, ['sign', 'verify'])).privateKey);
    db.prepare('UPDATE pki SET material = ? WHERE issuer = ?').run(JSON.stringify(stored), issuer);
  }
  const tokenKey = createPrivateKey(stored.tokenKeyPem);
  const tokenSpki = createPublicKey(tokenKey).export({ type: 'spki', format: 'der' });

  return {
    rootPem: stored.root.certPem,
    issuerPem: stored.issuer.certPem,
    authCertPem: stored.auth.certPem,
    authKey: createPrivateKey(stored.auth.keyPem),
    tokenKey,
    tokenKid: 'jwt-' + createHash('sha256').update(tokenSpki).digest('hex').slice(0, 16),
    async serverTls(hosts) {
      if (!stored.tls) {
        stored.tls = await createTlsCa(issuer, stored.root);
        db.prepare('UPDATE pki SET material = ? WHERE issuer = ?').run(JSON.stringify(stored), issuer);
      }
      return issueServer(stored.tls, hosts);
    },
    async issueAgent(aid, spkiDer) {
      const publicKey = await subtle.importKey('spki', spkiDer, P256, true, ['verify']);
      const now = clock();
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: randomSerial(),
        subject: `CN=${aid}`,
        issuer: issuerCert.subject,
        notBefore: new Date(now - 5 * 60_000),
        notAfter: new Date(now + agentValidityDays * DAY_MS),
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
        publicKey,
        signingKey: issuerKey,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
          await x509.AuthorityKeyIdentifierExtension.create(issuerPublic),
          await x509.SubjectKeyIdentifierExtension.create(publicKey),
        ],
      });
      return cert.toString('pem');
    },
  };
}
