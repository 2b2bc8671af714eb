// One logged-in AID on this device (its account), wired together: the Gateway session (the one
// connection), the E2EE engine, P2P and group delivery, the local event log and the outbox. Tabs
// reach it through their facade (hub/facade.ts); it reaches them only through its outlet (the hub).

import { randomHex } from '../protocol/bytes.ts';
import {
  AunError, ErrorCode, errorToWire, PermissionError, SessionError, V2StaleKeysError, ValidationError,
} from '../protocol/errors.ts';
import { jsonForm, type JsonObject } from '../protocol/frames.ts';
import {
  INTERNAL_ONLY_METHODS, type GroupRow, type MessageSendResult, type MethodName, type ParamsOf, type ResultOf,
} from '../protocol/methods.ts';
import { type GroupInfo } from '../protocol/wire-common.ts';
import type {
  GroupInboundMessage, GroupSent, InboundMessage, LogPage, InspectorSnapshot, QueuedSend, SessionSnapshot,
  TabEventMap,
} from '../protocol/tab.ts';
import { httpBaseOf } from './net/io.ts';
import { PeerCertificates } from './auth/peers.ts';
import { TrustStore } from './auth/trust.ts';
import { Groups } from './delivery/groups.ts';
import { Journal, type LoggedEvent, type LoggedInput } from './delivery/journal.ts';
import { Outbox, type OutboxEntry } from './delivery/outbox.ts';
import { P2P_CURSOR, P2pInbox } from './delivery/p2p.ts';
import { Recalls } from './delivery/recall.ts';
import { groupMessageKey, mayPass, unreadable } from './delivery/rows.ts';
import { AccountActions, withdrawnError } from './account/actions.ts';
import { Notifier } from './account/notify.ts';
import { E2eeEngine } from './e2ee/engine.ts';
import { dedupeKey } from './e2ee/envelope.ts';
import { pushConfigFromUpdate, type OfflinePushConfig } from './session/push-config.ts';
import { GatewaySession } from './session/session.ts';
import type { IdentityRecord, KeyPairHandles, Store } from './store/index.ts';

/** The one slot every owner of the origin logs in on (the session lock is named after it too). */
export const SLOT_ID = 'default';

/** Cursor-moving calls belong to the worker's delivery: a tab acking would hide mail from others. */
const OWNER_MANAGED: ReadonlySet<string> = new Set(['message.v2.ack', 'group.v2.ack', 'group.ack_events', 'message.ack', 'group.ack_messages']);

/** Where an account's events go: the hub, which fans them out to the tabs of the AID. */
export interface AccountOutlet {
  /** Logged events (each has its lsn) committed together, in lsn order. */
  publishLogged(aid: string, events: LoggedEvent[]): void;
  /** Live state, raw pushes, failed sends and notices: not logged. */
  publish<E extends 'state' | 'raw' | 'send.failed' | 'notify'>(aid: string, name: E, data: TabEventMap[E]): void;
  /** How many tabs are logged in as `aid` (for snapshots and the inspector). */
  tabCount(aid: string): number;
}

export interface AccountOptions {
  record: IdentityRecord;
  keys: KeyPairHandles;
  roots: string[];
  store: Store;
  deviceId: string;
  outlet: AccountOutlet;
  heartbeatFloorMs?: number;
  log?: (line: string) => void;
}

export const newMessageId = () => `m-${randomHex(16)}`;

export class Account {
  readonly aid: string;
  readonly deviceId: string;
  readonly session: GatewaySession;
  private readonly calls = new Map<string, AbortController>();
  private readonly e2ee: E2eeEngine;
  private readonly journal: Journal;
  private readonly inbox: P2pInbox;
  private readonly groups: Groups;
  private readonly outbox: Outbox<MessageSendResult | GroupSent>;
  /** Carried on every reconnect once the app set it (push.update_config). */
  private pushConfig: OfflinePushConfig | null = null;
  private readonly recalls: Recalls;
  /** Recall, signed group settings, thoughts (account/actions.ts). */
  readonly actions: AccountActions;
  /** Typing / presence notices (account/notify.ts). */
  readonly notifier: Notifier;

