// The composition root: the one place that wires the keystore, the per-AID Gateway sessions, the
// inboxes and the tabs. Each tab gets a facade (its capability); every session is shared by all
// the tabs logged in as its AID and closes a short grace period after the last one leaves.

import {
  AunError, ErrorCode, NOT_EXECUTED, NotFoundError, SessionError, TAB_PROTOCOL, ValidationError, heldBy,
  type OwnerAddress, type Rung, type SessionHolder,
  type GatewayOptions, type IdentityInfo, type InspectorSnapshot, type JsonObject, type MethodName, type Outcome, type OwnerFacade, type ParamsOf,
  type NotifyTarget, type SendOptions, type SessionSnapshot, type ThoughtContext, type TabEventName, type WireError, pemToDer,
  randomHex,
} from '../protocol/index.ts';
import { aidProblem } from '../protocol/aid.ts';
import { AidSession, SLOT_ID } from './aid-session.ts';

import { resolveGateway } from './auth/discovery.ts';
import { createIdentity } from './auth/identity.ts';
import { certFingerprint } from './auth/sign.ts';
import { TrustStore } from './auth/trust.ts';
import { claimSession } from './hub/aid-claim.ts';
import { Hub, type Tab } from './hub/hub.ts';
import { openStore, type IdentityRecord, type Store } from './store/index.ts';

export interface RuntimeOptions {
  build: string;
  /** Epoch ms of the build: of two builds, the later one takes over (see hub/succession.ts). */
  builtAt?: number;
  /** The worker's name (versioned) and script URL, for the inspector and for handoffs. */
  name?: string;
  url?: string;
  rung?: Rung;
  /** Settles before any tab hears hello: null when this owner serves, else where tabs must go. */
  gate?: Promise<OwnerAddress | null>;
  storeName?: string;
  /** How long a session outlives its last tab, ms. */
  graceMs?: number;
  heartbeatFloorMs?: number;
  log?: (line: string) => void;
  /** Web Locks for the session and identity locks (default: the worker's navigator.locks; none on the single rung without them). */
  locks?: LockManager;
}

const DEFAULT_GRACE_MS = 3_000;
const IK = 'ik';
const TRUST_ROOTS = 'trust_roots';


function toWire(err: unknown): WireError {
  if (err instanceof AunError) {
    return { name: err.name, code: err.code, message: err.message, ...(err.data === undefined ? {} : { data: err.data }), ...(err.retryable ? { retryable: true } : {}) };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name === 'AbortError' ? 'AbortError' : 'AunError', code: ErrorCode.Internal, message: e.message };
}

/** Turns a facade method into one that never throws across the port. */
function outcome<A extends unknown[], T>(fn: (...args: A) => Promise<T>): (...args: A) => Promise<Outcome<T>> {
  return async (...args) => {
    try {
      return { ok: true, value: await fn(...args) };
    } catch (err) {
      return { ok: false, error: toWire(err) };
    }
  };
}

const RECENT_EVENTS = 50;
/** How long a draining owner waits for in-flight calls and sends before it closes anyway. */
const DRAIN_MS = 5_000;
/** Facade calls a draining owner still serves: they change nothing at the gateway. */
const SERVED_WHILE_DRAINING = new Set<keyof OwnerFacade>(['detach', 'lockHeld', 'inspect', 'snapshot', 'ackEvents', 'cancel', 'replay', 'subscribe', 'unsubscribe']);
/** What a draining owner answers to any other call: not run, so the tab retries it on the next owner. */
const NOT_RUN: Outcome<never> = { ok: false, error: { name: 'ConnectionLostError', code: ErrorCode.Internal, message: 'the owner is handing over to a newer build', data: NOT_EXECUTED } };

export class Runtime {
  readonly incarnation = randomHex(8);
  private readonly startedAt = Date.now();
  private readonly recent: InspectorSnapshot['recent'] = [];
  readonly hub: Hub;
  private storePromise: Promise<Store> | null = null;
  private readonly sessions = new Map<string, AidSession>();
  private readonly starting = new Map<string, Promise<AidSession>>();
  /** The session lock of each AID whose session this owner holds (see hub/aid-claim.ts). */
  private readonly claims = new Map<string, () => void>();
  /** Identities being created here: a second create of the same AID waits for the first. */
  private readonly creating = new Map<string, Promise<IdentityInfo>>();
  rung: Rung;
  /** Set once a handoff to a newer build started: calls that would act are turned away. */
  private draining = false;

