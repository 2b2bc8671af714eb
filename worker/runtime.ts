// The composition root: the one place that wires the keystore, the per-AID Gateway sessions, the
// inboxes and the tabs. Each tab gets a facade (its capability); every session is shared by all
// the tabs logged in as its AID and closes a short grace period after the last one leaves.

import {
  AunError, ErrorCode, INTERNAL_ONLY_METHODS, NotFoundError, PermissionError, SessionError, V2StaleKeysError, ValidationError,
  type GatewayOptions, type GroupInboundMessage, type GroupInfo, type GroupRow, type GroupSent, type IdentityInfo, type InboundMessage,
  type InboxRow, type JsonObject, type MessageSendResult, type SendOptions, type MessageReceivedEvent, type MethodName,
  type Outcome, type OwnerFacade, type ParamsOf, type PeerV2MessageReceivedEvent, type ResultOf, type SessionSnapshot,
  type TabEventName, type WireError,
} from '../protocol/index.ts';
import { pemToDer } from './auth/encoding.ts';
import { createIdentity } from './auth/identity.ts';
import { httpBaseOf } from './auth/io.ts';
import { PeerCertificates } from './auth/peers.ts';
import { certFingerprint } from './auth/sign.ts';
import { TrustStore } from './auth/trust.ts';
import { Groups } from './delivery/groups.ts';
import { plaintextMessage, rowFromPush, rowFromV2Push } from './delivery/rows.ts';
import { SeqInbox } from './delivery/seq-inbox.ts';
import { E2eeEngine } from './e2ee/engine.ts';
import { E2eeError } from './e2ee/errors.ts';
import { Hub, type Tab } from './hub/hub.ts';
import { GatewaySession } from './session/session.ts';
import { openStore, type IdentityRecord, type Store } from './store/index.ts';

export interface RuntimeOptions {
  build: string;
  storeName?: string;
  /** How long a session outlives its last tab, ms. */
  graceMs?: number;
  heartbeatFloorMs?: number;
  log?: (line: string) => void;
}

const DEFAULT_GRACE_MS = 3_000;
const SLOT_ID = 'default';
const IK = 'ik';
const TRUST_ROOTS = 'trust_roots';
const P2P_CURSOR = 'p2p';
const AID_SYNTAX = /^[a-z0-9_][a-z0-9_-]{3,63}\.[a-z0-9-]+(\.[a-z0-9-]+)*$/;

/** Cursor-moving calls belong to the worker's delivery: a tab acking would hide mail from others. */
const OWNER_MANAGED: ReadonlySet<string> = new Set(['message.v2.ack', 'group.v2.ack', 'group.ack_events']);

