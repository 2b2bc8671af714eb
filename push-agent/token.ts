// Push tokens: what the agent hands an app and the app hands the gateway (opaque to the gateway).
// `pt1.<payload>.<sig>`: base64url JSON {aid, sid, iat, exp} signed ES256 (raw r‖s) by the agent's key.

import { sign, verify, type KeyObject } from 'node:crypto';

export interface TokenClaims {
  /** The AID the token was issued for: must equal the batch item's target_aid. */
  aid: string;
  /** The Web Push subscription this token routes to (see subscriptions.ts). */
  sid: string;
  /** Seconds. */
  iat: number;
  exp: number;
}

export type TokenCheck = { ok: true; claims: TokenClaims } | { ok: false; reason: 'malformed' | 'signature' | 'expired' | 'wrong_aid' };

const PREFIX = 'pt1';
const MAX_TOKEN = 4096;

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export function issueToken(key: KeyObject, claims: TokenClaims): string {
  const body = `${PREFIX}.${b64url(JSON.stringify(claims))}`;
  return `${body}.${b64url(sign('sha256', Buffer.from(body), { key, dsaEncoding: 'ieee-p1363' }))}`;
}

/** Checks shape, signature, expiry and that the token names `targetAid`. Never throws. */
export function checkToken(key: KeyObject, token: unknown, targetAid: string, nowSeconds: number): TokenCheck {
  if (typeof token !== 'string' || token.length > MAX_TOKEN) return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX) return { ok: false, reason: 'malformed' };
  const sig = Buffer.from(parts[2]!, 'base64url');
  if (sig.length !== 64) return { ok: false, reason: 'malformed' };
  if (!verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key, dsaEncoding: 'ieee-p1363' }, sig)) return { ok: false, reason: 'signature' };
  let claims: TokenClaims;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as TokenClaims;
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (typeof claims !== 'object' || claims === null || typeof claims.aid !== 'string' || typeof claims.sid !== 'string'
    || typeof claims.exp !== 'number' || typeof claims.iat !== 'number') return { ok: false, reason: 'malformed' };
  if (claims.exp <= nowSeconds) return { ok: false, reason: 'expired' };
  if (claims.aid !== targetAid) return { ok: false, reason: 'wrong_aid' };
  return { ok: true, claims };
}