  constructor(private readonly opts: RuntimeOptions) {
    this.rung = opts.rung ?? 'shared';
    this.hub = new Hub({
      incarnation: this.incarnation,
      build: opts.build,
      builtAt: opts.builtAt ?? 0,
      rung: () => this.rung,
      ...(opts.gate ? { gate: opts.gate } : {}),
      facade: (tab) => this.facade(tab),
      onDetach: (tab) => this.unbind(tab),
      log: opts.log,
    });
    globalThis.addEventListener?.('online', () => this.sessions.forEach((s) => s.session.setOnline(true)));
    globalThis.addEventListener?.('offline', () => this.sessions.forEach((s) => s.session.setOnline(false)));
  }

  accept(port: MessagePort): void {
    this.hub.accept(port);
  }

  /**
   * Hands the origin over to a newer build: tabs stop sending new calls, in-flight work finishes,
   * received messages are committed and sockets close; then the tabs are told where to go.
   */
  async drain(to: OwnerAddress | null): Promise<void> {
    this.draining = true;
    this.hub.broadcast({ t: 'draining', to });
    await Promise.all([...this.sessions.values()].map((s) => s.drain(DRAIN_MS).catch(() => s.close())));
    this.sessions.clear();
    for (const release of this.claims.values()) release();
    this.claims.clear();
    if (to) this.hub.broadcast({ t: 'moved', to });
    this.opts.log?.(`drained${to ? `, handed over to build ${to.build}` : ''}`);
  }

  private store(): Promise<Store> {
    this.storePromise ??= openStore({
      ...(this.opts.storeName ? { name: this.opts.storeName } : {}),
      onVersionChange: () => {
        this.storePromise = null;
      },
    }).catch((err: unknown) => {
      this.storePromise = null;
      throw err;
    });
    return this.storePromise;
  }

  // ---- the facade: one per tab ----

  private facade(tab: Tab): OwnerFacade {
    const f = this.methods(tab);
    for (const k of Object.keys(f) as (keyof OwnerFacade)[]) {
      if (SERVED_WHILE_DRAINING.has(k)) continue;
      const run = f[k] as (...a: unknown[]) => Promise<Outcome<unknown>>;
      (f as unknown as Record<string, unknown>)[k] = (...a: unknown[]) => (this.draining ? Promise.resolve(NOT_RUN) : run(...a));
    }
    return f;
  }

