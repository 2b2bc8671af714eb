// The identities of this origin: creating one (key pair made here, certificate from the gateway),
// importing one from a PKCS#8 key, listing and removing them. The private key goes into the
// keystore and never leaves the worker; the trust roots given at creation are kept beside it.

import { pemToDer } from '../protocol/bytes.ts';
import { AunError, ValidationError } from '../protocol/errors.ts';
import type { GatewayOptions, IdentityInfo } from '../protocol/tab.ts';
import { aidProblem } from '../protocol/aid.ts';
import { resolveGateway } from './auth/discovery.ts';
import { createIdentity } from './auth/identity.ts';
import { certFingerprint } from './auth/sign.ts';
import { TrustStore } from './auth/trust.ts';
import type { IdentityRecord, Store } from './store/index.ts';

/** The keystore name of an AID's identity key, and the kv name of its trusted roots. */
export const IK = 'ik';
export const TRUST_ROOTS = 'trust_roots';

export interface IdentitiesOptions {
  store(): Promise<Store>;
  /** Web Locks for the identity lock (none on the single rung without them). */
  locks(): LockManager | undefined;
}

export class Identities {
  /** Identities being created here: a second create of the same AID waits for the first. */
  private readonly creating = new Map<string, Promise<IdentityInfo>>();

  constructor(private readonly opts: IdentitiesOptions) {}

  private async info(store: Store, rec: IdentityRecord): Promise<IdentityInfo> {
    return {
      aid: rec.aid,
      gateway: rec.gatewayUrl,
      certFingerprint: await certFingerprint(rec.certPem),
      createdAt: rec.createdAt,
      hasToken: (await store.tokens.get(rec.aid)) !== undefined,
    };
  }

  async list(): Promise<IdentityInfo[]> {
    const store = await this.opts.store();
    return Promise.all((await store.identities.list()).map((r) => this.info(store, r)));
  }

  private checkNew(aid: string, options: GatewayOptions): string[] {
    const problem = aidProblem(aid);
    if (problem) throw new ValidationError(`not a valid AID: ${String(aid)}: ${problem}`);
    const roots = options?.rootCa;
    if (!Array.isArray(roots) || roots.length === 0 || !roots.every((r) => typeof r === 'string')) {
      throw new ValidationError('a new identity needs {rootCa: [PEM, …]} and a gateway: "wss://…/ws", an https:// origin to discover it at, or none to discover it from the AID');
    }
    return roots;
  }

  private async save(store: Store, aid: string, certPem: string, options: GatewayOptions): Promise<IdentityInfo> {
    await store.kv.put(aid, TRUST_ROOTS, options.rootCa);
    const now = Date.now();
    const rec: IdentityRecord = { aid, certPem, gatewayUrl: options.gateway, createdAt: now, updatedAt: now };
    await store.identities.put(rec);
    return this.info(store, rec);
  }

  /**
   * Idempotent across tabs and owners: tabs opened at once on a new AID all ask to create it. The
   * first creates it; the others wait (here, then behind the origin's `aun-identity:<aid>` lock,
   * for owners on other rungs) and get the identity it stored.
   */
  create(aid: string, options: GatewayOptions): Promise<IdentityInfo> {
    this.checkNew(aid, options);
    let pending = this.creating.get(aid);
    if (!pending) {
      const locks = this.opts.locks();
      const create = () => this.createOnce(aid, options);
      pending = (locks ? locks.request(`aun-identity:${aid}`, create) as unknown as Promise<IdentityInfo> : create()).finally(() => this.creating.delete(aid));
      this.creating.set(aid, pending);
    }
    return pending;
  }

  private async createOnce(aid: string, options: GatewayOptions): Promise<IdentityInfo> {
    const roots = this.checkNew(aid, options);
    const store = await this.opts.store();
    const existing = await store.identities.get(aid);
    if (existing) return this.info(store, existing);
    options = { ...options, gateway: await resolveGateway(options.gateway, aid) };
    const made = await createIdentity(aid, { url: options.gateway, trust: new TrustStore(roots) });
    if (made.kind !== 'new-key') throw new AunError(`the gateway already holds a key for ${aid} that this origin does not have`);
    try {
      await store.keys.put(aid, IK, made.pkcs8);
    } finally {
      made.pkcs8.fill(0);
    }
    return this.save(store, aid, made.certPem, options);
  }

  /** The key goes into the keystore first (which checks it), then the gateway's certificate must match it. */
  async import(aid: string, privateKeyPem: string, options: GatewayOptions): Promise<IdentityInfo> {
    const roots = this.checkNew(aid, options);
    if (typeof privateKeyPem !== 'string' || !privateKeyPem.includes('PRIVATE KEY')) throw new ValidationError('importIdentity needs a PKCS#8 PEM private key');
    const store = await this.opts.store();
    if (await store.identities.get(aid)) throw new ValidationError(`${aid} is already in this origin's keystore`);
    options = { ...options, gateway: await resolveGateway(options.gateway, aid) };
    const pkcs8 = pemToDer(privateKeyPem);
    try {
      await store.keys.put(aid, IK, pkcs8);
    } finally {
      pkcs8.fill(0);
    }
    try {
      const keys = await store.keys.load(aid, IK);
      const made = await createIdentity(aid, { url: options.gateway, trust: new TrustStore(roots), existingPublicSpki: keys!.publicSpki });
      return await this.save(store, aid, made.certPem, options);
    } catch (err) {
      await store.keys.remove(aid, IK);
      throw err;
    }
  }

  /** Forgets the identity (its account must be closed first: see Runtime.removeIdentity). */
  async remove(aid: string): Promise<void> {
    await (await this.opts.store()).identities.remove(aid);
  }
}
