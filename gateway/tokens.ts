// Access tokens are ES256 JWTs signed by a key kept for tokens alone (spec §4.4), so they survive
// a gateway restart without a table; refresh tokens are opaque, stored hashed, and rotate on use.
// Verification accepts exactly the header this service writes: no other alg, typ or kid.

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

/** Strict base64url: Buffer's decoder silently skips other characters, so one token could be spelled many ways. */
const B64URL = /^[A-Za-z0-9_-]+$/;
const ES256_SIGNATURE_BYTES = 64;
/** Far above any token this service writes; a longer string is refused before any decoding. */
const MAX_TOKEN_CHARS = 2048;

export interface Grant { access_token: string; refresh_token: string; expires_in: number }
export type RefreshOutcome =
  | { ok: true; grant: Grant; aid: string; refreshCount: number }
  | { ok: false; error: string; hashPrefix: string };

export class TokenService {
  private readonly publicKey: KeyObject;
  /** The one header this service writes and accepts. */
  private readonly header: string;
  private readonly insert;
  private readonly find;
  private readonly revoke;
  private readonly revokeAid;

  constructor(
    db: Database.Database,
    private readonly signingKey: KeyObject,
    kid: string,
    private readonly issuer: string,
    private readonly accessTtl: number,
    private readonly refreshTtl: number,
  ) {
    migrate(db, 'tokens', MIGRATIONS);
    this.publicKey = createPublicKey(signingKey);
    this.header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid }));
    this.insert = db.prepare('INSERT INTO refresh_tokens (token_hash, aid, chain_started_at, refresh_count, expires_at) VALUES (?, ?, ?, ?, ?)');
    this.find = db.prepare('SELECT aid, chain_started_at, refresh_count, expires_at, revoked FROM refresh_tokens WHERE token_hash = ?');
    this.revoke = db.prepare('UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = ? AND revoked = 0');
    this.revokeAid = db.prepare('UPDATE refresh_tokens SET revoked = 1 WHERE aid = ? AND revoked = 0');
  }

  /** Spends every refresh token of `aid` (its key changed: they came from logins with the old one). */
  revokeAll(aid: string): void {
    this.revokeAid.run(aid);
  }

  private accessToken(aid: string, nowS: number): string {
    const header = this.header;
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

  /**
   * Returns the token's AID when the JWT is ours (exactly our header: alg ES256, typ JWT, our kid;
   * signed by the token key), well-formed, for our issuer and audience, and not expired.
   */
  verifyAccess(token: string, nowS: number): string | null {
    if (token.length > MAX_TOKEN_CHARS) return null;
    const parts = token.split('.');
    if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) return null;
    const [header, claims, sig] = parts as [string, string, string];
    if (header !== this.header) return null;
    const signature = Buffer.from(sig, 'base64url');
    // Canonical spelling only: the last character of a base64url segment has spare bits.
    if (signature.length !== ES256_SIGNATURE_BYTES || b64url(signature) !== sig) return null;
    const claimBytes = Buffer.from(claims, 'base64url');
    if (b64url(claimBytes) !== claims) return null;
    try {
      if (!verify('sha256', Buffer.from(`${header}.${claims}`), { key: this.publicKey, dsaEncoding: 'ieee-p1363' }, signature)) return null;
      const body = JSON.parse(claimBytes.toString('utf8')) as { aid?: unknown; sub?: unknown; iss?: unknown; exp?: unknown; aud?: unknown };
      if (typeof body !== 'object' || body === null) return null;
      if (typeof body.aid !== 'string' || body.sub !== body.aid || body.iss !== `auth.${this.issuer}` || body.aud !== 'aun') return null;
      if (typeof body.exp !== 'number' || body.exp <= nowS) return null;
      return body.aid;
    } catch {
      return null;
    }
  }

  /**
   * Rotates a refresh token: the old one stops working whether or not the new one is used.
   * `refuse` may turn the token's AID away (an error code) before anything is spent.
   */
  refresh(token: string, nowS: number, refuse: (aid: string) => string | null = () => null): RefreshOutcome {
    const hash = sha256Hex(token);
    const row = this.find.get(hash) as { aid: string; chain_started_at: number; refresh_count: number; expires_at: number; revoked: number } | undefined;
    const hashPrefix = 'sha256:' + hash.slice(0, 16);
    if (!row || row.revoked || row.expires_at <= nowS) return { ok: false, error: 'invalid_or_expired_refresh_token', hashPrefix };
    const refused = refuse(row.aid);
    if (refused !== null) return { ok: false, error: refused, hashPrefix };
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