  private methods(tab: Tab): OwnerFacade {
    const my = () => this.sessionOf(tab);
    return {
      listIdentities: outcome(() => this.listIdentities()),
      createIdentity: outcome((aid: string, options: GatewayOptions) => this.createIdentity(aid, options)),
      importIdentity: outcome((aid: string, pem: string, options: GatewayOptions) => this.importIdentity(aid, pem, options)),
      removeIdentity: outcome((aid: string) => this.removeIdentity(aid)),
      login: outcome((aid: string, options: Partial<GatewayOptions>) => this.login(tab, aid, options)),
      logout: outcome(async () => this.unbind(tab)),
      reconnectNow: outcome(async () => my().session.reconnectNow()),
      call: outcome((callId: string, method: MethodName, params: unknown, o: { timeoutMs?: number }) =>
        my().call(callId, method, params as ParamsOf<MethodName>, o?.timeoutMs)) as OwnerFacade['call'],
      send: outcome((_callId: string, to: string, payload: JsonObject, o: SendOptions) => my().send(to, payload, o?.encrypt !== false, o?.timeoutMs)),
      replay: outcome(async (afterLsn: number, limit: number) => my().replay(afterLsn, limit)),
      ackEvents: outcome(async (lsn: number) => this.hub.ack(tab, lsn, my().lastLsn)),
      cancel: outcome(async (callId: string) => (tab.aid ? this.sessions.get(tab.aid)?.cancel(callId) ?? false : false)),
      groupCreate: outcome((name: string) => my().groupCreate(name)),
      groupAdd: outcome((groupId: string, aid: string) => my().groupMembership('group.add_member', groupId, aid)),
      groupRemove: outcome((groupId: string, aid: string) => my().groupMembership('group.kick', groupId, aid)),
      groupLeave: outcome((groupId: string) => my().groupLeave(groupId)),
      groupList: outcome(async () => (await my().session.call('group.list_my', { size: 200 }, { waitReady: true })).items),
      groupMembers: outcome(async (groupId: string) => (await my().session.call('group.get_members', { group_id: groupId, group_aid: groupId }, { waitReady: true })).members),
      groupSend: outcome((_callId: string, groupId: string, payload: JsonObject, o: SendOptions) => my().groupSend(groupId, payload, o?.encrypt !== false, o?.timeoutMs)),
      recall: outcome((ids: string[], groupId: string | null, reason: string) => my().actions.recall(ids, groupId, reason)),
      notify: outcome(async (target: NotifyTarget, kind: string, params: JsonObject) => my().notifier.send(target, kind, params)),
      groupSettingsSet: outcome((groupId: string, settings: Record<string, unknown>) => my().actions.setGroupSettings(groupId, settings)),
      thoughtPut: outcome((target: NotifyTarget, context: ThoughtContext, payload: JsonObject) => my().actions.thoughtPut(target, context, payload)),
      thoughtGet: outcome((target: NotifyTarget & { sender: string }, context: ThoughtContext) => my().actions.thoughtGet(target, context)),
      subscribe: outcome(async (names: TabEventName[]) => names.forEach((n) => tab.subscriptions.add(n))),
      unsubscribe: outcome(async (names: TabEventName[]) => names.forEach((n) => tab.subscriptions.delete(n))),
      snapshot: outcome(async () => (tab.aid ? this.snapshotOf(tab.aid) : null)),
      inspect: outcome(() => this.inspect()),
      detach: outcome(async () => this.hub.detach(tab.id)),
      lockHeld: outcome(async () => this.hub.lockHeld(tab.id)),
    };
  }

  private async identityInfo(store: Store, rec: IdentityRecord): Promise<IdentityInfo> {
    return {
      aid: rec.aid,
      gateway: rec.gatewayUrl,
      certFingerprint: await certFingerprint(rec.certPem),
      createdAt: rec.createdAt,
      hasToken: (await store.tokens.get(rec.aid)) !== undefined,
    };
  }

  private async listIdentities(): Promise<IdentityInfo[]> {
    const store = await this.store();
    return Promise.all((await store.identities.list()).map((r) => this.identityInfo(store, r)));
  }

  private checkNewIdentity(aid: string, options: GatewayOptions): string[] {
    const problem = aidProblem(aid);
    if (problem) throw new ValidationError(`not a valid AID: ${String(aid)}: ${problem}`);
    const roots = options?.rootCa;
    if (!Array.isArray(roots) || roots.length === 0 || !roots.every((r) => typeof r === 'string')) {
      throw new ValidationError('a new identity needs {rootCa: [PEM, …]} and a gateway: "wss://…/ws", an https:// origin to discover it at, or none to discover it from the AID');
    }
    return roots;
  }

  private async saveIdentity(store: Store, aid: string, certPem: string, options: GatewayOptions): Promise<IdentityInfo> {
    await store.kv.put(aid, TRUST_ROOTS, options.rootCa);
    const now = Date.now();
    const rec: IdentityRecord = { aid, certPem, gatewayUrl: options.gateway, createdAt: now, updatedAt: now };
    await store.identities.put(rec);
    return this.identityInfo(store, rec);
  }

  private get locks(): LockManager | undefined {
    return this.opts.locks ?? (globalThis.navigator as Navigator | undefined)?.locks;
  }

  /**
   * Idempotent across tabs and owners: tabs opened at once on a new AID all ask to create it. The
   * first creates it; the others wait (here, then behind the origin's `aun-identity:<aid>` lock,
   * for owners on other rungs) and get the identity it stored.
   */
  private createIdentity(aid: string, options: GatewayOptions): Promise<IdentityInfo> {
    this.checkNewIdentity(aid, options);
    let pending = this.creating.get(aid);
    if (!pending) {
      const locks = this.locks;
      const create = () => this.createIdentityOnce(aid, options);
      pending = (locks ? locks.request(`aun-identity:${aid}`, create) as unknown as Promise<IdentityInfo> : create()).finally(() => this.creating.delete(aid));
      this.creating.set(aid, pending);
    }
    return pending;
  }

