// The composition root: the one place that wires the keystore, the identities, the registry of
// accounts (one per logged-in AID, shared by all the tabs logged in as it) and the hub. An account
// closes a short grace period after the last tab leaves it; that timer lives here, in the registry.

import { randomHex } from '../protocol/bytes.ts';
import { ErrorCode, NotFoundError, SessionError, ValidationError } from '../protocol/errors.ts';
import {
  TAB_PROTOCOL, heldBy, type GatewayOptions, type InspectorSnapshot, type OwnerAddress, type Rung,
  type SessionHolder, type SessionSnapshot,
} from '../protocol/tab.ts';
import { Account, SLOT_ID } from './account.ts';
import { claimSession } from './hub/aid-claim.ts';
import { tabFacade, type FacadeOwner } from './hub/facade.ts';
import { Hub, type Tab } from './hub/hub.ts';
import { Identities, IK, TRUST_ROOTS } from './identities.ts';
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
  /** How long an account outlives its last tab, ms. */
  graceMs?: number;
  heartbeatFloorMs?: number;
  log?: (line: string) => void;
  /** Web Locks for the session and identity locks (default: the worker's navigator.locks; none on the single rung without them). */
  locks?: LockManager;
}

const DEFAULT_GRACE_MS = 3_000;
/** How long a draining owner waits for in-flight calls and sends before it closes anyway. */
const DRAIN_MS = 5_000;

export class Runtime implements FacadeOwner {
  readonly incarnation = randomHex(8);
  private readonly startedAt = Date.now();
  readonly hub: Hub;
  readonly identities: Identities;
  private storePromise: Promise<Store> | null = null;
  /** The registry of accounts: the live ones, the ones starting, and the grace timer of each idle one. */
  private readonly accounts = new Map<string, Account>();
  /** Starts in progress; `revoked` once the identity was removed meanwhile (the start then closes what it opened). */
  private readonly starting = new Map<string, { account: Promise<Account>; revoked: boolean }>();
  private readonly grace = new Map<string, ReturnType<typeof setTimeout>>();
  /** The session lock of each AID whose account this owner holds (see hub/aid-claim.ts). */
  private readonly claims = new Map<string, () => void>();
  rung: Rung;
  /** Set once a handoff to a newer build started: calls that would act are turned away. */
  private handingOver = false;

  constructor(private readonly opts: RuntimeOptions) {
    this.rung = opts.rung ?? 'shared';
    this.hub = new Hub({
      incarnation: this.incarnation,
      build: opts.build,
      builtAt: opts.builtAt ?? 0,
      rung: () => this.rung,
      ...(opts.gate ? { gate: opts.gate } : {}),
      facade: (tab) => tabFacade(tab, this.hub, this),
      onDetach: (tab) => this.logout(tab),
      log: opts.log,
    });
    this.identities = new Identities({ store: () => this.store(), locks: () => this.locks });
    globalThis.addEventListener?.('online', () => this.accounts.forEach((a) => a.session.setOnline(true)));
    globalThis.addEventListener?.('offline', () => this.accounts.forEach((a) => a.session.setOnline(false)));
  }

  accept(port: MessagePort): void {
    this.hub.accept(port);
  }

  get draining(): boolean {
    return this.handingOver;
  }