  constructor(private readonly opts: AccountOptions) {
    const { record, keys, store, deviceId, outlet, log } = opts;
    const aid = (this.aid = record.aid);
    this.deviceId = deviceId;
    const trust = new TrustStore(opts.roots);
    const session = (this.session = new GatewaySession({
      url: record.gatewayUrl,
      credentials: { aid, certPem: record.certPem, privateKey: keys.ecdsa },
      trust,
      tokens: store.tokens,
      deviceId,
      slotId: SLOT_ID,
      online: (globalThis.navigator as Navigator | undefined)?.onLine ?? true,
      push: () => this.pushConfig,
      ...(opts.heartbeatFloorMs ? { heartbeatFloorMs: opts.heartbeatFloorMs } : {}),
      ...(log ? { log } : {}),
      // A certificate the gateway renewed (spec §3.3), checked by the session: kept for the next start.
      onCertificate: async (certPem) => {
        const current = await store.identities.get(aid);
        if (current) await store.identities.put({ ...current, certPem, updatedAt: Date.now() });
      },
    }));
    const rpc = <M extends MethodName>(method: M, params: ParamsOf<M>) => session.call(method, params, { waitReady: true });
    const peers = new PeerCertificates(trust, httpBaseOf(record.gatewayUrl));
    this.e2ee = new E2eeEngine({
      aid, deviceId, store, rpc,
      ik: { publicSpki: keys.publicSpki, ecdh: keys.ecdh, ecdsa: keys.ecdsa },
      peerIk: (peer, certPem) => peers.identityKey(peer, certPem),
      ...(log ? { log } : {}),
    });
    this.journal = new Journal(aid, store, (e) => outlet.publishLogged(aid, e), log);
    // An inbox's ack waits for the log on disk (at most one flush per inbox every 100 ms).
    const durable = () => store.sync();
    this.recalls = new Recalls(aid, store);
    this.inbox = new P2pInbox({
      aid,
      deviceId,
      rpc,
      loadCursor: () => store.cursors.get(aid, P2P_CURSOR),
      commit: (seq, inputs) => this.journal.commit({ ns: P2P_CURSOR, seq }, inputs),
      decrypt: (row) => this.e2ee.decrypt(row),
      recall: (notice) => this.recalls.p2p(notice),
      unsee: (key) => this.e2ee.unsee(key),
      durable,
      ...(log ? { log } : {}),
    });
    this.groups = new Groups({
      aid,
      rpc,
      loadCursor: (ns) => store.cursors.get(aid, ns),
      commit: (ns, seq, inputs) => this.journal.commit({ ns, seq }, inputs),
      decrypt: (row, final) => this.openGroup(row, final),
      recall: (notice) => this.recalls.group(notice),
      unsee: (key) => this.e2ee.unsee(key),
      durable,
      membershipChanged: (groupId, joinedSelf) => {
        this.e2ee.forgetGroup(groupId);
        if (joinedSelf) void this.e2ee.ensureGroupPrekey(groupId).catch(this.report('group prekey'));
      },
      ...(log ? { log } : {}),
    });
    this.outbox = new Outbox({
      aid,
      store,
      send: (entry, timeoutMs) => this.transmit(entry, timeoutMs),
      sent: async (entry, result) => void (await this.logOutbound(entry, result)),
      failed: (entry, err) => {
        log?.(`send ${entry.id} to ${entry.body.to} failed for good: ${(err as Error).message}`);
        const e = err instanceof AunError ? err : new AunError((err as Error).message);
        outlet.publish(aid, 'send.failed', {
          aid, messageId: entry.id, to: entry.body.to, kind: entry.kind,
          error: errorToWire(e),
        });
      },
      ...(log ? { log } : {}),
    });
    this.actions = new AccountActions({
      aid, ecdsa: keys.ecdsa, rpc, recalls: this.recalls,
      record: (input) => this.journal.record(input),
      withdraw: (id) => this.outbox.withdraw(id, withdrawnError(id)),
      catchUpGroup: (groupId) => this.groups.follow(groupId),
      encryptTo: (to, payload, id) => this.withFreshKeys(() => this.e2ee.forget(to), () => this.e2ee.encryptTo(to, payload, id)),
      encryptToGroup: (groupId, payload, id) => this.withFreshKeys(() => this.e2ee.forgetGroup(groupId), () => this.e2ee.encryptToGroup(groupId, payload, id)),
      decryptThought: (envelope, from, groupId) => this.e2ee.decryptThought(envelope, from, groupId),
    });
    this.notifier = new Notifier({ aid, write: (method, params) => session.notify(method, params), publish: (e) => outlet.publish(aid, 'notify', e) });
    session.onStateChange((change) => {
      outlet.publish(aid, 'state', this.snapshot());
      // Another connection took the identity over: what waits to be sent is reported, not stranded.
      if (change.state === 'evicted') void this.outbox.abandon(new SessionError(`another connection took over ${aid}; log in again to take it back`, ErrorCode.ConnectRequired)).catch(this.report('outbox'));
      if (change.state !== 'ready') return;
      void this.e2ee.ensurePrekey().catch(this.report('prekey'));
      void this.inbox.catchUp().catch(this.report('catch-up'));
      void this.groups.syncAll().catch(this.report('group sync'));
      void this.outbox.flush().catch(this.report('outbox'));
    });
    session.onEvent((name, params) => this.onGatewayEvent(name, params));
  }

