// The contract between a tab (client-stub) and the owner (worker/hub): the attach handshake, the
// RPC facade the owner exposes through Comlink, and the one-way frames on the event port.
// Types and constants only, so client-stub stays a thin importer of protocol/.

import type { WireError } from './errors.ts';
import type { JsonObject } from './frames.ts';
import type { ThoughtContext } from './methods-extra.ts';
import type { MessageSendResult, MethodName, ParamsOf, ResultOf } from './methods.ts';
import type { GroupInfo, GroupMember } from './wire-common.ts';

/** Bumped when the tab↔owner contract changes incompatibly (2: `send`/`groupSend` carry no call id, and logged events come in `events` frames). */
export const TAB_PROTOCOL = 2;

export const ATTACH = 'aun.attach';

/** Where the owner runs: a SharedWorker; a dedicated worker in the elected leader tab; this tab only. */
export type Rung = 'shared' | 'leader' | 'single';

/** A build of aun-worker: tabs and owners compare these at attach and during a handoff. */
export interface BuildInfo {
  /** TAB_PROTOCOL of that build. */
  protocol: number;
  build: string;
  /** Epoch ms when it was built: of two builds of one protocol, the later one is newer. */
  builtAt: number;
}

/** How a tab reaches a SharedWorker owner: its script and its (versioned) name. */
export interface OwnerAddress extends BuildInfo {
  url: string;
  name: string;
}

/** True when `a` should replace `b`: a higher tab protocol, or the same one built later. */
export function isNewer(a: BuildInfo, b: BuildInfo): boolean {
  return a.protocol !== b.protocol ? a.protocol > b.protocol : a.builtAt > b.builtAt;
}

/** First message a tab posts on the SharedWorker port; transfers its two channel ends. */
export interface AttachMessage {
  type: typeof ATTACH;
  tabId: string;
  /** Name of the Web Lock the tab holds for as long as it lives ('' without Web Locks). */
  tabLock: string;
  /**
   * The tab asked for its lock but it was not granted yet (it attaches meanwhile, to save the
   * wait): the owner starts watching the lock only after `lockHeld()`, so it cannot take it first.
   */
  lockPending?: boolean;
  protocol: number;
  build: string;
  builtAt: number;
  /**
   * The tab reads an `events` frame's list given as JSON text. Tabs of builds before it do not
   * say so, and get the list (the same TAB_PROTOCOL serves both).
   */
  eventsText?: boolean;
  rpc: MessagePort;
  events: MessagePort;
}

export type SessionStateName = 'idle' | 'connecting' | 'authenticating' | 'ready' | 'backoff' | 'evicted' | 'closed';

export interface SessionSnapshot {
  aid: string;
  state: SessionStateName;
  detail: Record<string, unknown>;
  /** The highest lsn of this AID's local event log. */
  lastLsn: number;
}

export interface IdentityInfo {
  aid: string;
  gateway: string;
  certFingerprint: string;
  createdAt: number;
  /** True when this origin holds a cached access token for it. */
  hasToken: boolean;
}

export type Direction = 'inbound' | 'outbound' | 'outbound_sync';

/** A message as the application sees it: plaintext, whatever travelled on the wire. */
export interface InboundMessage {
  /** The local AID that received (or, for outbound_sync, sent) it. */
  aid: string;
  messageId: string;
  from: string;
  to: string;
  seq: number;
  timestamp: number;
  payload: JsonObject;
  encrypted: boolean;
  /** `outbound`: sent from this device; `outbound_sync`: sent by this AID from another device. */
  direction: Direction;
  /** E2EE protected headers, integrity-checked (without `_auth`). */
  protectedHeaders?: Record<string, unknown>;
  /** Set on a replayed entry whose sender recalled it: its payload is gone (`{}`). */
  recalled?: true;
}

/** A message that arrived but could not (or must not) be read; the worker goes on. */
export interface UndecryptableMessage {
  aid: string;
  messageId: string;
  from: string;
  seq: number;
  /** Set when it was a group message. */
  groupId?: string;
  /** E2EE rejection reason: sender_signature, recipients_digest, spk_missing, … */
  reason: string;
  message: string;
}

/** A group message as the application sees it. */
export interface GroupInboundMessage {
  aid: string;
  groupId: string;
  seq: number;
  messageId: string;
  from: string;
  timestamp: number;
  payload: JsonObject;
  encrypted: boolean;
  direction: Direction;
  /** Set on a replayed entry whose sender recalled it: its payload is gone (`{}`). */
  recalled?: true;
}

/** A recalled message as the log knew it: its id and the lsn of its (now redacted) log entry, null when this device never had it. */
export interface RecalledOriginal { messageId: string; lsn: number | null }

