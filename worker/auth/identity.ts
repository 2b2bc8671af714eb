// Registering an AID (spec §4.2): check `/pki/cert/<aid>` first, then `auth.create_aid` with a
// fresh (or the caller's) P-256 key, and accept the certificate only after checking it.

import { buf, equalBytes, toBase64 } from '../../protocol/bytes.ts';
import { AunError, AuthError, ErrorCode, IdentityConflictError } from '../../protocol/errors.ts';
import { httpBaseOf, resolveFetch, type FetchFn, type Timers, type WebSocketCtor } from '../net/io.ts';
import { shortRpc } from './short-rpc.ts';
import type { TrustStore } from './trust.ts';
import type { Certificate } from './x509.ts';

export interface IdentityContext {
  /** ws(s)://…/ws of the gateway. */
  url: string;
  trust: TrustStore;
  /** Defaults to the http(s) origin of `url`. */
  httpBase?: string;
  /** SPKI DER of a key the caller already holds for this AID (resume or re-register). */
  existingPublicSpki?: Uint8Array;
  WebSocketImpl?: WebSocketCtor;
  fetch?: FetchFn;
  timers?: Timers;
  timeoutMs?: number;
}

/** A new key pair and its certificate; the runtime wraps `pkcs8` and re-imports it non-extractable. */
export interface NewKeyIdentity { kind: 'new-key'; certPem: string; pkcs8: Uint8Array; publicSpki: Uint8Array }
/** The certificate for the key the caller passed in `existingPublicSpki`: nothing new to store but the cert. */
export interface ExistingKeyIdentity { kind: 'existing-key'; certPem: string; publicSpki: Uint8Array }
export type IdentityResult = NewKeyIdentity | ExistingKeyIdentity;

export async function createIdentity(aid: string, ctx: IdentityContext): Promise<IdentityResult> {
  const httpBase = ctx.httpBase ?? httpBaseOf(ctx.url);
  const registered = await fetchRegisteredCert(aid, httpBase, resolveFetch(ctx.fetch));
  if (registered !== null) {
    const existing = ctx.existingPublicSpki;
    if (!existing) throw new IdentityConflictError(`AID ${aid} is already registered; import its key instead of creating it again`, ErrorCode.IdentityConflict);
    const cert = await verifiedCert(registered, aid, ctx.trust, httpBase);
    if (!sameKey(cert, existing)) throw new IdentityConflictError(`AID ${aid} is registered with another key`, ErrorCode.IdentityConflict);
    return { kind: 'existing-key', certPem: registered, publicSpki: existing };
  }
  if (ctx.existingPublicSpki) {
    const certPem = await register(aid, ctx.existingPublicSpki, ctx, httpBase);
    return { kind: 'existing-key', certPem, publicSpki: ctx.existingPublicSpki };
  }
  // Extractable only here, for the one PKCS#8 export the keystore needs; the key object is dropped.
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
  const publicSpki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey));
  const certPem = await register(aid, publicSpki, ctx, httpBase);
  return { kind: 'new-key', certPem, pkcs8, publicSpki };
}

async function fetchRegisteredCert(aid: string, httpBase: string, fetchFn: FetchFn): Promise<string | null> {
  const url = `${httpBase}/pki/cert/${encodeURIComponent(aid)}`;
  let res: Response;
  try {
    res = await fetchFn(url);
  } catch (err) {
    throw new AunError(`GET ${url} failed: ${(err as Error).message}`, ErrorCode.Internal, undefined, true);
  }
  if (res.status === 404) return null;
  if (res.status !== 200) throw new AunError(`GET ${url} answered HTTP ${res.status}`, ErrorCode.Internal, undefined, res.status >= 500);
  return res.text();
}

async function register(aid: string, publicSpki: Uint8Array, ctx: IdentityContext, httpBase: string): Promise<string> {
  const result = await shortRpc(ctx.url, 'auth.create_aid', { aid, public_key: toBase64(publicSpki), curve: 'P-256' }, ctx);
  if (typeof result.cert !== 'string') throw new AuthError('auth.create_aid returned no certificate', ErrorCode.AuthFailed);
  const cert = await verifiedCert(result.cert, aid, ctx.trust, httpBase);
  if (!sameKey(cert, publicSpki)) throw new AuthError('certificate check failed: the issued certificate does not carry our public key', ErrorCode.AuthFailed);
  return result.cert;
}

/** The chain ends at a trusted root and the subject CN is the AID. */
export async function verifiedCert(certPem: string, aid: string, trust: TrustStore, httpBase: string): Promise<Certificate> {
  const cert = await trust.verifyLeaf(certPem, httpBase);
  const cn = cert.commonName;
  if (cn !== aid) throw new AuthError(`certificate check failed: subject CN "${cn ?? ''}" is not ${aid}`, ErrorCode.AuthFailed);
  return cert;
}

export function sameKey(cert: Certificate, publicSpki: Uint8Array): boolean {
  return equalBytes(cert.spki, publicSpki);
}

/** Imports a PKCS#8 P-256 key for signing only, non-extractable. */
export function importSigningKey(pkcs8: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey('pkcs8', buf(pkcs8), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
}