  private report(what: string): (e: unknown) => void {
    return (e) => this.opts.log?.(`${what} ${this.aid}: ${(e as Error).message}`);
  }

  async start(): Promise<void> {
    await this.journal.load();
    this.session.start();
  }

  /**
   * For a handoff to a newer owner: stop taking pushes (the gateway keeps what is not acked), let
   * in-flight calls and the outbox head finish within `deadlineMs`, wait until every received
   * run is committed to the log, then close the socket. What is left goes to the next owner:
   * unacked pushes are pulled again, queued sends stay in the IndexedDB outbox (and the gateway
   * drops a resend of a message id it already has).
   */
  async drain(deadlineMs: number): Promise<void> {
    const until = Date.now() + deadlineMs;
    this.inbox.stop();
    this.groups.stop();
    while ((this.calls.size > 0 || this.outbox.busy) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    await this.journal.idle();
    this.close();
  }

  close(): void {
    // Before the session closes: its closed session would answer every retry with a transient
    // error, and a running outbox would write its entries back after the next login sent them.
    this.outbox.stop();
    this.calls.forEach((ac) => ac.abort());
    this.inbox.stop();
    this.groups.stop();
    this.session.close();
  }

  snapshot(): SessionSnapshot {
    const snap = this.session.snapshot;
    return {
      aid: this.aid,
      state: snap.state,
      detail: { ...(snap.detail as Record<string, unknown>), deviceId: this.deviceId, counters: { ...this.session.counters }, tabs: this.opts.outlet.tabCount(this.aid) },
      lastLsn: this.journal.lastLsn,
    };
  }

  get lastLsn(): number {
    return this.journal.lastLsn;
  }

  /** What the inspector shows of this account. */
  async inspect(): Promise<InspectorSnapshot['sessions'][number]> {
    const snap = this.snapshot();
    return {
      aid: this.aid, state: snap.state, detail: snap.detail, tabs: this.opts.outlet.tabCount(this.aid), pendingCalls: this.calls.size,
      lastLsn: snap.lastLsn, cursors: await this.opts.store.cursors.all(this.aid), outbox: (await this.opts.store.outbox.list(this.aid)).length,
    };
  }

  replay(afterLsn: number, limit: number): Promise<LogPage> {
    if (!Number.isSafeInteger(afterLsn) || afterLsn < 0) throw new ValidationError('replay needs a non-negative integer lsn');
    return this.journal.since(afterLsn, Math.min(Math.max(1, limit | 0), 1000));
  }

  // ---- calls from tabs ----

  async call<M extends MethodName>(callId: string, method: M, params: ParamsOf<M>, timeoutMs?: number): Promise<ResultOf<M>> {
    if (typeof method !== 'string') throw new ValidationError('method must be a string');
    if (INTERNAL_ONLY_METHODS.has(method)) throw new PermissionError(`${method} is internal to the worker: tabs cannot call it`, ErrorCode.PermissionDenied);
    if (OWNER_MANAGED.has(method)) throw new PermissionError(`${method} is managed by the worker's delivery (it acks for every tab)`, ErrorCode.PermissionDenied);
    if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new ValidationError('params must be an object');
    const ac = new AbortController();
    this.calls.set(callId, ac);
    try {
      const result = await this.session.call(method, params, { ...(timeoutMs ? { timeoutMs } : {}), signal: ac.signal, waitReady: true });
      if (method === 'push.update_config') {
        const next = pushConfigFromUpdate(params);
        if (next !== undefined) this.pushConfig = (result as ResultOf<'push.update_config'>).stored ? next : null;
      }
      return result;
    } finally {
      this.calls.delete(callId);
    }
  }

  cancel(callId: string): boolean {
    const ac = this.calls.get(callId);
    ac?.abort();
    return ac !== undefined;
  }

  /** Through the outbox: answered by the gateway, or queued (and sent once) when it cannot be reached in time. */
  async send(to: string, payload: JsonObject, encrypt: boolean, timeoutMs?: number): Promise<MessageSendResult | QueuedSend> {
    if (typeof to !== 'string' || typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw new ValidationError('send needs a recipient AID and an object payload');
    }
    // The payload as its recipients will read it: the outbox, the envelope, the signature and every
    // tab's log hold one and the same (a Date or NaN from a tab's structured clone took other forms).
    const entry: OutboxEntry = { id: newMessageId(), kind: 'p2p', body: { to, payload: jsonForm(payload, 'the payload'), encrypt }, createdAt: Date.now(), attempts: 0 };
    const result = await this.outbox.submit(entry, timeoutMs);
    return (result as MessageSendResult | null) ?? { message_id: entry.id, status: 'queued' };
  }

  async groupSend(groupId: string, payload: JsonObject, encrypt: boolean, timeoutMs?: number): Promise<GroupSent> {
    if (typeof groupId !== 'string' || typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw new ValidationError('groupSend needs a group id and an object payload');
    }
    const entry: OutboxEntry = { id: newMessageId(), kind: 'group', body: { to: groupId, payload: jsonForm(payload, 'the payload'), encrypt }, createdAt: Date.now(), attempts: 0 };
    const result = await this.outbox.submit(entry, timeoutMs);
    return (result as GroupSent | null) ?? { groupId, seq: null, messageId: entry.id, status: 'queued' };
  }

  /** One attempt at an outbox entry; E2EE re-encrypts under the same message id each time. */
  private async transmit(entry: OutboxEntry, timeoutMs?: number): Promise<MessageSendResult | GroupSent> {
    const { to, payload, encrypt } = entry.body;
    const opts = { ...(timeoutMs ? { timeoutMs } : {}), waitReady: true };
    if (entry.kind === 'p2p') {
      if (!encrypt) return this.session.call('message.send', { to, payload, message_id: entry.id }, opts);
      return this.withFreshKeys(() => this.e2ee.forget(to), async () => {
        const envelope = await this.e2ee.encryptTo(to, payload, entry.id);
        return this.session.call('message.send', { to, payload: envelope as unknown as JsonObject }, opts);
      });
    }
    const seq = encrypt
      ? (await this.withFreshKeys(() => this.e2ee.forgetGroup(to), async () => {
        const envelope = await this.e2ee.encryptToGroup(to, payload, entry.id);
        return this.session.call('group.v2.send', { group_id: to, group_aid: to, envelope: envelope as unknown as JsonObject }, opts);
      })).seq
      : (await this.session.call('group.send', { group_id: to, group_aid: to, payload, message_id: entry.id }, opts)).message.seq;
    this.groups.sent(to, seq);
    return { groupId: to, seq, messageId: entry.id, status: 'sent' };
  }

  /** A stale-keys rejection (-33011 …) drops the cached keys and tries once more. */
  private async withFreshKeys<T>(forget: () => void, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      if (!(err instanceof V2StaleKeysError)) throw err;
      forget();
      return send();
    }
  }

