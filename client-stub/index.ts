// What a tab imports. `connect()` attaches this tab to the origin's owner (a SharedWorker) and
// returns a typed client. Every call has a deadline; if the owner dies or restarts, in-flight
// calls reject at once with ConnectionLostError and the client re-attaches by itself.
// The client is made of parts: link.ts (attach, re-attach, hand-over; the rungs in ladder.ts and
// fallback.ts), calls.ts (deadlines and retries), events.ts (the event stream), identities.ts
// (identity and group calls), extras.ts (recall, notify, thoughts) and rpc.ts (the owner's port).
// Every tab loads these files, so state private to a part is kept in `#` members, which the
// minifier renames (a TS `private` name ships as written).

import { ConnectionLostError } from '../protocol/errors.ts';
import type { JsonObject } from '../protocol/frames.ts';
import type { MessageSendResult, MethodName, ParamsOf, ResultOf } from '../protocol/methods.ts';
import type {
  GatewayOptions, InspectorSnapshot, Outcome, QueuedSend, RecallOutcome, Rung, SessionSnapshot,
} from '../protocol/tab.ts';
import { Calls, unwrap, type RequestOptions } from './calls.ts';
import { Events, type ClientEventMap, type ClientEventName, type ClientState } from './events.ts';
import { notifyTo, recallP2p, thoughtsApi, type Thoughts } from './extras.ts';
import { groupsApi, identitiesApi, type Groups, type Identities } from './identities.ts';
import type { WorkerOption } from './ladder.ts';
import { Linker, type Link } from './link.ts';

export {
  AunError, AuthError, ConnectionLostError, IdentityConflictError, NotFoundError, PermissionError,
  SessionError, TimeoutError, UpdateRequiredError, ValidationError, V2StaleKeysError, errorFromWire,
} from '../protocol/errors.ts';
export type { JsonObject } from '../protocol/frames.ts';
export type {
  GroupGetInfoResult, MessageSendResult, MethodName, ParamsOf, ResultOf,
} from '../protocol/methods.ts';
export type { GroupInfo, GroupMember } from '../protocol/wire-common.ts';
export type {
  GroupSearchItem, InviteCode, SetRoleResult, SuspendResult, ThoughtContext, TransferOwnerResult, UseInviteCodeResult,
} from '../protocol/methods-extra.ts';
export type {
  BuildInfo, GatewayOptions, GroupChange, GroupInboundMessage, GroupMessageRecalled, GroupSent, GroupSummary, IdentityInfo,
  InboundMessage, InspectorSnapshot, MessageRecalled, NotifyEvent, NotifyTarget, QueuedSend, RecalledOriginal, RecallOutcome,
  Rung, SessionSnapshot, SessionStateName, TabEventMap, Thought, ThoughtPut, UndecryptableMessage,
} from '../protocol/tab.ts';
export type { RequestOptions } from './calls.ts';
export type { ClientEventMap, ClientEventName } from './events.ts';
export type { Thoughts } from './extras.ts';
export type { GroupSettings, Groups, Identities } from './identities.ts';
export type { WorkerFactories, WorkerOption } from './ladder.ts';

export interface ConnectOptions {
  /**
   * The worker script (a same-origin URL), or factories that start it with a given name (see
   * WorkerFactories; `aun-worker/vite` makes them), or a bare SharedWorker factory.
   */
  worker: WorkerOption;
  /** Base worker name (default 'aun-worker'); the worker runs as `<name>@<build>`. */
  name?: string;
  /** This build's id (default: the bundler-defined __AUN_BUILD__); tabs of one build share an owner. */
  build?: string;
  /** Force a rung ('shared' | 'leader' | 'single'); default 'auto' picks by capability. */
  rung?: 'auto' | Rung;
  /** Gateway and trusted roots used when an identity is created or logged in without its own. */
  gateway?: string;
  rootCa?: string | string[];
  /** Default deadline of every call, ms. */
  timeoutMs?: number;
}

export interface LoginOptions extends Partial<GatewayOptions> {
  /**
   * Logged events to replay first: `true` = the whole local log (history), a number = everything
   * after that lsn (e.g. one saved before a reload), absent = only what happens from now on.
   */
  history?: boolean | number;
}

export class AunClient {
  readonly tabId = crypto.randomUUID();
  readonly #s: ClientState = { closed: false, aid: null, loggingIn: null };
  readonly #ev: Events;
  /** Not API: read by the e2e tests (`linker.transport.isLeader`), so a property, not a `#` member. */
  private readonly linker: Linker;
  readonly #calls: Calls;
  readonly #defaults: Partial<GatewayOptions>;

