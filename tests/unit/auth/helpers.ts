// Shared by the auth and session tests: the `ws` WebSocket as a browser-API constructor, a test CA
// built with @peculiar/x509, and identities registered through worker/auth against a gateway.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import WebSocket from 'ws';
import type { Gateway } from '../../../gateway/server.ts';
import { createIdentity, importSigningKey } from '../../../worker/auth/identity.ts';
import type { WebSocketCtor } from '../../../worker/net/io.ts';
import type { Credentials } from '../../../worker/auth/login.ts';
import { TrustStore } from '../../../worker/auth/trust.ts';
import { newAid } from '../../support/gateway.ts';

export const WS = WebSocket as unknown as WebSocketCtor;

const DAY = 86_400_000;
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface TestCa { pem: string; cert: x509.X509Certificate; keys: CryptoKeyPair }

export async function makeRoot(name = 'Test Root'): Promise<TestCa> {
  const keys = await crypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: `CN=${name}`, keys, signingAlgorithm: ALG,
    notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 365 * DAY),
    extensions: [new x509.BasicConstraintsExtension(true, 2, true)],
  });
  return { pem: cert.toString('pem'), cert, keys };
}

let serials = 0x100;

export interface IssueOptions {
  ca?: boolean;
  notBefore?: Date;
  notAfter?: Date;
  serial?: string;
}

export async function issue(parent: TestCa, cn: string, opts: IssueOptions = {}): Promise<TestCa> {
  const keys = await crypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: opts.serial ?? (++serials).toString(16).padStart(4, '0'),
    subject: `CN=${cn}`, issuer: parent.cert.subject, publicKey: keys.publicKey, signingKey: parent.keys.privateKey,
    signingAlgorithm: ALG,
    notBefore: opts.notBefore ?? new Date(Date.now() - DAY), notAfter: opts.notAfter ?? new Date(Date.now() + 30 * DAY),
    extensions: opts.ca === undefined ? [] : [new x509.BasicConstraintsExtension(opts.ca, undefined, true)],
  });
  return { pem: cert.toString('pem'), cert, keys };
}

/** The same certificate with one bit of its signature flipped. */
export function tamperSignature(pem: string): string {
  const der = new Uint8Array(new x509.X509Certificate(pem).rawData);
  der[der.length - 1]! ^= 0x01;
  return new x509.X509Certificate(der).toString('pem');
}

export function trustOf(gw: Gateway): TrustStore {
  return new TrustStore([gw.rootPem]);
}

/** A fresh AID registered through createIdentity, with its key imported non-extractable. */
export async function registered(gw: Gateway, prefix = 'agent'): Promise<Credentials & { publicSpki: Uint8Array }> {
  const aid = newAid(prefix, gw.config.issuer);
  const id = await createIdentity(aid, { url: gw.url, trust: trustOf(gw), WebSocketImpl: WS });
  if (id.kind !== 'new-key') throw new Error('expected a new key');
  return { aid, certPem: id.certPem, privateKey: await importSigningKey(id.pkcs8), publicSpki: id.publicSpki };
}