  /**
   * Hands the origin over to a newer build: tabs stop sending new calls, in-flight work finishes,
   * received messages are committed and sockets close; then the tabs are told where to go.
   */
  async drain(to: OwnerAddress | null): Promise<void> {
    this.handingOver = true;
    this.hub.broadcast({ t: 'draining', to });
    await Promise.all([...this.accounts.values()].map((a) => a.drain(DRAIN_MS).catch(() => a.close())));
    this.accounts.clear();
    this.grace.forEach((timer) => clearTimeout(timer));
    this.grace.clear();
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

  private get locks(): LockManager | undefined {
    return this.opts.locks ?? (globalThis.navigator as Navigator | undefined)?.locks;
  }

  // ---- what every tab's facade (hub/facade.ts) asks of the owner ----

  async removeIdentity(aid: string): Promise<void> {
    const a = this.accounts.get(aid);
    if (a) this.closeAccount(a);
    // An account still starting closes itself when its start finishes, instead of running.
    const starting = this.starting.get(aid);
    if (starting) starting.revoked = true;
    for (const tab of this.hub.tabsOf(aid)) this.hub.unbind(tab);
    await this.identities.remove(aid);
  }

  async login(tab: Tab, aid: string, options: Partial<GatewayOptions>): Promise<SessionSnapshot> {
    if (typeof aid !== 'string') throw new ValidationError('login needs an AID');
    const a = await this.accountFor(aid, options ?? {});
    // The tab went away while the account started: it is not bound, and the account it was the
    // only one waiting for closes after the grace period, as after the last tab's detach.
    if (!this.hub.attached(tab)) {
      this.idle(a);
      throw new SessionError('the tab detached during its login', ErrorCode.ConnectRequired);
    }
    // Logging in again after an eviction (or a close the gateway ordered) takes the identity back;
    // start() does nothing to a session that is running.
    a.session.start();
    if (tab.aid !== aid) this.logout(tab);
    this.hub.bind(tab, aid, a.lastLsn);
    clearTimeout(this.grace.get(aid));
    this.grace.delete(aid);
    return a.snapshot();
  }

  /** The tab leaves its AID; the last tab out starts the account's grace period. */
  logout(tab: Tab): void {
    const aid = this.hub.unbind(tab);
    const a = aid ? this.accounts.get(aid) : undefined;
    if (a) this.idle(a);
  }

  /** Starts the grace period of `a` when no tab is logged in as it (and none runs yet). */
  private idle(a: Account): void {
    if (this.accounts.get(a.aid) !== a) return;
    if (this.hub.tabCount(a.aid) > 0 || this.grace.has(a.aid)) return;
    this.grace.set(a.aid, setTimeout(() => {
      this.grace.delete(a.aid);
      if (this.hub.tabCount(a.aid) === 0 && this.accounts.get(a.aid) === a) this.closeAccount(a);
    }, this.opts.graceMs ?? DEFAULT_GRACE_MS));
  }

  accountOf(tab: Tab): Account {
    const a = tab.aid ? this.accounts.get(tab.aid) : undefined;
    if (!a) throw new SessionError('this tab is not logged in: call login(aid) first', ErrorCode.ConnectRequired);
    return a;
  }

  cancel(tab: Tab, callId: string): boolean {
    return tab.aid ? this.accounts.get(tab.aid)?.cancel(callId) ?? false : false;
  }

  snapshot(tab: Tab): SessionSnapshot | null {
    return tab.aid ? this.accounts.get(tab.aid)?.snapshot() ?? null : null;
  }

  async inspect(): Promise<InspectorSnapshot> {
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
      sessions: await Promise.all([...this.accounts.values()].map((a) => a.inspect())),
      recent: this.hub.recent(),
    };
  }

  // ---- the registry of accounts ----

  private accountFor(aid: string, options: Partial<GatewayOptions>): Promise<Account> {
    const live = this.accounts.get(aid);
    if (live) return Promise.resolve(live);
    let pending = this.starting.get(aid);
    if (!pending) {
      const start = { revoked: false } as { account: Promise<Account>; revoked: boolean };
      start.account = this.startAccount(aid, options, start).finally(() => this.starting.delete(aid));
      this.starting.set(aid, start);
      pending = start;
    }
    return pending.account;
  }

  private async startAccount(aid: string, options: Partial<GatewayOptions>, start: { readonly revoked: boolean } = { revoked: false }): Promise<Account> {
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
      const a = this.makeAccount(record, keys, roots, store, deviceId);
      await a.start();
      if (start.revoked) {
        a.close();
        throw new NotFoundError(`the identity ${aid} was removed while its account started`);
      }
      this.accounts.set(aid, a);
      if (release) this.claims.set(aid, release);
      return a;
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

  private makeAccount(record: IdentityRecord, keys: NonNullable<Awaited<ReturnType<Store['keys']['load']>>>, roots: string[], store: Store, deviceId: string): Account {
    return new Account({
      record,
      keys,
      roots,
      store,
      deviceId,
      outlet: this.hub,
      ...(this.opts.heartbeatFloorMs ? { heartbeatFloorMs: this.opts.heartbeatFloorMs } : {}),
      ...(this.opts.log ? { log: this.opts.log } : {}),
    });
  }

  private closeAccount(a: Account): void {
    clearTimeout(this.grace.get(a.aid));
    this.grace.delete(a.aid);
    a.close();
    this.accounts.delete(a.aid);
    this.claims.get(a.aid)?.();
    this.claims.delete(a.aid);
    this.opts.log?.(`session ${a.aid} closed`);
  }
}