/** The sender withdrew P2P messages: their plaintext is gone from this device's log and outbox. */
export interface MessageRecalled {
  aid: string;
  /** The sender, who recalled them. */
  from: string;
  to: string;
  messageIds: string[];
  originals: RecalledOriginal[];
  /** The inbox seq of the recall notice; null for a recall made on this device. */
  seq: number | null;
  at: number;
}

/** The sender withdrew group messages: their plaintext is gone from this device's log and outbox. */
export interface GroupMessageRecalled {
  aid: string;
  groupId: string;
  /** The original sender. */
  from: string;
  recalledBy: string;
  messageIds: string[];
  /** The group seqs of the recalled messages. */
  seqs: number[];
  originals: RecalledOriginal[];
  reason: string;
  /** The group seq of the recall notice; null for a recall made on this device. */
  seq: number | null;
  at: number;
}

/** An ephemeral notice (typing, presence…) from another AID or a group member; never logged. */
export interface NotifyEvent {
  aid: string;
  /** `typing`, `presence`, … (the `event/app.<kind>` name). */
  kind: string;
  from: string;
  fromDevice: string;
  /** Set when it was sent to a group. */
  groupId?: string;
  params: JsonObject;
  at: number;
}

/** A membership change of a group this AID belongs to (or just left). */
export interface GroupChange {
  aid: string;
  groupId: string;
  eventSeq: number;
  action: string;
  /** The member the change is about, when there is one. */
  member: string | null;
  actor: string;
  at: number;
  /** `role_changed` */
  oldRole?: GroupMember['role'];
  newRole?: GroupMember['role'];
  /** `owner_transferred` */
  oldOwner?: string;
  newOwner?: string;
  /** `suspended`, `resumed`, `dissolved` */
  status?: GroupInfo['status'];
  /** settings writes (`update`, `rules_updated`, `announcement_updated`, `join_requirements_updated`) */
  keys?: string[];
  /** invite code kinds */
  code?: string;
}

export type GroupSummary = GroupInfo & { role: GroupMember['role'] };

/** `status: 'queued'` (and `seq: null`) while the message waits in the outbox for the gateway. */
export interface GroupSent { groupId: string; seq: number | null; messageId: string; status: 'sent' | 'queued' }

/** A message that was queued (the app was told `queued`) and that the gateway then refused for good. */
export interface SendFailed {
  aid: string;
  messageId: string;
  /** The peer AID or the group id. */
  to: string;
  kind: 'p2p' | 'group';
  error: WireError;
}

/** Events a tab can subscribe to, by name. */
export interface TabEventMap {
  state: SessionSnapshot;
  message: InboundMessage;
  undecryptable: UndecryptableMessage;
  'group.message': GroupInboundMessage;
  'group.changed': GroupChange;
  'send.failed': SendFailed;
  'message.recalled': MessageRecalled;
  'group.message_recalled': GroupMessageRecalled;
  notify: NotifyEvent;
  /** Anything the gateway pushed, untouched, for library authors. */
  raw: { aid: string; event: string; params: unknown };
}
export type TabEventName = keyof TabEventMap;

/**
 * Owner → tab frames on the event port. Logged events (messages, group changes, undecryptable
 * notices) come in `events` frames, in lsn order: what the owner committed in one go, one frame per
 * tab. Each carries `lsn`, its position in the AID's local event log: a tab that missed some asks
 * for everything after the last lsn it saw. `resync` tells a tab that fell too far behind that the
 * owner stopped sending it logged events until it catches up from the log. `event` is everything
 * else (state, notices, raw pushes), not logged.
 */
export type OwnerFrame =
  | { t: 'hello'; incarnation: string; build: string; builtAt: number; protocol: number; ownerLock: string; rung: Rung }
  /** The owner cannot serve this tab's protocol: the tab must reload (UpdateRequiredError). */
  | { t: 'refused'; reason: string; build: string; builtAt: number; protocol: number }
  /**
   * This owner cannot run in this context (its keystore cannot keep keys here, e.g. WebKit's
   * SharedWorker): the tab steps down to the next rung of the ladder and reports `reason`.
   */
  | { t: 'unfit'; reason: string }
  /**
   * The owner hands over to a newer build: send nothing new here. On the shared rung `moved`
   * follows with the new owner's address; on the leader rung (`to: null`) the new leader announces
   * itself and the tabs re-attach through the election.
   */
  | { t: 'draining'; to: OwnerAddress | null }
  /** Attach to this owner instead (a newer build runs there); this one is going away. */
  | { t: 'moved'; to: OwnerAddress }
  | { t: 'event'; name: TabEventName; data: TabEventMap[TabEventName] }
  /**
   * Logged events committed together, in lsn order: the list, or its JSON text (to a tab that
   * attached with `eventsText`). The text is made once for all the tabs that take the same
   * events, where the list would be cloned once per port; a list JSON cannot write goes as it is.
   */
  | { t: 'events'; list: LogPage['events'] | string }
  | { t: 'resync'; aid: string; lastLsn: number };

