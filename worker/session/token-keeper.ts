// The owner's tokens: read from the cache, renewed by refresh (or a full login when the refresh
// chain is gone), stored back, and refreshed on a timer ahead of expiry. Refresh tokens rotate on
// use, so refreshes are single-flight: two concurrent ones would burn the chain. Expiry is wall-
// clock time but timers run on a clock that may stop while the machine sleeps, so the timer is
// only a reminder: it wakes at least every RECHECK_MS and checks the wall clock before acting,
// and the session calls schedule() again after a wake.

import type { RefreshInput, RefreshResult, Tokens } from '../auth/login.ts';
import type { Timers } from '../net/io.ts';
import { recordOf, refreshDueAt, type TokenCache, type TokenRecord } from './tokens.ts';

/** After a refresh that failed without asking for a login (network, 5xx), try again this soon. */
export const REFRESH_RETRY_MS = 30_000;
/** The longest the refresh timer sleeps before it looks at the wall clock again. */
export const RECHECK_MS = 600_000;

export type RefreshOutcome =
  | { ok: true; record: TokenRecord }
  | { ok: false; reloginRequired: boolean; error: string };

export interface TokenKeeperDeps {
  aid: string;
  cache: TokenCache;
  timers: Timers;
  refresh(input: RefreshInput): Promise<RefreshResult>;
  login(): Promise<Tokens>;
  counters: { logins: number; refreshes: number };
  log(line: string): void;
}

export class TokenKeeper {
  private refreshing: Promise<RefreshOutcome> | undefined;
  private loggingIn: Promise<TokenRecord> | undefined;
  private timer: unknown = undefined;
  private generation = 0;

  constructor(private readonly deps: TokenKeeperDeps) {}

  current(): Promise<TokenRecord | undefined> {
    return this.deps.cache.get(this.deps.aid);
  }

  /** Refreshes the cached pair; a refusal with relogin_required clears the cache (spec §3.7). */
  refresh(): Promise<RefreshOutcome> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** A full two-phase login; the new pair is stored. */
  login(): Promise<TokenRecord> {
    this.loggingIn ??= this.doLogin().finally(() => {
      this.loggingIn = undefined;
    });
    return this.loggingIn;
  }

  /** The gateway refused the cached access token: mark it expired so no retry offers it again. */
  async expireAccess(): Promise<void> {
    const record = await this.current();
    const now = this.deps.timers.now();
    if (record && record.accessExpiresAt > now) await this.deps.cache.put(this.deps.aid, { ...record, accessExpiresAt: now });
  }

  /**
   * Arms the refresh timer for the cached token (replacing any earlier one), by the wall clock
   * now: a token whose refresh point passed while the machine slept is refreshed at once.
   */
  async schedule(): Promise<void> {
    const generation = ++this.generation;
    this.deps.timers.clearTimeout(this.timer);
    const record = await this.current();
    if (!record || generation !== this.generation) return;
    this.arm(generation, refreshDueAt(record) - this.deps.timers.now());
  }

  cancel(): void {
    this.generation++;
    this.deps.timers.clearTimeout(this.timer);
  }

  private arm(generation: number, ms: number): void {
    this.timer = this.deps.timers.setTimeout(() => void this.due(generation), Math.min(RECHECK_MS, Math.max(0, ms)));
  }

  private async due(generation: number): Promise<void> {
    try {
      // Not due by the wall clock yet (a capped wait, a clock set back, a token renewed meanwhile).
      const record = await this.current();
      if (generation !== this.generation) return;
      const left = record ? refreshDueAt(record) - this.deps.timers.now() : 0;
      if (left > 0) return this.arm(generation, left);
      const outcome = await this.refresh();
      if (!outcome.ok) {
        if (!outcome.reloginRequired) throw new Error(outcome.error);
        await this.login();
      }
      if (generation === this.generation) await this.schedule();
    } catch (err) {
      this.deps.log(`token refresh for ${this.deps.aid} failed, retrying in ${REFRESH_RETRY_MS} ms: ${(err as Error).message}`);
      if (generation === this.generation) this.arm(generation, REFRESH_RETRY_MS);
    }
  }

  private async doRefresh(): Promise<RefreshOutcome> {
    const { aid, cache } = this.deps;
    const record = await cache.get(aid);
    if (!record?.refreshToken) return { ok: false, reloginRequired: true, error: 'no refresh token' };
    const result = await this.deps.refresh({
      aid, refreshToken: record.refreshToken, accessToken: record.accessToken, accessExpiresAt: record.accessExpiresAt,
    });
    if (!result.ok) {
      if (result.reloginRequired) await cache.clear(aid);
      return { ok: false, reloginRequired: result.reloginRequired, error: result.error };
    }
    this.deps.counters.refreshes++;
    const next = recordOf(result.tokens, this.deps.timers.now());
    await cache.put(aid, next);
    return { ok: true, record: next };
  }

  private async doLogin(): Promise<TokenRecord> {
    const tokens = await this.deps.login();
    this.deps.counters.logins++;
    const record = recordOf(tokens, this.deps.timers.now());
    await this.deps.cache.put(this.deps.aid, record);
    return record;
  }
}