  constructor(options: ConnectOptions) {
    const roots = options.rootCa === undefined ? undefined : Array.isArray(options.rootCa) ? options.rootCa : [options.rootCa];
    this.#defaults = { ...(options.gateway ? { gateway: options.gateway } : {}), ...(roots ? { rootCa: roots } : {}) };
    this.#ev = new Events(this.#s, (run) => this.#calls.invoke(run));
    this.linker = new Linker(options, this.tabId, this.#s, this.#ev, {
      failPending: (err, link) => this.#calls.failPending(err, link),
      restore: (link) => this.#restore(link),
    });
    this.#calls = new Calls(this.#s, this.linker, () => this.#ev.flushSubscriptions(), options.timeoutMs);
    this.identities = identitiesApi(this.#calls, this.#defaults);
    this.groups = groupsApi(this.#calls);
    this.thoughts = thoughtsApi(this.#calls);
  }

  /** Set once the running owner turned out newer than this tab (see the 'update-required' event). */
  get updateRequired(): ClientEventMap['update-required'] | null {
    return this.linker.update;
  }

  /** Where this tab's owner runs: 'shared', 'leader' or 'single' (null before the first attach). */
  get rung(): Rung | null {
    return this.linker.link?.rung ?? this.linker.transport?.rung ?? null;
  }

  /**
   * Why this tab runs below the rung its browser first offered, e.g. `shared → leader: the shared
   * rung cannot run in this browser: …` (WebKit's SharedWorker cannot keep keys); null otherwise.
   */
  get rungReason(): string | null {
    return this.linker.steppedDown;
  }

  /** The session this tab is logged in to, as last reported by the owner. */
  get state(): SessionSnapshot | null {
    return this.#ev.snapshot;
  }

  get incarnation(): string | null {
    return this.linker.link?.incarnation ?? null;
  }

  get loggedInAs(): string | null {
    return this.#s.aid;
  }

  /** Asks the owner for this tab's session state now (the `state` getter is the last one pushed). */
  async snapshot(): Promise<SessionSnapshot | null> {
    const snap = await this.#calls.invoke((f) => f.snapshot());
    if (snap) this.#ev.snapshot = snap;
    return snap;
  }

  /** The owner's state for a debug view: tabs, sessions, cursors, outbox, recent events. */
  inspect(): Promise<InspectorSnapshot> {
    return this.#calls.invoke((f) => f.inspect());
  }

  /** Resolves once this tab is attached to an owner (at once, unless it is re-attaching). */
  async ready(): Promise<void> {
    await this.linker.ensureLink();
  }

  /** This origin's identities (AIDs with their keys in the worker). */
  readonly identities: Identities;

  /** Groups of the logged-in AID. Group sends are end-to-end encrypted by default. */
  readonly groups: Groups;

  /** End-to-end encrypted thoughts: `put` for a peer or a group, `get` a sender's, decrypted. */
  readonly thoughts: Thoughts;

  /**
   * Recalls P2P messages this AID sent (within two minutes): a queued one is taken out of the
   * outbox, the others are recalled at the gateway. Every tab, and every tab opened later, gets one
   * `message.recalled` event naming the originals, whose plaintext is gone from the local log.
   */
  recall(messageIds: string | string[]): Promise<RecallOutcome> {
    return recallP2p(this.#calls, messageIds);
  }

  /**
   * An ephemeral notice (`typing`, `presence`, …) to an AID or a group: delivered only to their
   * open tabs, never stored; at most 5 a second. Resolves false when the session was not ready.
   * Receive them with `on('notify')`.
   */
  notify(to: string | { groupId: string }, kind: string, params: JsonObject = {}): Promise<boolean> {
    return notifyTo(this.#calls, to, kind, params);
  }

  /** Logs this tab in as `aid`, sharing the owner's session when one is already up. */
  async login(aid: string, options: LoginOptions = {}): Promise<SessionSnapshot> {
    const { history, ...gateway } = options;
    const ev = this.#ev;
    // Live events that race the login answer wait until we know where this tab starts reading.
    ev.held ??= [];
    this.#s.loggingIn = aid;
    try {
      const frames = ev.stateFrames;
      const snap = await this.#calls.invoke((f) => f.login(aid, { ...this.#defaults, ...gateway }));
      this.#s.aid = aid;
      // Held events of the AID this tab left (posted before the owner moved it) are not this one's.
      ev.held = ev.held?.filter((e) => (e.data as { aid?: unknown }).aid === aid) ?? null;
      ev.noteAnswer(snap, frames);
      const start = history === true ? 0 : typeof history === 'number' ? history : snap.lastLsn;
      // A cursor past the end means the log was reset (identity removed, storage cleared): read it all.
      ev.lastLsn = start > snap.lastLsn ? 0 : start;
      if (ev.lastLsn < snap.lastLsn) await ev.catchUp();
      return snap;
    } finally {
      if (this.#s.loggingIn === aid) this.#s.loggingIn = null;
      ev.releaseHeld();
    }
  }

  /** The lsn of the last logged event this tab handed out (save it to resume after a reload). */
  get cursor(): number {
    return this.#ev.lastLsn;
  }

  /** Detaches this tab from its AID; the owner closes the session when no tab uses it. */
  async logout(): Promise<void> {
    await this.#calls.invoke((f) => f.logout());
    this.#s.aid = null;
    this.#ev.forgetState();
  }

  /**
   * Skips the backoff wait: the session tries the gateway now (a "retry now" button). When ready
   * it checks the link with one short ping instead; offline (the browser says so) it does nothing.
   */
  async reconnectNow(): Promise<void> {
    await this.#calls.invoke((f) => f.reconnectNow());
  }

  call<M extends MethodName>(method: M, params: ParamsOf<M>, opts: RequestOptions = {}): Promise<ResultOf<M>> {
    return this.#calls.request(opts, (f, id, o) => f.call(id, method, params, o) as Promise<Outcome<ResultOf<M>>>);
  }

  /**
   * Sends end-to-end encrypted by default; `{encrypt: false}` sends plaintext. Resolves with the
   * gateway's answer, or `{status: 'queued'}` when the gateway cannot be reached before the
   * deadline: the message then waits in the worker's outbox and goes out (once) on reconnect.
   */
  send(to: string, payload: JsonObject, opts: RequestOptions & { encrypt?: boolean } = {}): Promise<MessageSendResult | QueuedSend> {
    const encrypt = opts.encrypt ?? true;
    return this.#calls.request(opts, (f, _id, o) => f.send(to, payload, { ...o, encrypt }));
  }

  /**
   * Calls `handler` for every `event`; returns the unsubscribe function. `state` is a value: a
   * handler added while this tab is logged in gets the current state at once, then every change.
   */
  on<E extends ClientEventName>(event: E, handler: (data: ClientEventMap[E]) => void): () => void {
    return this.#ev.on(event, handler);
  }

  /** The same events as an async iterator; ends when `signal` aborts or the client closes. */
  events<E extends ClientEventName>(event: E, opts: { signal?: AbortSignal } = {}): AsyncGenerator<ClientEventMap[E]> {
    return this.#ev.iterate(event, opts);
  }

  /**
   * Reads the local log from the last lsn this tab saw (after a re-attach, a resync, or a login
   * with history); live events that arrive meanwhile wait, so the app sees one ordered stream.
   */
  catchUp(): Promise<void> {
    return this.#ev.catchUp();
  }

  /** Detaches this tab only; the owner and other tabs go on. */
  async close(): Promise<void> {
    if (this.#s.closed) return;
    const link = this.linker.link;
    if (link) await link.facade.detach().catch(() => {});
    this.#s.closed = true;
    this.#ev.stop();
    this.#calls.failPending(new ConnectionLostError('client closed'));
    this.linker.close();
  }

  /** After a (re-)attach: re-subscribe and log back in to the AID this tab had. */
  async #restore(link: Link): Promise<void> {
    const names = this.#ev.subscribed();
    if (names.length) unwrap(await link.facade.subscribe(names));
    if (!this.#s.aid) return;
    const ev = this.#ev;
    const frames = ev.stateFrames;
    // As in login(): live events that race the answer wait behind what this tab missed.
    ev.held ??= [];
    try {
      const snap = unwrap(await link.facade.login(this.#s.aid, this.#defaults));
      ev.noteAnswer(snap, frames);
      if (ev.lastLsn > snap.lastLsn) ev.lastLsn = 0;
      // Whatever was logged while this tab had no owner comes now, exactly once.
      if (ev.lastLsn < snap.lastLsn) void ev.catchUp().catch(() => {});
    } finally {
      ev.releaseHeld();
    }
  }
}

/** Attaches this tab to the owner and resolves once the owner said hello. */
export async function connect(options: ConnectOptions): Promise<AunClient> {
  const client = new AunClient(options);
  await client.ready();
  return client;
}