  /** Every tab of this AID, and every later one, sees what one of them sent. */
  private logOutbound(entry: OutboxEntry, result: MessageSendResult | GroupSent): Promise<LoggedEvent | null> {
    const { to, payload, encrypt } = entry.body;
    if (entry.kind === 'p2p') {
      const r = result as MessageSendResult;
      const data: InboundMessage = {
        aid: this.aid, messageId: entry.id, from: this.aid, to, seq: r.seq, timestamp: r.timestamp ?? Date.now(),
        payload, encrypted: encrypt, direction: 'outbound',
      };
      return this.journal.record({ name: 'message', key: `out:${entry.id}`, data });
    }
    const r = result as GroupSent;
    const data: GroupInboundMessage = {
      aid: this.aid, groupId: to, seq: r.seq ?? 0, messageId: entry.id, from: this.aid, timestamp: Date.now(),
      payload, encrypted: encrypt, direction: 'outbound',
    };
    return this.journal.record({ name: 'group.message', key: groupMessageKey(to, r.seq ?? 0), data });
  }

  // ---- groups ----

  async groupCreate(name: string): Promise<GroupInfo> {
    if (typeof name !== 'string' || name.trim() === '') throw new ValidationError('a group needs a name');
    const { group } = await this.session.call('group.create', { name }, { waitReady: true });
    await this.e2ee.ensureGroupPrekey(group.group_id);
    void this.groups.follow(group.group_id).catch(this.report('group follow'));
    return group;
  }