  private async createIdentityOnce(aid: string, options: GatewayOptions): Promise<IdentityInfo> {
    const roots = this.checkNewIdentity(aid, options);
    const store = await this.store();
    const existing = await store.identities.get(aid);
    if (existing) return this.identityInfo(store, existing);
    options = { ...options, gateway: await resolveGateway(options.gateway, aid) };
    const made = await createIdentity(aid, { url: options.gateway, trust: new TrustStore(roots) });
    if (made.kind !== 'new-key') throw new AunError(`the gateway already holds a key for ${aid} that this origin does not have`);
    try {
      await store.keys.put(aid, IK, made.pkcs8);
    } finally {
      made.pkcs8.fill(0);
    }
    return this.saveIdentity(store, aid, made.certPem, options);
  }

  /** The key goes into the keystore first (which checks it), then the gateway's certificate must match it. */
  private async importIdentity(aid: string, privateKeyPem: string, options: GatewayOptions): Promise<IdentityInfo> {
    const roots = this.checkNewIdentity(aid, options);
    if (typeof privateKeyPem !== 'string' || !privateKeyPem.includes('PRIVATE KEY')) throw new ValidationError('importIdentity needs a PKCS#8 PEM private key');
    const store = await this.store();
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
      return await this.saveIdentity(store, aid, made.certPem, options);
    } catch (err) {
      await store.keys.remove(aid, IK);
      throw err;
    }
  }

  private async removeIdentity(aid: string): Promise<void> {
    const s = this.sessions.get(aid);
    if (s) this.closeSession(s);
    for (const tab of this.hub.tabsOf(aid)) tab.aid = null;
    await (await this.store()).identities.remove(aid);
  }

  private async login(tab: Tab, aid: string, options: Partial<GatewayOptions>): Promise<SessionSnapshot> {
    if (typeof aid !== 'string') throw new ValidationError('login needs an AID');
    const s = await this.sessionFor(aid, options ?? {});
    // Logging in again after an eviction (or a close the gateway ordered) takes the identity back;
    // start() does nothing to a session that is running.
    s.session.start();
    if (tab.aid !== aid) this.unbind(tab);
    tab.aid = aid;
    tab.sentLsn = tab.ackedLsn = s.lastLsn;
    tab.lagging = false;
    s.tabs.add(tab.id);
    if (s.grace) clearTimeout(s.grace);
    s.grace = null;
    return this.snapshotOf(aid)!;
  }

  private sessionFor(aid: string, options: Partial<GatewayOptions>): Promise<AidSession> {
    const live = this.sessions.get(aid);
    if (live) return Promise.resolve(live);
    let pending = this.starting.get(aid);
    if (!pending) {
      pending = this.startSession(aid, options).finally(() => this.starting.delete(aid));
      this.starting.set(aid, pending);
    }
    return pending;
  }

  private async startSession(aid: string, options: Partial<GatewayOptions>): Promise<AidSession> {
    const store = await this.store();
    const record = await store.identities.get(aid);
    if (!record) throw new NotFoundError(`no identity ${aid} in this origin: create it first`);
    const keys = await store.keys.load(aid, IK);
    if (!keys) throw new NotFoundError(`the private key of ${aid} is missing from this origin's keystore`);
    let roots = await store.kv.get<string[]>(aid, TRUST_ROOTS);
    if (!roots?.length && options.rootCa?.length) {
      roots = options.rootCa;
      await store.kv.put(aid, TRUST_ROOTS, roots);
    }
    if (!roots?.length) throw new ValidationError(`no trusted root CA is known for ${aid}: pass rootCa`);
    const deviceId = await store.deviceId();
    const release = await this.claim(aid, deviceId);
    try {
      const s = this.makeSession(aid, record, keys, roots, store, deviceId);
      await s.start();
      this.sessions.set(aid, s);
      if (release) this.claims.set(aid, release);
      return s;
    } catch (err) {
      release?.();
      throw err;
    }
  }

  /**
   * Takes the origin's session lock of `aid` before its long connection opens (null without Web
   * Locks: the single rung, which says so). If another owner holds it, the login is turned away
   * unrun with where that owner runs, and the tab attaches there.
   */
  private async claim(aid: string, deviceId: string): Promise<(() => void) | null> {
    const locks = this.locks;
    if (!locks) return null;
    const me: SessionHolder = {
      rung: this.rung,
      address: this.rung === 'shared' && this.opts.url && this.opts.name
        ? { protocol: TAB_PROTOCOL, build: this.opts.build, builtAt: this.opts.builtAt ?? 0, url: this.opts.url, name: this.opts.name }
        : null,
      incarnation: this.incarnation,
    };
    const claim = await claimSession({ aid, deviceId, slotId: SLOT_ID, me, locks });
    if (claim.held) return claim.release;
    this.opts.log?.(`session ${aid} is held by owner ${claim.holder.incarnation} (${claim.holder.rung}): its tabs go there`);
    throw new SessionError(`another owner of this origin (${claim.holder.rung} rung) holds the session of ${aid}: the tab attaches there`, ErrorCode.ConnectRequired, heldBy(claim.holder));
  }

  private makeSession(aid: string, record: IdentityRecord, keys: NonNullable<Awaited<ReturnType<Store['keys']['load']>>>, roots: string[], store: Store, deviceId: string): AidSession {
    return new AidSession({
      record,
      keys,
      roots,
      store,
      deviceId,
      publishLogged: (e) => {
        const m = e.data as { direction?: unknown; timestamp?: unknown };
        const sentAt = e.name.endsWith('message') && m.direction === 'inbound' && typeof m.timestamp === 'number' ? m.timestamp : undefined;
        this.recent.push({ at: Date.now(), aid, name: e.name, lsn: e.lsn, ...(sentAt === undefined ? {} : { sentAt }) });
        if (this.recent.length > RECENT_EVENTS) this.recent.shift();
        this.hub.publishLogged(aid, e.lsn, e.name, e.data);
      },
      publish: (name, data) => this.hub.publish(aid, name, data),
      ...(this.opts.heartbeatFloorMs ? { heartbeatFloorMs: this.opts.heartbeatFloorMs } : {}),
      ...(this.opts.log ? { log: this.opts.log } : {}),
    });
  }

  private async inspect(): Promise<InspectorSnapshot> {
    return {
      rung: this.rung,
      incarnation: this.incarnation,
      build: this.opts.build,
      builtAt: this.opts.builtAt ?? 0,
      name: this.opts.name ?? '',
      startedAt: this.startedAt,
      tabs: this.hub.list().map((t) => ({
        id: t.id, build: t.build, aid: t.aid, subscriptions: [...t.subscriptions], attachedAt: t.attachedAt,
        sentLsn: t.sentLsn, ackedLsn: t.ackedLsn, lagging: t.lagging,
      })),
      sessions: await Promise.all([...this.sessions.values()].map((s) => s.inspect())),
      recent: [...this.recent],
    };
  }

  private snapshotOf(aid: string): SessionSnapshot | null {
    return this.sessions.get(aid)?.snapshot() ?? null;
  }

  private sessionOf(tab: Tab): AidSession {
    const s = tab.aid ? this.sessions.get(tab.aid) : undefined;
    if (!s) throw new SessionError('this tab is not logged in: call login(aid) first', ErrorCode.ConnectRequired);
    return s;
  }

  /** The tab leaves its AID; the last tab out starts the session's grace period. */
  private unbind(tab: Tab): void {
    const aid = tab.aid;
    tab.aid = null;
    const s = aid ? this.sessions.get(aid) : undefined;
    if (!s) return;
    s.tabs.delete(tab.id);
    if (s.tabs.size > 0 || s.grace) return;
    s.grace = setTimeout(() => {
      if (s.tabs.size === 0) this.closeSession(s);
    }, this.opts.graceMs ?? DEFAULT_GRACE_MS);
  }

  private closeSession(s: AidSession): void {
    s.close();
    this.sessions.delete(s.aid);
    this.claims.get(s.aid)?.();
    this.claims.delete(s.aid);
    this.opts.log?.(`session ${s.aid} closed`);
  }
}
