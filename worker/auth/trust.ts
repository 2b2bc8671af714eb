// Certificate chain checks (spec §3.2 step 3): leaf → chain[0] → … → a self-signed root that is
// byte-identical to one we trust. Certificates are read by x509.ts, signatures checked by WebCrypto.

import { equalBytes, pemToDer, splitPemBundle } from '../../protocol/bytes.ts';
import { AunError, AuthError, ErrorCode } from '../../protocol/errors.ts';
import { resolveFetch, systemTimers, type FetchFn, type Timers } from '../net/io.ts';
import { parseCertificate, signedBy, type Certificate } from './x509.ts';

/** Clock skew tolerated on notBefore/notAfter, as the reference does. */
export const CLOCK_SKEW_MS = 300_000;
/** How long a verified leaf is trusted without re-checking (reference: 24 h per serial). */
export const LEAF_CACHE_TTL_MS = 86_400_000;
/** `/pki/chain` changes only when a CA rotates; a failed check refetches it at once anyway. */
export const CHAIN_CACHE_TTL_MS = 3_600_000;
const MAX_CACHED_LEAVES = 256;

export interface TrustStoreOptions {
  fetch?: FetchFn;
  timers?: Pick<Timers, 'now'>;
}

function fail(check: string): never {
  throw new AuthError(`certificate check failed: ${check}`, ErrorCode.AuthFailed);
}

function parse(pem: string, what: string): Certificate {
  try {
    return parseCertificate(pemToDer(pem));
  } catch {
    return fail(`${what} is not a parsable X.509 certificate`);
  }
}

export class TrustStore {
  private readonly roots: Uint8Array[];
  private readonly fetch: FetchFn;
  private readonly now: () => number;
  private readonly chains = new Map<string, { pems: string[]; fetchedAt: number }>();
  private readonly leaves = new Map<string, { cert: Certificate; until: number }>();

  /** `rootPems`: the trusted roots (PEM, one or more per string). */
  constructor(rootPems: readonly string[], opts: TrustStoreOptions = {}) {
    this.roots = rootPems.flatMap(splitPemBundle).map((pem) => parse(pem, 'a trusted root').der);
    if (this.roots.length === 0) throw new AunError('TrustStore needs at least one trusted root certificate (PEM)');
    this.fetch = resolveFetch(opts.fetch);
    const timers = opts.timers ?? systemTimers;
    this.now = () => timers.now();
  }

  /** Verifies `leafPem` against `chainPems` (issuer CA first, root last); throws AuthError. */
  async verifyChain(leafPem: string, chainPems: readonly string[]): Promise<Certificate> {
    const leaf = parse(leafPem, 'the certificate');
    const chain = chainPems.map((pem, i) => parse(pem, `chain element ${i}`));
    const root = chain[chain.length - 1];
    if (!root) fail('the CA chain is empty');
    const path = [leaf, ...chain];
    const label = (i: number) => (i === 0 ? `certificate "${leaf.subject}"` : `chain element ${i - 1} "${path[i]!.subject}"`);
    const now = this.now();
    for (const [i, cert] of path.entries()) {
      if (cert.notBefore.getTime() - CLOCK_SKEW_MS > now) fail(`${label(i)} is not valid before ${cert.notBefore.toISOString()}`);
      if (cert.notAfter.getTime() + CLOCK_SKEW_MS < now) fail(`${label(i)} expired at ${cert.notAfter.toISOString()}`);
    }
    for (let i = 0; i < path.length - 1; i++) {
      const child = path[i]!;
      const parent = path[i + 1]!;
      if (!equalBytes(child.issuerDer, parent.subjectDer)) fail(`${label(i)} is issued by "${child.issuer}", not by the next chain element "${parent.subject}"`);
      if (!(await signedBy(child, parent))) fail(`the signature on ${label(i)} does not verify with the key of "${parent.subject}"`);
    }
    for (const [i, ca] of chain.entries()) {
      if (!ca.isCa) fail(`${label(i + 1)} is not a CA (basicConstraints CA:TRUE missing)`);
    }
    if (!equalBytes(root.issuerDer, root.subjectDer) || !(await signedBy(root, root))) fail(`the last chain element "${root.subject}" is not a self-signed root`);
    if (!this.roots.some((r) => equalBytes(r, root.der))) fail(`the chain ends at "${root.subject}", which is not a trusted root`);
    return leaf;
  }

  /** `GET <httpBase>/pki/chain`, cached per gateway. */
  async chainFor(httpBase: string, fresh = false): Promise<string[]> {
    const cached = this.chains.get(httpBase);
    if (!fresh && cached && this.now() - cached.fetchedAt < CHAIN_CACHE_TTL_MS) return cached.pems;
    let res: Response;
    try {
      res = await this.fetch(`${httpBase}/pki/chain`);
    } catch (err) {
      throw new AunError(`GET ${httpBase}/pki/chain failed: ${(err as Error).message}`, ErrorCode.Internal, undefined, true);
    }
    if (res.status !== 200) throw new AunError(`GET ${httpBase}/pki/chain answered HTTP ${res.status}`, ErrorCode.Internal, undefined, res.status >= 500);
    const pems = splitPemBundle(await res.text());
    this.chains.set(httpBase, { pems, fetchedAt: this.now() });
    return pems;
  }

  /**
   * Verifies a certificate against the gateway's published chain. A verified leaf is remembered
   * by serial (and checked byte for byte on a hit); a failure with a cached chain retries once
   * with a fresh one, because the CA may have rotated.
   */
  async verifyLeaf(leafPem: string, httpBase: string): Promise<Certificate> {
    const parsed = parse(leafPem, 'the certificate');
    const serial = parsed.serialNumber;
    const hit = this.leaves.get(serial);
    if (hit && hit.until > this.now() && equalBytes(hit.cert.der, parsed.der)) return hit.cert;
    const wasCached = this.chains.has(httpBase);
    let cert: Certificate;
    try {
      cert = await this.verifyChain(leafPem, await this.chainFor(httpBase));
    } catch (err) {
      if (!(err instanceof AuthError) || !wasCached) throw err;
      cert = await this.verifyChain(leafPem, await this.chainFor(httpBase, true));
    }
    this.remember(serial, cert);
    return cert;
  }

  private remember(serial: string, cert: Certificate): void {
    this.leaves.delete(serial);
    if (this.leaves.size >= MAX_CACHED_LEAVES) this.leaves.delete(this.leaves.keys().next().value!);
    const until = Math.min(this.now() + LEAF_CACHE_TTL_MS, cert.notAfter.getTime() + CLOCK_SKEW_MS);
    this.leaves.set(serial, { cert, until });
  }
}

