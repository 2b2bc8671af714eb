// Peer identity keys for E2EE (spec §7.4): the certificate of an AID, fetched from the gateway's
// `/pki/cert/<aid>` (or taken from a bootstrap's `certs`), chain-verified, CN checked, and its
// SPKI cached for an hour.

import { AuthError, ErrorCode, NotFoundError } from '../../protocol/errors.ts';
import { resolveFetch, systemTimers, type FetchFn, type Timers } from '../net/io.ts';
import type { TrustStore } from './trust.ts';

const PEER_CACHE_TTL_MS = 3_600_000;
const MAX_PEERS = 1024;

export class PeerCertificates {
  private readonly cache = new Map<string, { spki: Uint8Array; until: number }>();
  private readonly fetch: FetchFn;
  private readonly timers: Pick<Timers, 'now'>;

  constructor(
    private readonly trust: TrustStore,
    private readonly httpBase: string,
    opts: { fetch?: FetchFn; timers?: Pick<Timers, 'now'> } = {},
  ) {
    this.fetch = resolveFetch(opts.fetch);
    this.timers = opts.timers ?? systemTimers;
  }

  private now(): number {
    return this.timers.now();
  }

  /** The chain-verified SPKI of `aid`'s certificate; `certPem` skips the fetch when given. */
  async identityKey(aid: string, certPem?: string): Promise<Uint8Array> {
    const hit = this.cache.get(aid);
    if (hit && hit.until > this.now()) return hit.spki;
    const pem = certPem ?? (await this.download(aid));
    const cert = await this.trust.verifyLeaf(pem, this.httpBase);
    if (cert.commonName !== aid) throw new AuthError(`the certificate served for ${aid} is for ${cert.commonName ?? 'nobody'}`, ErrorCode.AuthFailed);
    const spki = cert.spki;
    if (this.cache.size >= MAX_PEERS) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(aid, { spki, until: this.now() + PEER_CACHE_TTL_MS });
    return spki;
  }

  forget(aid: string): void {
    this.cache.delete(aid);
  }

  private async download(aid: string): Promise<string> {
    const res = await this.fetch(`${this.httpBase}/pki/cert/${encodeURIComponent(aid)}`);
    if (res.status === 404) throw new NotFoundError(`${aid} is not registered at this gateway`);
    if (!res.ok) throw new AuthError(`GET /pki/cert/${aid} answered HTTP ${res.status}`, ErrorCode.AuthFailed);
    return res.text();
  }
}
