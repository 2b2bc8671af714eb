// Access tokens are ES256 JWTs signed by the auth-service key (spec §4.4), so they survive a
// gateway restart without a table; refresh tokens are opaque, stored hashed, and rotate on use.

import { createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import type Database from 'better-sqlite3';
import { migrate } from './db.ts';
import { sha256Hex } from './sig.ts';

const MIGRATIONS = [
  `CREATE TABLE refresh_tokens (
     token_hash TEXT PRIMARY KEY,
     aid TEXT NOT NULL,
     chain_started_at INTEGER NOT NULL,
     refresh_count INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     revoked INTEGER NOT NULL DEFAULT 0
   )`,
];

/** Refreshes allowed in one chain before a full login is required (spec §4.5). */
const MAX_REFRESHES = 720;

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export interface Grant { access_token: string; refresh_token: string; expires_in: number }
export type RefreshOutcome =
  | { ok: true; grant: Grant; aid: string; refreshCount: number }
  | { ok: false; error: string; hashPrefix: string };

export class TokenService {
  private readonly publicKey: KeyObject;
  private readonly insert;
  private readonly find;
  private readonly revoke;

  constructor(
    db: Database.Database,
    private readonly signingKey: KeyObject,
    private readonly kid: string,
    private readonly issuer: string,
    private readonly accessTtl: number,
    private readonly refreshTtl: number,
  ) {
    migrate(db, 'tokens', MIGRATIONS);
    this.publicKey = createPublicKey(signingKey);
    this.insert = db.prepare('INSERT INTO refresh_tokens (token_hash, aid, chain_started_at, refresh_count, expires_at) VALUES (?, ?, ?, ?, ?)');
    this.find = db.prepare('SELECT aid, chain_started_at, refresh_count, expires_at, revoked FROM refresh_tokens WHERE token_hash = ?');
    this.revoke = db.prepare('UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = ? AND revoked = 0');
  }

  private accessToken(aid: string, nowS: number): string {
    const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: this.kid }));
    const claims = b64url(JSON.stringify({ aid, sub: aid, iss: `auth.${this.issuer}`, aud: 'aun', iat: nowS, exp: nowS + this.accessTtl, jti: randomBytes(8).toString('hex') }));
    const sig = sign('sha256', Buffer.from(`${header}.${claims}`), { key: this.signingKey, dsaEncoding: 'ieee-p1363' });
    return `${header}.${claims}.${b64url(sig)}`;
  }

  private newRefresh(aid: string, chainStart: number, count: number): string {
    const token = 'rt-' + randomBytes(32).toString('base64url');
    this.insert.run(sha256Hex(token), aid, chainStart, count, chainStart + this.refreshTtl);
    return token;
  }

  /** A fresh grant after a full login: a new refresh-token chain. */
  grant(aid: string, nowS: number): Grant {
    return { access_token: this.accessToken(aid, nowS), refresh_token: this.newRefresh(aid, nowS, 0), expires_in: this.accessTtl };
  }

  /** Returns the token's AID when the JWT is ours, well-formed and not expired. */
  verifyAccess(token: string, nowS: number): string | null {
    const parts = token.split('.');
    if (parts.length !== 3) return null;
    const [header, claims, sig] = parts as [string, string, string];
    try {
      const ok = verify('sha256', Buffer.from(`${header}.${claims}`), { key: this.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'));
      if (!ok) return null;
      const body = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as { aid?: unknown; exp?: unknown; aud?: unknown };
      if (typeof body.aid !== 'string' || typeof body.exp !== 'number' || body.aud !== 'aun' || body.exp <= nowS) return null;
      return body.aid;
    } catch {
      return null;
    }
  }

  /** Rotates a refresh token: the old one stops working whether or not the new one is used. */
  refresh(token: string, nowS: number): RefreshOutcome {
    const hash = sha256Hex(token);
    const row = this.find.get(hash) as { aid: string; chain_started_at: number; refresh_count: number; expires_at: number; revoked: number } | undefined;
    const hashPrefix = 'sha256:' + hash.slice(0, 16);
    if (!row || row.revoked || row.expires_at <= nowS) return { ok: false, error: 'invalid_or_expired_refresh_token', hashPrefix };
    if (row.refresh_count >= MAX_REFRESHES) return { ok: false, error: 'refresh_chain_exhausted', hashPrefix };
    if (this.revoke.run(hash).changes !== 1) return { ok: false, error: 'invalid_or_expired_refresh_token', hashPrefix };
    const refreshCount = row.refresh_count + 1;
    return {
      ok: true,
      aid: row.aid,
      refreshCount,
      grant: { access_token: this.accessToken(row.aid, nowS), refresh_token: this.newRefresh(row.aid, row.chain_started_at, refreshCount), expires_in: this.accessTtl },
    };
  }
}