  async groupMembership(method: 'group.add_member' | 'group.kick', groupId: string, member: string): Promise<GroupInfo> {
    if (typeof groupId !== 'string' || typeof member !== 'string') throw new ValidationError('needs a group id and an AID');
    const r = await this.session.call(method, { group_id: groupId, group_aid: groupId, aid: member }, { waitReady: true });
    this.e2ee.forgetGroup(groupId);
    return r.group;
  }

  async groupList(): Promise<ResultOf<'group.list_my'>['items']> {
    return (await this.session.call('group.list_my', { size: 200 }, { waitReady: true })).items;
  }

  async groupMembers(groupId: string): Promise<ResultOf<'group.get_members'>['members']> {
    return (await this.session.call('group.get_members', { group_id: groupId, group_aid: groupId }, { waitReady: true })).members;
  }

  async groupLeave(groupId: string): Promise<void> {
    await this.session.call('group.leave', { group_id: groupId, group_aid: groupId }, { waitReady: true });
    this.groups.untrack(groupId);
  }

  // ---- receiving ----

  /** Pushes are hints: the inboxes pull what the gateway stored (docs/security-model.md). */
  private onGatewayEvent(name: string, params: unknown): void {
    if (this.inbox.onEvent(name, params)) {
      // P2P hint taken.
    } else if (this.notifier.receive(name, params)) {
      return; // Ephemeral: fanned out by the notifier, never logged or published raw.
    } else this.groups.onEvent(name, params);
    this.opts.outlet.publish(this.aid, 'raw', { aid: this.aid, event: name, params });
  }

  private async openGroup(row: GroupRow, final: boolean): Promise<LoggedInput | null> {
    try {
      const d = await this.e2ee.decryptGroup(row);
      const aad = d.aad as { timestamp?: unknown };
      const data: GroupInboundMessage = {
        aid: this.aid,
        groupId: row.group_id,
        seq: row.seq,
        messageId: row.message_id,
        from: row.from_aid,
        timestamp: typeof aad.timestamp === 'number' ? aad.timestamp : row.t_server,
        payload: d.payload as JsonObject,
        encrypted: true,
        direction: row.from_aid === this.aid ? 'outbound_sync' : 'inbound',
      };
      return { name: 'group.message', key: groupMessageKey(row.group_id, row.seq), data, seen: dedupeKey(d.aad) };
    } catch (err) {
      if (!final && mayPass(err)) throw err;
      return unreadable(this.aid, { where: `group:${row.group_id}:${row.seq}`, messageId: row.message_id, from: row.from_aid, seq: row.seq, groupId: row.group_id }, err, this.opts.log);
    }
  }
}