/** Events kept in the local log, by name. */
export type LoggedEventName = 'message' | 'group.message' | 'group.changed' | 'undecryptable' | 'message.recalled' | 'group.message_recalled';

/** One page of the local event log. */
export interface LogPage {
  events: { lsn: number; name: LoggedEventName; data: TabEventMap[LoggedEventName] }[];
  /** The highest lsn of the log when the page was read. */
  lastLsn: number;
}

/** What `send` answers when the gateway has not acknowledged the message yet: it waits in the outbox. */
export interface QueuedSend { message_id: string; status: 'queued' }

/** What the inspector page shows: the owner's state, readable without browser devtools. */
export interface InspectorSnapshot {
  rung: Rung;
  incarnation: string;
  build: string;
  builtAt: number;
  /** The worker's name (versioned: `<name>@<build>`). */
  name: string;
  startedAt: number;
  tabs: { id: string; build: string; aid: string | null; subscriptions: string[]; attachedAt: number; sentLsn: number; ackedLsn: number; lagging: boolean }[];
  sessions: {
    aid: string;
    state: SessionStateName;
    detail: Record<string, unknown>;
    tabs: number;
    pendingCalls: number;
    lastLsn: number;
    cursors: Record<string, number>;
    outbox: number;
  }[];
  /** The last logged events handed to tabs, newest last; `sentAt` is an inbound message's send time (its delivery latency is `at - sentAt`). */
  recent: { at: number; aid: string; name: string; lsn: number; sentAt?: number }[];
}

/**
 * The `data` of the error a handing-over owner answers with when it did not run a call: the tab
 * may send that call to the next owner. One marker, made by the worker and read by the client.
 */
export const NOT_EXECUTED = { notExecuted: true } as const;

export function isNotExecuted(data: unknown): boolean {
  return typeof data === 'object' && data !== null && (data as { notExecuted?: unknown }).notExecuted === true;
}

/**
 * Where the owner that holds an AID's gateway session runs (worker/hub/aid-claim.ts): the rung,
 * and on the shared rung the SharedWorker's address. Only one owner of an origin holds it.
 */
export interface SessionHolder {
  rung: Rung;
  /** The SharedWorker to attach to (shared rung); null on the leader rung, where the election finds it. */
  address: OwnerAddress | null;
  incarnation: string;
}

/**
 * The `data` of the error an owner answers a login with when another owner of the origin holds
 * that AID's session: the call was not run, and the tab attaches to the holder and logs in there.
 */
export const heldBy = (holder: SessionHolder) => ({ notExecuted: true, heldBy: holder }) as const;

export function holderOf(data: unknown): SessionHolder | null {
  const h = typeof data === 'object' && data !== null ? (data as { heldBy?: unknown }).heldBy : undefined;
  if (typeof h !== 'object' || h === null) return null;
  const o = h as Record<string, unknown>;
  const a = o.address as Record<string, unknown> | null;
  const address = a === null || (typeof a === 'object' && typeof a.url === 'string' && typeof a.name === 'string'
    && typeof a.build === 'string' && typeof a.builtAt === 'number' && typeof a.protocol === 'number');
  return (o.rung === 'shared' || o.rung === 'leader' || o.rung === 'single') && typeof o.incarnation === 'string' && address ? h as SessionHolder : null;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: WireError };

export interface GatewayOptions {
  /**
   * Where this identity lives: a ws(s)://…/ws URL used as is, an https:// origin whose
   * /.well-known/aun-gateway names it, or '' to discover it from the AID itself.
   */
  gateway: string;
  /** PEM of the trusted root CA(s). */
  rootCa: string[];
}

export interface CallOptions { timeoutMs?: number }

/** Where a notice or a thought goes: a peer AID, or a group. */
export type NotifyTarget = { to: string; groupId?: undefined } | { groupId: string; to?: undefined };

/** What a recall did, per message id. */
export interface RecallOutcome {
  /** Recalled at the gateway, or withdrawn from the outbox before it was sent. */
  recalled: string[];
  /** Ids the gateway refused, with its reason (`not_found`, `not_sender`, `already_recalled`, `expired`, `group_inactive`). */
  errors: { messageId: string; error: string }[];
}

export interface ThoughtPut { thoughtId: string; storedCount: number }
/** One decrypted thought; `payload` is null when this device cannot read it (e.g. its own). */
export interface Thought { thoughtId: string; from: string; payload: JsonObject | null; createdAt: number }
export interface SendOptions extends CallOptions {
  /** End-to-end encrypt (the default). `false` sends plaintext the gateway can read. */
  encrypt?: boolean;
}

