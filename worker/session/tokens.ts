// Access/refresh tokens as the session keeps them, and when to use or renew them.

import type { Tokens } from '../auth/login.ts';

/** The store module's record (worker/store); ms timestamps. */
export interface TokenRecord {
  accessToken: string;
  accessExpiresAt: number;
  refreshToken: string;
  obtainedAt: number;
}

/** What the session needs from the store; the runtime passes the store's `tokens`. */
export interface TokenCache {
  get(aid: string): Promise<TokenRecord | undefined>;
  put(aid: string, tokens: TokenRecord): Promise<void>;
  clear(aid: string): Promise<void>;
}

/** A cached access token is reused only if it stays valid this much longer (spec §3.5). */
export const REUSE_MARGIN_MS = 30_000;
/** Refresh no later than this before expiry (the reference's token_refresh_before, 1800 s). */
export const REFRESH_LEAD_MAX_MS = 1_800_000;

export function recordOf(tokens: Tokens, now: number): TokenRecord {
  return {
    accessToken: tokens.accessToken,
    accessExpiresAt: now + tokens.expiresIn * 1000,
    refreshToken: tokens.refreshToken,
    obtainedAt: now,
  };
}

export function isReusable(record: TokenRecord, now: number): boolean {
  return record.accessExpiresAt - now > REUSE_MARGIN_MS;
}

/**
 * When to refresh: min(1800 s, ttl/2) before expiry. A fixed 1800 s lead would refresh a token
 * of ≤ 30 min the moment it arrives, forever; half the lifetime keeps short tokens useful.
 */
export function refreshDueAt(record: TokenRecord): number {
  const ttl = record.accessExpiresAt - record.obtainedAt;
  return record.accessExpiresAt - Math.min(REFRESH_LEAD_MAX_MS, ttl / 2);
}

/** For tests and for a runtime without IndexedDB. */
export class MemoryTokenCache implements TokenCache {
  private readonly records = new Map<string, TokenRecord>();

  async get(aid: string): Promise<TokenRecord | undefined> {
    return this.records.get(aid);
  }

  async put(aid: string, tokens: TokenRecord): Promise<void> {
    this.records.set(aid, { ...tokens });
  }

  async clear(aid: string): Promise<void> {
    this.records.delete(aid);
  }
}