interface AidSession {
  aid: string;
  deviceId: string;
  session: GatewaySession;
  inbox: SeqInbox<InboxRow, InboundMessage>;
  groups: Groups;
  e2ee: E2eeEngine;
  tabs: Set<string>;
  calls: Map<string, AbortController>;
  grace: ReturnType<typeof setTimeout> | null;
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function toWire(err: unknown): WireError {
  if (err instanceof AunError) return { name: err.name, code: err.code, message: err.message, ...(err.data === undefined ? {} : { data: err.data }) };
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

export class Runtime {
  readonly incarnation = randomHex(8);
  readonly hub: Hub;
  private storePromise: Promise<Store> | null = null;
  private readonly sessions = new Map<string, AidSession>();
  private readonly starting = new Map<string, Promise<AidSession>>();

  constructor(private readonly opts: RuntimeOptions) {
    this.hub = new Hub({
      incarnation: this.incarnation,
      build: opts.build,
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
    return {
      listIdentities: outcome(() => this.listIdentities()),
      createIdentity: outcome((aid: string, options: GatewayOptions) => this.createIdentity(aid, options)),
      importIdentity: outcome((aid: string, pem: string, options: GatewayOptions) => this.importIdentity(aid, pem, options)),
      removeIdentity: outcome((aid: string) => this.removeIdentity(aid)),
      login: outcome((aid: string, options: Partial<GatewayOptions>) => this.login(tab, aid, options)),
      logout: outcome(async () => this.unbind(tab)),
      call: outcome((callId: string, method: MethodName, params: unknown, o: { timeoutMs?: number }) =>
        this.call(tab, callId, method, params as ParamsOf<MethodName>, o.timeoutMs)) as OwnerFacade['call'],
      send: outcome((callId: string, to: string, payload: JsonObject, o: SendOptions) => this.send(tab, callId, to, payload, o ?? {})),
      cancel: outcome(async (callId: string) => this.cancel(tab, callId)),
      groupCreate: outcome((name: string) => this.groupCreate(tab, name)),
      groupAdd: outcome((groupId: string, aid: string) => this.groupMembership(tab, 'group.add_member', groupId, aid)),
      groupRemove: outcome((groupId: string, aid: string) => this.groupMembership(tab, 'group.kick', groupId, aid)),
      groupLeave: outcome((groupId: string) => this.groupLeave(tab, groupId)),
      groupList: outcome(async () => (await this.sessionOf(tab).session.call('group.list_my', { size: 200 }, { waitReady: true })).items),
      groupMembers: outcome(async (groupId: string) => (await this.sessionOf(tab).session.call('group.get_members', { group_id: groupId, group_aid: groupId }, { waitReady: true })).members),
      groupSend: outcome((callId: string, groupId: string, payload: JsonObject, o: SendOptions) => this.groupSend(tab, callId, groupId, payload, o ?? {})),
      subscribe: outcome(async (names: TabEventName[]) => names.forEach((n) => tab.subscriptions.add(n))),
      unsubscribe: outcome(async (names: TabEventName[]) => names.forEach((n) => tab.subscriptions.delete(n))),
      snapshot: outcome(async () => (tab.aid ? this.snapshotOf(tab.aid) : null)),
      detach: outcome(async () => this.hub.detach(tab.id)),
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
    if (typeof aid !== 'string' || !AID_SYNTAX.test(aid)) throw new ValidationError(`not a valid AID: ${String(aid)} (expected name.issuer, lower case)`);
    const roots = options?.rootCa;
    if (typeof options?.gateway !== 'string' || !Array.isArray(roots) || roots.length === 0 || !roots.every((r) => typeof r === 'string')) {
      throw new ValidationError('a new identity needs {gateway: "ws(s)://…/ws", rootCa: [PEM, …]}');
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

  private async createIdentity(aid: string, options: GatewayOptions): Promise<IdentityInfo> {
    const roots = this.checkNewIdentity(aid, options);
    const store = await this.store();
    const existing = await store.identities.get(aid);
    if (existing) return this.identityInfo(store, existing);
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
    if (tab.aid !== aid) this.unbind(tab);
    tab.aid = aid;
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
    const rec = await store.identities.get(aid);
    if (!rec) throw new NotFoundError(`no identity ${aid} in this origin: create it first`);
    const keys = await store.keys.load(aid, IK);
    if (!keys) throw new NotFoundError(`the private key of ${aid} is missing from this origin's keystore`);
    let roots = await store.kv.get<string[]>(aid, TRUST_ROOTS);
    if (!roots?.length && options.rootCa?.length) {
      roots = options.rootCa;
      await store.kv.put(aid, TRUST_ROOTS, roots);
    }
    if (!roots?.length) throw new ValidationError(`no trusted root CA is known for ${aid}: pass rootCa`);
    const deviceId = await store.deviceId();
    const trust = new TrustStore(roots);
    const session = new GatewaySession({
      url: rec.gatewayUrl,
      credentials: { aid, certPem: rec.certPem, privateKey: keys.ecdsa },
      trust,
      tokens: store.tokens,
      deviceId,
      slotId: SLOT_ID,
      online: (globalThis.navigator as Navigator | undefined)?.onLine ?? true,
      ...(this.opts.heartbeatFloorMs ? { heartbeatFloorMs: this.opts.heartbeatFloorMs } : {}),
      ...(this.opts.log ? { log: this.opts.log } : {}),
    });
    const peers = new PeerCertificates(trust, httpBaseOf(rec.gatewayUrl));
    const e2ee = new E2eeEngine({
      aid,
      deviceId,
      ik: { publicSpki: keys.publicSpki, ecdh: keys.ecdh, ecdsa: keys.ecdsa },
      store,
      rpc: (method, params) => session.call(method, params, { waitReady: true }),
      peerIk: (peer, certPem) => peers.identityKey(peer, certPem),
      ...(this.opts.log ? { log: this.opts.log } : {}),
    });
    const rpc = <M extends MethodName>(method: M, params: ParamsOf<M>) => session.call(method, params, { waitReady: true });
    const log = this.opts.log;
    const inbox = new SeqInbox<InboxRow, InboundMessage>({
      name: `p2p:${aid}`,
      pull: async (after, limit) => {
        const r = await rpc('message.v2.pull', { after_seq: after, limit });
        return { rows: r.messages, hasMore: r.has_more, floor: r.server_ack_seq ?? 0 };
      },
      ack: async (upTo) => {
        await rpc('message.v2.ack', { up_to_seq: upTo });
      },
      loadCursor: () => store.cursors.get(aid, P2P_CURSOR),
      saveCursor: (seq) => store.cursors.put(aid, P2P_CURSOR, seq),
      open: (row) => (row.version === 'v2' ? this.open(aid, e2ee, row) : Promise.resolve(plaintextMessage(aid, row))),
      deliver: (m) => this.hub.publish(aid, 'message', m),
      ...(log ? { log } : {}),
    });
    const groups = new Groups({
      aid,
      rpc,
      loadCursor: (ns) => store.cursors.get(aid, ns),
      saveCursor: (ns, seq) => store.cursors.put(aid, ns, seq),
      decrypt: (row) => this.openGroup(aid, e2ee, row),
      deliver: (m) => this.hub.publish(aid, 'group.message', m),
      changed: (c) => this.hub.publish(aid, 'group.changed', c),
      membershipChanged: (groupId, joinedSelf) => {
        e2ee.forgetGroup(groupId);
        if (joinedSelf) void e2ee.ensureGroupPrekey(groupId).catch((e: unknown) => log?.(`group prekey ${groupId}: ${(e as Error).message}`));
      },
      ...(log ? { log } : {}),
    });
    const s: AidSession = { aid, deviceId, session, inbox, groups, e2ee, tabs: new Set(), calls: new Map(), grace: null };
    const report = (what: string) => (e: unknown) => log?.(`${what} ${aid}: ${(e as Error).message}`);
    session.onStateChange((change) => {
      this.hub.publish(aid, 'state', this.snapshotOf(aid)!);
      if (change.state !== 'ready') return;
      void e2ee.ensurePrekey().catch(report('prekey'));
      void inbox.catchUp().catch(report('catch-up'));
      void groups.syncAll().catch(report('group sync'));
    });
    session.onEvent((name, params) => this.onGatewayEvent(s, name, params));
    this.sessions.set(aid, s);
    session.start();
    return s;
  }

  /**
   * Decrypts an inbox row for the tabs. A row that cannot be read becomes an `undecryptable`
   * event; replays and rows not addressed to this device are dropped quietly. Either way the
   * inbox moves on: one bad message never blocks the ones after it.
   */
  private async open(aid: string, e2ee: E2eeEngine, row: InboxRow): Promise<InboundMessage | null> {
    try {
      const d = await e2ee.decrypt(row);
      const aad = d.aad as { to?: unknown; timestamp?: unknown };
      return {
        aid,
        messageId: row.message_id,
        from: row.from_aid,
        to: typeof aad.to === 'string' ? aad.to : row.to,
        seq: row.seq,
        timestamp: typeof aad.timestamp === 'number' ? aad.timestamp : row.t_server,
        payload: d.payload as JsonObject,
        encrypted: true,
        direction: row.direction ?? (row.from_aid === aid ? 'outbound_sync' : 'inbound'),
        ...(d.protectedHeaders ? { protectedHeaders: d.protectedHeaders } : {}),
      };
    } catch (err) {
      return this.unreadable(aid, row.message_id, row.from_aid, row.seq, err);
    }
  }

  private async openGroup(aid: string, e2ee: E2eeEngine, row: GroupRow): Promise<GroupInboundMessage | null> {
    try {
      const d = await e2ee.decryptGroup(row);
      const aad = d.aad as { timestamp?: unknown };
      return {
        aid,
        groupId: row.group_id,
        seq: row.seq,
        messageId: row.message_id,
        from: row.from_aid,
        timestamp: typeof aad.timestamp === 'number' ? aad.timestamp : row.t_server,
        payload: d.payload as JsonObject,
        encrypted: true,
        direction: row.from_aid === aid ? 'outbound_sync' : 'inbound',
      };
    } catch (err) {
      return this.unreadable(aid, row.message_id, row.from_aid, row.seq, err, row.group_id);
    }
  }

  /**
   * A row that cannot be read becomes an `undecryptable` event; replays and rows not addressed to
   * this device are dropped quietly. Either way the inbox moves on: one bad message never blocks
   * the ones after it.
   */
  private unreadable(aid: string, messageId: string, from: string, seq: number, err: unknown, groupId?: string): null {
    const reason = err instanceof E2eeError ? err.reason : 'error';
    if (reason === 'duplicate' || reason === 'recipient_missing') return null;
    this.opts.log?.(`undecryptable ${messageId} from ${from}: ${(err as Error).message}`);
    this.hub.publish(aid, 'undecryptable', { aid, messageId, from, seq, reason, message: (err as Error).message, ...(groupId ? { groupId } : {}) });
    return null;
  }

  /** E2EE by default: bootstrap (cached), encrypt, send; a stale-keys rejection re-bootstraps once. */
  private async send(tab: Tab, callId: string, to: string, payload: JsonObject, opts: SendOptions): Promise<MessageSendResult> {
    if (typeof to !== 'string' || typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw new ValidationError('send needs a recipient AID and an object payload');
    }
    const s = this.sessionOf(tab);
    const messageId = `m-${randomHex(16)}`;
    const encrypted = opts.encrypt !== false;
    const result = encrypted
      ? await this.withFreshKeys(() => s.e2ee.forget(to), async () => {
        const envelope = await s.e2ee.encryptTo(to, payload, messageId);
        return this.call(tab, callId, 'message.send', { to, payload: envelope as unknown as JsonObject }, opts.timeoutMs);
      })
      : await this.call(tab, callId, 'message.send', { to, payload, message_id: messageId }, opts.timeoutMs);
    // Every tab of this AID sees what one of them sent.
    this.hub.publish(s.aid, 'message', {
      aid: s.aid, messageId: result.message_id, from: s.aid, to, seq: result.seq, timestamp: result.timestamp,
      payload, encrypted, direction: 'outbound',
    });
    return result;
  }

  /** Runs an E2EE send; a stale-keys rejection (-33011 …) drops the cached keys and tries once more. */
  private async withFreshKeys<T>(forget: () => void, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      if (!(err instanceof V2StaleKeysError)) throw err;
      forget();
      return send();
    }
  }

  private async groupSend(tab: Tab, callId: string, groupId: string, payload: JsonObject, opts: SendOptions): Promise<GroupSent> {
    if (typeof groupId !== 'string' || typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw new ValidationError('groupSend needs a group id and an object payload');
    }
    const s = this.sessionOf(tab);
    const messageId = `m-${randomHex(16)}`;
    const encrypted = opts.encrypt !== false;
    let seq: number;
    if (encrypted) {
      const r = await this.withFreshKeys(() => s.e2ee.forgetGroup(groupId), async () => {
        const envelope = await s.e2ee.encryptToGroup(groupId, payload, messageId);
        return this.call(tab, callId, 'group.v2.send', { group_id: groupId, group_aid: groupId, envelope: envelope as unknown as JsonObject }, opts.timeoutMs);
      });
      seq = r.seq;
    } else {
      seq = (await this.call(tab, callId, 'group.send', { group_id: groupId, group_aid: groupId, payload, message_id: messageId }, opts.timeoutMs)).message.seq;
    }
    s.groups.sent(groupId, seq);
    this.hub.publish(s.aid, 'group.message', {
      aid: s.aid, groupId, seq, messageId, from: s.aid, timestamp: Date.now(), payload, encrypted, direction: 'outbound',
    });
    return { groupId, seq, messageId };
  }

  private async groupCreate(tab: Tab, name: string): Promise<GroupInfo> {
    if (typeof name !== 'string' || name.trim() === '') throw new ValidationError('a group needs a name');
    const s = this.sessionOf(tab);
    const { group } = await s.session.call('group.create', { name }, { waitReady: true });
    await s.e2ee.ensureGroupPrekey(group.group_id);
    void s.groups.follow(group.group_id);
    return group;
  }

  private async groupMembership(tab: Tab, method: 'group.add_member' | 'group.kick', groupId: string, member: string): Promise<GroupInfo> {
    if (typeof groupId !== 'string' || typeof member !== 'string') throw new ValidationError('needs a group id and an AID');
    const s = this.sessionOf(tab);
    const r = await s.session.call(method, { group_id: groupId, group_aid: groupId, aid: member }, { waitReady: true });
    s.e2ee.forgetGroup(groupId);
    return r.group;
  }

  private async groupLeave(tab: Tab, groupId: string): Promise<void> {
    const s = this.sessionOf(tab);
    await s.session.call('group.leave', { group_id: groupId, group_aid: groupId }, { waitReady: true });
    s.groups.untrack(groupId);
  }

  private onGatewayEvent(s: AidSession, name: string, params: unknown): void {
    if (typeof params === 'object' && params !== null) {
      const device = (params as { device_id?: unknown }).device_id;
      const forUs = device === undefined || device === '' || device === s.deviceId;
      if (name === 'message.received' && forUs) void s.inbox.push(rowFromPush(params as MessageReceivedEvent));
      else if (name === 'peer.v2.message_received' && forUs) {
        const row = rowFromV2Push(params as PeerV2MessageReceivedEvent, s.aid);
        void (row ? s.inbox.push(row) : s.inbox.catchUp());
      } else s.groups.onEvent(name, params);
    }
    this.hub.publish(s.aid, 'raw', { aid: s.aid, event: name, params });
  }

  private snapshotOf(aid: string): SessionSnapshot | null {
    const s = this.sessions.get(aid);
    if (!s) return null;
    const snap = s.session.snapshot;
    return { aid, state: snap.state, detail: { ...(snap.detail as Record<string, unknown>), deviceId: s.deviceId, counters: { ...s.session.counters }, tabs: s.tabs.size } };
  }

  private sessionOf(tab: Tab): AidSession {
    const s = tab.aid ? this.sessions.get(tab.aid) : undefined;
    if (!s) throw new SessionError('this tab is not logged in: call login(aid) first', ErrorCode.ConnectRequired);
    return s;
  }

  private async call<M extends MethodName>(tab: Tab, callId: string, method: M, params: ParamsOf<M>, timeoutMs?: number): Promise<ResultOf<M>> {
    if (typeof method !== 'string') throw new ValidationError('method must be a string');
    if (INTERNAL_ONLY_METHODS.has(method)) throw new PermissionError(`${method} is internal to the worker: tabs cannot call it`, ErrorCode.PermissionDenied);
    if (OWNER_MANAGED.has(method)) throw new PermissionError(`${method} is managed by the worker's delivery (it acks for every tab)`, ErrorCode.PermissionDenied);
    if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new ValidationError('params must be an object');
    const s = this.sessionOf(tab);
    const ac = new AbortController();
    s.calls.set(callId, ac);
    try {
      return await s.session.call(method, params, { ...(timeoutMs ? { timeoutMs } : {}), signal: ac.signal, waitReady: true });
    } finally {
      s.calls.delete(callId);
    }
  }

  private cancel(tab: Tab, callId: string): boolean {
    const ac = tab.aid ? this.sessions.get(tab.aid)?.calls.get(callId) : undefined;
    ac?.abort();
    return ac !== undefined;
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
    if (s.grace) clearTimeout(s.grace);
    s.calls.forEach((ac) => ac.abort());
    s.inbox.stop();
    s.groups.stop();
    s.session.close();
    this.sessions.delete(s.aid);
    this.opts.log?.(`session ${s.aid} closed`);
  }
}