/** The narrow facade the owner exposes to each tab: methods only, each returning an Outcome. */
export interface OwnerFacade {
  listIdentities(): Promise<Outcome<IdentityInfo[]>>;
  createIdentity(aid: string, options: GatewayOptions): Promise<Outcome<IdentityInfo>>;
  /** Brings an AID created elsewhere (PKCS#8 PEM private key) into this origin's keystore. */
  importIdentity(aid: string, privateKeyPem: string, options: GatewayOptions): Promise<Outcome<IdentityInfo>>;
  removeIdentity(aid: string): Promise<Outcome<void>>;
  login(aid: string, options: Partial<GatewayOptions>): Promise<Outcome<SessionSnapshot>>;
  logout(): Promise<Outcome<void>>;
  /** Skips the backoff wait of this tab's session: one attempt now (a link check when ready). */
  reconnectNow(): Promise<Outcome<void>>;
  call<M extends MethodName>(callId: string, method: M, params: ParamsOf<M>, options: CallOptions): Promise<Outcome<ResultOf<M>>>;
  send(to: string, payload: JsonObject, options: SendOptions): Promise<Outcome<MessageSendResult | QueuedSend>>;
  /** Logged events after `afterLsn` (a page of at most `limit`). */
  replay(afterLsn: number, limit: number): Promise<Outcome<LogPage>>;
  /** The tab has processed every logged event up to `lsn` (flow control). */
  ackEvents(lsn: number): Promise<Outcome<void>>;
  /** Aborts a `call` by its id. Sends carry none: a message handed to the outbox goes out once. */
  cancel(callId: string): Promise<Outcome<boolean>>;
  groupCreate(name: string): Promise<Outcome<GroupInfo>>;
  groupAdd(groupId: string, aid: string): Promise<Outcome<GroupInfo>>;
  groupRemove(groupId: string, aid: string): Promise<Outcome<GroupInfo>>;
  groupLeave(groupId: string): Promise<Outcome<void>>;
  groupList(): Promise<Outcome<GroupSummary[]>>;
  groupMembers(groupId: string): Promise<Outcome<GroupMember[]>>;
  groupSend(groupId: string, payload: JsonObject, options: SendOptions): Promise<Outcome<GroupSent>>;
  /** Recalls messages this AID sent (P2P, or in `groupId`); also withdraws them from the outbox. */
  recall(messageIds: string[], groupId: string | null, reason: string): Promise<Outcome<RecallOutcome>>;
  /** An ephemeral notice to an AID or a group (`event/app.<kind>`); rate-limited, never logged. */
  notify(target: NotifyTarget, kind: string, params: JsonObject): Promise<Outcome<boolean>>;
  /** Writes group settings; indexed keys get a group.index signed by this AID, by compare-and-swap. */
  groupSettingsSet(groupId: string, settings: Record<string, unknown>): Promise<Outcome<string[]>>;
  /** Puts an end-to-end encrypted thought for a peer AID or a group. */
  thoughtPut(target: NotifyTarget, context: ThoughtContext, payload: JsonObject): Promise<Outcome<ThoughtPut>>;
  /** Reads (and decrypts) a sender's thoughts for a context. */
  thoughtGet(target: NotifyTarget & { sender: string }, context: ThoughtContext): Promise<Outcome<Thought[]>>;
  subscribe(names: TabEventName[]): Promise<Outcome<void>>;
  unsubscribe(names: TabEventName[]): Promise<Outcome<void>>;
  snapshot(): Promise<Outcome<SessionSnapshot | null>>;
  inspect(): Promise<Outcome<InspectorSnapshot>>;
  detach(): Promise<Outcome<void>>;
  /** The tab's lock (named at attach with `lockPending`) is now held: watch it. */
  lockHeld(): Promise<Outcome<void>>;
}

const FACADE_SET: { readonly [K in keyof OwnerFacade]: true } = {
  listIdentities: true, createIdentity: true, importIdentity: true, removeIdentity: true, login: true, logout: true, reconnectNow: true,
  call: true, send: true, replay: true, ackEvents: true, cancel: true, subscribe: true,
  groupCreate: true, groupAdd: true, groupRemove: true, groupLeave: true, groupList: true, groupMembers: true, groupSend: true, recall: true, notify: true, groupSettingsSet: true, thoughtPut: true, thoughtGet: true, unsubscribe: true, snapshot: true, inspect: true, detach: true, lockHeld: true,
};

/**
 * Every facade method name: the only calls the owner accepts from a tab. Pure, so a tab's bundle
 * (which never reads it) leaves it and FACADE_SET out.
 */
export const FACADE_METHODS: ReadonlySet<string> = /* @__PURE__ */ new Set(/* @__PURE__ */ Object.keys(FACADE_SET));
