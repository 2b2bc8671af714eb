// What a tab imports. `connect()` attaches this tab to the origin's owner (a SharedWorker) and
// returns a typed client. Every call has a deadline; if the owner dies or restarts, in-flight
// calls reject at once with ConnectionLostError and the client re-attaches by itself.

import { groupExtras, notifyTo, recallP2p, thoughtsApi } from './extras.ts';
import { remoteFacade } from './rpc.ts';
import {
  SharedTransport, below, factoriesOf, hasLocks, probeRung,
  type Transport, type WorkerFactories, type WorkerOption,
} from './ladder.ts';
import {
  ATTACH, AunError, ConnectionLostError, ERROR_CLASSES, TAB_PROTOCOL, TimeoutError, UpdateRequiredError, ValidationError, holderOf, isNewer, isNotExecuted,
  type AttachMessage, type SessionHolder, type BuildInfo, type CallOptions, type OwnerAddress, type Rung, type GatewayOptions, type GroupInfo, type GroupMember, type GroupSent, type GroupSummary,
  type IdentityInfo, type InspectorSnapshot, type JsonObject, type LogPage,
  type MessageSendResult, type MethodName, type Outcome, type OwnerFacade, type OwnerFrame, type QueuedSend,
  type ParamsOf, type RecallOutcome, type ResultOf, type SessionSnapshot, type TabEventMap, type TabEventName, type WireError,
} from '../protocol/index.ts';

export {
  AunError, AuthError, ConnectionLostError, IdentityConflictError, NotFoundError, PermissionError,
  SessionError, TimeoutError, UpdateRequiredError, ValidationError, V2StaleKeysError,
} from '../protocol/errors.ts';
export type { WorkerFactories, WorkerOption } from './ladder.ts';
export type {
  GatewayOptions, GroupChange, GroupInboundMessage, GroupInfo, GroupMember, GroupSent, GroupSummary, IdentityInfo,
  InboundMessage, InspectorSnapshot, JsonObject, QueuedSend, UndecryptableMessage, MessageSendResult, MethodName, ParamsOf,
  ResultOf, Rung, SessionSnapshot, SessionStateName, TabEventMap, BuildInfo,
  MessageRecalled, GroupMessageRecalled, RecalledOriginal, RecallOutcome, NotifyEvent, NotifyTarget, Thought, ThoughtContext, ThoughtPut,
  InviteCode, GroupGetInfoResult, GroupSearchItem, SetRoleResult, TransferOwnerResult, SuspendResult, UseInviteCodeResult,
} from '../protocol/index.ts';

declare const __AUN_BUILD__: string | undefined;
declare const __AUN_BUILT_AT__: number | undefined;
const BUILD = typeof __AUN_BUILD__ === 'string' ? __AUN_BUILD__ : 'dev';
const BUILT_AT = typeof __AUN_BUILT_AT__ === 'number' ? __AUN_BUILT_AT__ : 0;
/**
 * A SharedWorker that says nothing within this long is slow, not broken (a cold start: its script,
 * IndexedDB, a loaded machine): the tab's state shows `connecting` while it keeps waiting. Only a
 * worker that cannot start (its constructor throws, its script fails to load) sends the tab down
 * a rung: a second owner started beside a slow one would fight it for the session.
 */
const SLOW_OWNER_MS = 4_000;
/** How long a tab waits for a SharedWorker's hello before it gives up on that attach (and tries again). */
const SHARED_HELLO_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 35_000;
const HELLO_TIMEOUT_MS = 10_000;
/** How many times a tab follows "another owner holds this AID's session" in a row. */
const MAX_MOVES = 4;
/** How often a tab tells the owner how far it has read (flow control). */
const ACK_EVENTS_MS = 200;
const REPLAY_PAGE = 500;

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

export interface RequestOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Client-side events: what the owner publishes, plus this tab's own view of the owner. */
export interface ClientEventMap extends TabEventMap {
  owner: { incarnation: string; previous: string | null; build: string; rung: Rung };
  /**
   * The running owner is a newer build than this tab (it took over, or was there first), or it
   * cannot serve this tab at all (`refused`: calls then fail with UpdateRequiredError). Reload.
   */
  'update-required': { yours: BuildInfo; running: BuildInfo; refused: boolean };
}
export type ClientEventName = keyof ClientEventMap;

/**
 * Rebuilds the typed error a plain `{name, code, message, data, retryable}` stands for (as carried
 * by `send.failed` events and by every failed call across the port).
 */
export function errorFromWire(e: WireError): AunError {
  const Cls = ERROR_CLASSES[e.name];
  const err = new (Cls ?? AunError)(e.message, e.code, e.data, e.retryable === true);
  // A worker-only class (a store or E2EE error) arrives as an AunError that keeps its name.
  if (!Cls && typeof e.name === 'string') err.name = e.name;
  return err;
}

function unwrap<T>(o: Outcome<T>): T {
  if (o.ok) return o.value;
  throw errorFromWire(o.error);
}

function randomId(): string {
  return crypto.randomUUID();
}

interface Link {
  facade: OwnerFacade;
  rpc: MessagePort;
  events: MessagePort;
  incarnation: string;
  build: string;
  rung: Rung;
}

/** The `{protocol, build, builtAt}` of an owner's frame (hello, refused). */
const buildOf = (f: BuildInfo): BuildInfo => ({ protocol: f.protocol, build: f.build, builtAt: f.builtAt });

/** Events the client makes itself: never subscribed at the owner. */
const LOCAL_EVENTS: ReadonlySet<ClientEventName> = new Set(['owner', 'update-required']);

export class AunClient {
  readonly tabId = randomId();
  private link: Link | null = null;
  private linking: Promise<Link> | null = null;
  private readonly pending = new Map<string, { link: Link; fail: (err: Error) => void }>();
  private transport: Transport | null = null;
  private update: ClientEventMap['update-required'] | null = null;
  private readonly factories: WorkerFactories;
  private readonly build: BuildInfo;
  private readonly handlers = new Map<ClientEventName, Set<(data: never) => void>>();
  private releaseTabLock: (() => void) | null = null;
  private tabLockHeld: Promise<void> | null = null;
  private tabLockGranted = false;
  private aid: string | null = null;
  /** The AID of a login in progress (its state shows while the owner is slow to answer). */
  private loggingIn: string | null = null;
  private closed = false;
  private steppedDown: string | null = null;
  private lastSnapshot: SessionSnapshot | null = null;
  /** `aid:state` of the last `state` handed to handlers, so a login does not repeat the owner's. */
  private lastEmittedState: string | null = null;
  /**
   * Counts the owner's `state` frames: those come on the event port, answers on the rpc port, in
   * no fixed order, so a login's answer is older than any state frame that came while it ran.
   */
  private stateFrames = 0;
  private lastIncarnation: string | null = null;
  /** The last logged event this tab handed to the app. */
  private lastLsn = 0;
  /** Live logged events that arrived while a catch-up from the log was running. */
  private held: LogPage['events'] | null = null;
  private catchingUp: Promise<void> | null = null;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  /** Names that got their first handler in this task: one `subscribe` call sends them all. */
  private readonly toSubscribe = new Set<TabEventName>();
  private readonly defaults: Partial<GatewayOptions>;

  constructor(private readonly options: ConnectOptions) {
    const roots = options.rootCa === undefined ? undefined : Array.isArray(options.rootCa) ? options.rootCa : [options.rootCa];
    this.defaults = { ...(options.gateway ? { gateway: options.gateway } : {}), ...(roots ? { rootCa: roots } : {}) };
    this.factories = factoriesOf(options.worker);
    this.build = { protocol: TAB_PROTOCOL, build: options.build ?? BUILD, builtAt: BUILT_AT };
  }

  /** Set once the running owner turned out newer than this tab (see the 'update-required' event). */
  get updateRequired(): ClientEventMap['update-required'] | null {
    return this.update;
  }

  private noteUpdate(u: ClientEventMap['update-required']): void {
    this.update = u;
    this.emit('update-required', u);
  }

  /** Where this tab's owner runs: 'shared', 'leader' or 'single' (null before the first attach). */
  get rung(): Rung | null {
    return this.link?.rung ?? this.transport?.rung ?? null;
  }

  /**
   * Why this tab runs below the rung its browser first offered, e.g. `shared → leader: the shared
   * rung cannot run in this browser: …` (WebKit's SharedWorker cannot keep keys); null otherwise.
   */
  get rungReason(): string | null {
    return this.steppedDown;
  }

  /** The session this tab is logged in to, as last reported by the owner. */
  get state(): SessionSnapshot | null {
    return this.lastSnapshot;
  }

  get incarnation(): string | null {
    return this.link?.incarnation ?? null;
  }

  get loggedInAs(): string | null {
    return this.aid;
  }

  /** Asks the owner for this tab's session state now (the `state` getter is the last one pushed). */
  async snapshot(): Promise<SessionSnapshot | null> {
    const snap = await this.invoke((f) => f.snapshot());
    if (snap) this.lastSnapshot = snap;
    return snap;
  }

  /** The owner's state for a debug view: tabs, sessions, cursors, outbox, recent events. */
  inspect(): Promise<InspectorSnapshot> {
    return this.invoke((f) => f.inspect());
  }

  /** Resolves once this tab is attached to an owner (at once, unless it is re-attaching). */
  async ready(): Promise<void> {
    await this.ensureLink();
  }

  readonly identities = {
    list: (): Promise<IdentityInfo[]> => this.invoke((f) => f.listIdentities()),
    create: (aid: string, options: Partial<GatewayOptions> = {}): Promise<IdentityInfo> =>
      this.invoke((f) => f.createIdentity(aid, this.gatewayOptions(options))),
    /** Imports an AID whose private key (PKCS#8 PEM) was made elsewhere; the key stays in the worker. */
    import: (aid: string, privateKeyPem: string, options: Partial<GatewayOptions> = {}): Promise<IdentityInfo> =>
      this.invoke((f) => f.importIdentity(aid, privateKeyPem, this.gatewayOptions(options))),
    remove: (aid: string): Promise<void> => this.invoke((f) => f.removeIdentity(aid)),
  };

  /** Groups of the logged-in AID. Group sends are end-to-end encrypted by default. */
  readonly groups = {
    create: (name: string): Promise<GroupInfo> => this.invoke((f) => f.groupCreate(name)),
    add: (groupId: string, aid: string): Promise<GroupInfo> => this.invoke((f) => f.groupAdd(groupId, aid)),
    remove: (groupId: string, aid: string): Promise<GroupInfo> => this.invoke((f) => f.groupRemove(groupId, aid)),
    leave: (groupId: string): Promise<void> => this.invoke((f) => f.groupLeave(groupId)),
    list: (): Promise<GroupSummary[]> => this.invoke((f) => f.groupList()),
    members: (groupId: string): Promise<GroupMember[]> => this.invoke((f) => f.groupMembers(groupId)),
    send: (groupId: string, payload: JsonObject, opts: RequestOptions & { encrypt?: boolean } = {}): Promise<GroupSent> => {
      const encrypt = opts.encrypt ?? true;
      return this.request(opts, (f, id, o) => f.groupSend(id, groupId, payload, { ...o, encrypt }));
    },
    ...groupExtras((fn) => this.invoke(fn), (method, params) => this.call(method, params)),
  };

  /** End-to-end encrypted thoughts: `put` for a peer or a group, `get` a sender's, decrypted. */
  readonly thoughts = thoughtsApi((fn) => this.invoke(fn));

  /**
   * Recalls P2P messages this AID sent (within two minutes): a queued one is taken out of the
   * outbox, the others are recalled at the gateway. Every tab, and every tab opened later, gets one
   * `message.recalled` event naming the originals, whose plaintext is gone from the local log.
   */
  recall(messageIds: string | string[]): Promise<RecallOutcome> {
    return recallP2p((fn) => this.invoke(fn), messageIds);
  }

  /**
   * An ephemeral notice (`typing`, `presence`, …) to an AID or a group: delivered only to their
   * open tabs, never stored; at most 5 a second. Resolves false when the session was not ready.
   * Receive them with `on('notify')`.
   */
  notify(to: string | { groupId: string }, kind: string, params: JsonObject = {}): Promise<boolean> {
    return notifyTo((fn) => this.invoke(fn), to, kind, params);
  }

  /** Logs this tab in as `aid`, sharing the owner's session when one is already up. */
  async login(aid: string, options: LoginOptions = {}): Promise<SessionSnapshot> {
    const { history, ...gateway } = options;
    // Live events that race the login answer wait until we know where this tab starts reading.
    this.held ??= [];
    this.loggingIn = aid;
    try {
      const frames = this.stateFrames;
      const snap = await this.invoke((f) => f.login(aid, { ...this.defaults, ...gateway }));
      this.aid = aid;
      this.noteAnswer(snap, frames);
      const start = history === true ? 0 : typeof history === 'number' ? history : snap.lastLsn;
      // A cursor past the end means the log was reset (identity removed, storage cleared): read it all.
      this.lastLsn = start > snap.lastLsn ? 0 : start;
      if (this.lastLsn < snap.lastLsn) await this.catchUp();
      return snap;
    } finally {
      if (this.loggingIn === aid) this.loggingIn = null;
      if (!this.catchingUp) this.releaseHeld();
    }
  }

  /** The lsn of the last logged event this tab handed out (save it to resume after a reload). */
  get cursor(): number {
    return this.lastLsn;
  }

  /** Detaches this tab from its AID; the owner closes the session when no tab uses it. */
  async logout(): Promise<void> {
    await this.invoke((f) => f.logout());
    this.aid = null;
    this.lastSnapshot = null;
    this.lastEmittedState = null;
  }

  /**
   * Skips the backoff wait: the session tries the gateway now (a "retry now" button). When ready
   * it checks the link with one short ping instead; offline (the browser says so) it does nothing.
   */
  async reconnectNow(): Promise<void> {
    await this.invoke((f) => f.reconnectNow());
  }

  call<M extends MethodName>(method: M, params: ParamsOf<M>, opts: RequestOptions = {}): Promise<ResultOf<M>> {
    return this.request(opts, (f, id, o) => f.call(id, method, params, o) as Promise<Outcome<ResultOf<M>>>);
  }

  /**
   * Sends end-to-end encrypted by default; `{encrypt: false}` sends plaintext. Resolves with the
   * gateway's answer, or `{status: 'queued'}` when the gateway cannot be reached before the
   * deadline: the message then waits in the worker's outbox and goes out (once) on reconnect.
   */
  send(to: string, payload: JsonObject, opts: RequestOptions & { encrypt?: boolean } = {}): Promise<MessageSendResult | QueuedSend> {
    const encrypt = opts.encrypt ?? true;
    return this.request(opts, (f, id, o) => f.send(id, to, payload, { ...o, encrypt }));
  }

  /**
   * Calls `handler` for every `event`; returns the unsubscribe function. `state` is a value: a
   * handler added while this tab is logged in gets the current state at once, then every change.
   */
  on<E extends ClientEventName>(event: E, handler: (data: ClientEventMap[E]) => void): () => void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
      if (!LOCAL_EVENTS.has(event)) this.subscribeSoon(event as TabEventName);
    }
    set.add(handler as (data: never) => void);
    if (event === 'state' && this.lastSnapshot) this.call1(handler as (d: SessionSnapshot) => void, this.lastSnapshot);
    return () => {
      const s = this.handlers.get(event);
      if (!s?.delete(handler as (data: never) => void) || s.size > 0) return;
      this.handlers.delete(event);
      if (!LOCAL_EVENTS.has(event) && !this.toSubscribe.delete(event as TabEventName)) {
        void this.invoke((f) => f.unsubscribe([event as TabEventName])).catch(() => {});
      }
    };
  }

  /** The same events as an async iterator; ends when `signal` aborts or the client closes. */
  async *events<E extends ClientEventName>(event: E, opts: { signal?: AbortSignal } = {}): AsyncGenerator<ClientEventMap[E]> {
    const queue: ClientEventMap[E][] = [];
    let wake: (() => void) | null = null;
    const off = this.on(event, (d) => {
      queue.push(d);
      wake?.();
    });
    const stop = () => wake?.();
    opts.signal?.addEventListener('abort', stop);
    try {
      while (!this.closed && !opts.signal?.aborted) {
        if (queue.length) {
          yield queue.shift()!;
          continue;
        }
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    } finally {
      off();
      opts.signal?.removeEventListener('abort', stop);
    }
  }

  /** Detaches this tab only; the owner and other tabs go on. */
  async close(): Promise<void> {
    if (this.closed) return;
    const link = this.link;
    if (link) await link.facade.detach().catch(() => {});
    this.closed = true;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.failPending(new ConnectionLostError('client closed'));
    this.dropLink();
    this.releaseTabLock?.();
  }

  // ---- internals ----

  private gatewayOptions(options: Partial<GatewayOptions>): GatewayOptions {
    const merged = { ...this.defaults, ...options };
    // Without a gateway the worker discovers it from the AID (/.well-known/aun-gateway).
    if (!merged.rootCa?.length) throw new ValidationError('at least one trusted root CA is needed: pass rootCa to connect() or to this call');
    return { ...merged, gateway: merged.gateway ?? '' } as GatewayOptions;
  }

  private async request<T>(opts: RequestOptions, run: (f: OwnerFacade, id: string, o: CallOptions) => Promise<Outcome<T>>): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const id = randomId();
    return this.invoke((f) => run(f, id, { timeoutMs }), { id, timeoutMs, signal: opts.signal });
  }

  /**
   * Runs one facade call with a deadline, abort support and owner-death rejection; the Comlink
   * promise alone would hang forever if the owner died. A call a handing-over owner turned away
   * unrun goes to the next owner.
   */
  /** An app registers its handlers in a row: their names go to the owner in one call. */
  private subscribeSoon(name: TabEventName): void {
    if (this.toSubscribe.size === 0) queueMicrotask(() => this.flushSubscriptions());
    this.toSubscribe.add(name);
  }

  private flushSubscriptions(): void {
    if (this.toSubscribe.size === 0) return;
    const names = [...this.toSubscribe];
    this.toSubscribe.clear();
    void this.invoke((f) => f.subscribe(names)).catch(() => {});
  }

  private async invoke<T>(run: (f: OwnerFacade) => Promise<Outcome<T>>, opts: { id?: string; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    // Subscriptions made before this call reach the owner before it (a login right after on()
    // must not miss the events of its first moments).
    this.flushSubscriptions();
    for (let attempt = 0, moves = 0; ; attempt++) {
      const o = await this.invokeOnce(run, opts);
      // Another owner of the origin holds this AID's session (a login turned away unrun): go there.
      const holder = o.ok ? null : holderOf(o.error.data);
      if (holder && moves++ < MAX_MOVES) {
        await this.moveTo(holder);
        continue;
      }
      // Turned away unrun by an owner that was handing over: safe to send to the next owner.
      if (attempt < 3 && !o.ok && isNotExecuted(o.error.data) && !holder) continue;
      return unwrap(o);
    }
  }

  private async invokeOnce<T>(run: (f: OwnerFacade) => Promise<Outcome<T>>, opts: { id?: string; timeoutMs?: number; signal?: AbortSignal }): Promise<Outcome<T>> {
    if (this.closed) throw new ConnectionLostError('client closed');
    opts.signal?.throwIfAborted();
    const link = await this.ensureLink();
    const id = opts.id ?? randomId();
    const timeoutMs = opts.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<Outcome<T>>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        this.pending.delete(id);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const fail = (err: Error) => {
        finish();
        reject(err);
      };
      const onAbort = () => {
        fail(opts.signal!.reason instanceof Error ? opts.signal!.reason : new DOMException('aborted', 'AbortError'));
        void link.facade.cancel(id).catch(() => {});
      };
      // A little longer than the owner's own deadline, so its TimeoutError normally wins.
      const timer = setTimeout(() => {
        fail(new TimeoutError(`no answer from the owner within ${timeoutMs} ms`));
        void link.facade.cancel(id).catch(() => {});
      }, timeoutMs + 250);
      opts.signal?.addEventListener('abort', onAbort);
      this.pending.set(id, { link, fail });
      run(link.facade).then(
        (o) => {
          finish();
          resolve(o);
        },
        (e: unknown) => fail(e instanceof Error ? e : new AunError(String(e))),
      );
    });
  }

  /** Rejects the calls in flight (on `link` only, when given). */
  private failPending(err: Error, link?: Link): void {
    for (const [id, p] of [...this.pending]) {
      if (link && p.link !== link) continue;
      this.pending.delete(id);
      p.fail(err);
    }
  }

  private ensureLink(): Promise<Link> {
    if (this.link) return Promise.resolve(this.link);
    this.linking ??= this.attach().finally(() => (this.linking = null));
    return this.linking;
  }

  /**
   * Asks (once) for the lock this tab holds for its whole life; the owner learns the tab is gone
   * when it is released. Resolves once granted; '' without Web Locks.
   */
  private requestTabLock(): { name: string; held: Promise<void> } {
    if (!hasLocks()) return { name: '', held: Promise.resolve() };
    const name = `aun-tab:${this.tabId}`;
    this.tabLockHeld ??= new Promise<void>((granted) => {
      void navigator.locks.request(name, () => {
        this.tabLockGranted = true;
        granted();
        return new Promise<void>((release) => (this.releaseTabLock = release));
      });
    });
    return { name, held: this.tabLockHeld };
  }

  private get workerName(): string {
    return `${this.options.name ?? 'aun-worker'}@${this.build.build}`;
  }

  private async makeTransport(rung: Rung): Promise<Transport> {
    const f = this.factories;
    if (rung === 'shared' && f.shared) return new SharedTransport(f.shared, this.workerName);
    if (!f.dedicated) throw new AunError(`the ${rung} rung needs a dedicated worker factory (connect({worker: {dedicated}}))`);
    const { LeaderTransport, SingleTransport } = await import('./fallback.ts');
    if (rung === 'leader') return new LeaderTransport(f.dedicated, this.workerName, this.options.name ?? 'aun-worker', this.tabId, this.build);
    return new SingleTransport(f.dedicated, this.workerName);
  }

  /**
   * Attaches to the owner of this tab's rung; follows `moved` to a newer build's owner, and in
   * 'auto' mode steps down a rung when the SharedWorker cannot start or never answers.
   */
  private async attach(): Promise<Link> {
    const forced = this.options.rung && this.options.rung !== 'auto';
    let moves = 0;
    // On the shared rung the lock grant, the worker lookup and the attach run at once (see
    // lockPending); a leader's bridge watches its followers' locks itself, so they wait for theirs.
    const lock = this.requestTabLock();
    this.transport ??= await this.makeTransport(forced ? this.options.rung as Rung : probeRung(this.factories));
    this.transport.prepare?.();
    if (this.transport.rung !== 'shared') await lock.held;
    const tabLock = lock.name;
    for (let hops = 0; ; hops++) {
      const transport = this.transport;
      try {
        return await this.attachOnce(transport, tabLock, !forced && transport.rung === 'shared' && !this.lastIncarnation);
      } catch (err) {
        const moved = (err as { moved?: OwnerAddress }).moved;
        if (moved && transport instanceof SharedTransport && hops < 4) {
          transport.target = moved;
          continue;
        }
        // Logging back in found the AID's session held by another owner: attach to that one.
        const holder = holderOf((err as AunError).data);
        if (holder && moves++ < MAX_MOVES) {
          await this.moveTo(holder);
          continue;
        }
        // The owner began handing over right after hello: attach to the next one.
        if (isNotExecuted((err as AunError).data) && hops < 4) {
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        const next = !forced && (err as { probe?: boolean }).probe ? below(transport.rung, this.factories) : null;
        if (!next) throw err;
        this.steppedDown = `${transport.rung} → ${next}: ${(err as Error).message}`;
        this.transport = await this.makeTransport(next);
      }
    }
  }

  /**
   * Leaves this owner for the one that holds the AID's session (whatever rung each runs on): a
   * SharedWorker by its address, or the leader tab's owner through the election. The next
   * attach goes there; the call that was turned away runs there.
   */
  private async moveTo(holder: SessionHolder): Promise<void> {
    const link = this.link;
    if (link) {
      this.link = null;
      // The old owner forgets this tab now rather than when the tab closes.
      await Promise.race([link.facade.detach().catch(() => {}), new Promise((r) => setTimeout(r, 200))]);
      this.failPending(new ConnectionLostError('moved to the owner that holds the session'), link);
      link.events.onmessage = null;
      link.events.close();
      link.rpc.close();
    }
    const old = this.transport;
    if (holder.rung === 'shared' && holder.address && this.factories.shared) {
      const shared = old instanceof SharedTransport ? old : new SharedTransport(this.factories.shared, this.workerName);
      shared.target = holder.address;
      if (shared !== old) old?.close?.();
      this.transport = shared;
    } else if (holder.rung === 'leader' && old?.rung !== 'leader') {
      old?.close?.();
      this.transport = await this.makeTransport('leader');
    }
    this.noteSlowOwner();
  }

  /** While the owner is slow to answer (starting, or moving), a tab with an AID shows `connecting`. */
  private noteSlowOwner(): void {
    const aid = this.aid ?? this.loggingIn;
    if (!aid || this.lastSnapshot?.state === 'connecting') return;
    this.noteState({ aid, state: 'connecting', detail: { owner: 'attaching' }, lastLsn: this.lastSnapshot?.lastLsn ?? this.lastLsn });
  }

  /** A login's answer: the state it carries, unless a state frame of that AID came meanwhile (newer). */
  private noteAnswer(snap: SessionSnapshot, framesBefore: number): void {
    if (this.stateFrames !== framesBefore && this.lastSnapshot?.aid === snap.aid) {
      this.lastSnapshot = { ...this.lastSnapshot, lastLsn: Math.max(this.lastSnapshot.lastLsn, snap.lastLsn) };
      return;
    }
    this.noteState(snap);
  }

  /** The session state this tab knows now; handlers hear it unless it is the one they last heard. */
  private noteState(snap: SessionSnapshot): void {
    this.lastSnapshot = snap;
    const key = `${snap.aid}:${snap.state}`;
    if (key === this.lastEmittedState) return;
    this.lastEmittedState = key;
    this.emit('state', snap);
  }

  private async attachOnce(transport: Transport, tabLock: string, probing: boolean): Promise<Link> {
    const rpc = new MessageChannel();
    const events = new MessageChannel();
    const deadline = transport.rung === 'shared' ? SHARED_HELLO_MS : HELLO_TIMEOUT_MS;
    let lockPending = false;
    const hello = new Promise<Extract<OwnerFrame, { t: 'hello' }>>((resolve, reject) => {
      const failed = (err: Error, extra: object = {}) => {
        clearTimeout(timer);
        clearTimeout(slow);
        transport.cancel();
        events.port1.onmessage = null;
        reject(Object.assign(err, extra));
      };
      // A slow owner is waited for, never replaced: only a failure to start is a failed probe.
      const timer = setTimeout(() => failed(new ConnectionLostError(`the owner did not answer the attach within ${deadline} ms`)), deadline);
      const slow = setTimeout(() => this.noteSlowOwner(), SLOW_OWNER_MS);
      events.port1.onmessage = (ev: MessageEvent<OwnerFrame>) => {
        const f = ev.data;
        if (f.t === 'hello') {
          clearTimeout(timer);
          clearTimeout(slow);
          resolve(f);
        } else if (f.t === 'moved') {
          failed(new ConnectionLostError(`build ${f.to.build} runs the owner now`), { moved: f.to });
        } else if (f.t === 'unfit') {
          failed(new AunError(`the ${transport.rung} rung cannot run in this browser: ${f.reason}`), { probe: true });
        } else if (f.t === 'refused') {
          this.noteUpdate({ yours: this.build, running: buildOf(f), refused: true });
          failed(new UpdateRequiredError(`the owner (build ${f.build}) cannot serve this tab: ${f.reason}; reload the page`));
        }
      };
      lockPending = tabLock !== '' && !this.tabLockGranted;
      const msg: AttachMessage = { type: ATTACH, tabId: this.tabId, tabLock, lockPending, ...this.build, rpc: rpc.port2, events: events.port2 };
      try {
        transport.attach(msg, (err) => failed(err, { probe: probing }));
      } catch (err) {
        failed(err instanceof Error ? err : new AunError(String(err)), { probe: probing });
      }
    });
    const h = await hello;
    const previous = this.lastIncarnation;
    const link: Link = { facade: remoteFacade(rpc.port1), rpc: rpc.port1, events: events.port1, incarnation: h.incarnation, build: h.build, rung: h.rung };
    events.port1.onmessage = (ev: MessageEvent<OwnerFrame>) => this.onFrame(link, ev.data);
    this.link = link;
    this.lastIncarnation = h.incarnation;
    if (h.ownerLock && hasLocks()) this.watchOwner(link, h.ownerLock);
    // The owner watches our lock only once told we hold it (it may have been granted meanwhile).
    if (lockPending && this.tabLockHeld) void this.tabLockHeld.then(async () => { await link.facade.lockHeld(); }).catch(() => {});
    // A newer tab under an older leader asks it to hand over (shared owners do this themselves).
    if (isNewer(this.build, h)) transport.newerThanOwner?.(this.build);
    if (isNewer(h, this.build)) this.noteUpdate({ yours: this.build, running: buildOf(h), refused: false });
    try {
      await this.restore(link);
    } catch (err) {
      // Turned away unrun by an owner that is handing over: this link is done, the next one waits.
      if (isNotExecuted((err as AunError).data) && this.link === link) this.dropLink();
      throw err;
    }
    this.emit('owner', { incarnation: h.incarnation, previous, build: h.build, rung: h.rung });
    return link;
  }

  /** After a (re-)attach: re-subscribe and log back in to the AID this tab had. */
  private async restore(link: Link): Promise<void> {
    const names = [...this.handlers.keys()].filter((n): n is TabEventName => !LOCAL_EVENTS.has(n));
    if (names.length) unwrap(await link.facade.subscribe(names));
    if (!this.aid) return;
    const frames = this.stateFrames;
    const snap = unwrap(await link.facade.login(this.aid, this.defaults));
    this.noteAnswer(snap, frames);
    if (this.lastLsn > snap.lastLsn) this.lastLsn = 0;
    // Whatever was logged while this tab had no owner comes now, exactly once.
    if (this.lastLsn < snap.lastLsn) void this.catchUp().catch(() => {});
  }

  private watchOwner(link: Link, ownerLock: string): void {
    void navigator.locks.request(ownerLock, () => {
      // Calls still waiting on that owner will never be answered.
      this.failPending(new ConnectionLostError('the owner stopped; re-attaching'), link);
      if (this.link !== link || this.closed) {
        link.events.close();
        link.rpc.close();
        return;
      }
      this.dropLink();
      void this.ensureLink().catch(() => {});
    });
  }

  private dropLink(): void {
    const link = this.link;
    this.link = null;
    if (!link) return;
    link.events.onmessage = null;
    link.events.close();
    link.rpc.close();
  }

  /**
   * The owner hands over to a newer build: new calls wait for the next owner, while the calls in
   * flight are still answered here (the old ports stay open until that owner is gone).
   */
  private handOver(link: Link, to: OwnerAddress | null): void {
    if (this.link !== link) return;
    this.link = null;
    if (to && this.transport instanceof SharedTransport) this.transport.target = to;
    void this.ensureLink().catch(() => {});
  }

  private onFrame(link: Link, frame: OwnerFrame): void {
    if (frame.t === 'draining' || frame.t === 'moved') {
      this.handOver(link, frame.to);
      return;
    }
    if (this.link !== link) return;
    if (frame.t === 'resync') {
      void this.catchUp().catch(() => {});
      return;
    }
    if (frame.t === 'events') {
      // One frame per committed batch, in lsn order.
      if (this.held) this.held.push(...frame.list);
      else for (const e of frame.list) this.emitLogged(e.lsn, e.name, e.data);
      return;
    }
    if (frame.t !== 'event') return;
    if (frame.name === 'state') {
      const snap = frame.data as SessionSnapshot;
      if (snap.aid === this.aid || snap.aid === this.loggingIn) {
        this.stateFrames++;
        this.lastSnapshot = snap;
        this.lastEmittedState = `${snap.aid}:${snap.state}`;
      }
    }
    this.emit(frame.name, frame.data as never);
  }

  /** Hands out a logged event once, in lsn order, and tells the owner how far this tab got. */
  private emitLogged(lsn: number, name: TabEventName, data: unknown): void {
    if (lsn <= this.lastLsn) return;
    this.lastLsn = lsn;
    this.emit(name, data as never);
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = null;
      void this.invoke((f) => f.ackEvents(this.lastLsn)).catch(() => {});
    }, ACK_EVENTS_MS);
  }

  /**
   * Reads the local log from the last lsn this tab saw (after a re-attach, a resync, or a login
   * with history); live events that arrive meanwhile wait, so the app sees one ordered stream.
   */
  catchUp(): Promise<void> {
    this.catchingUp ??= (async () => {
      this.held ??= [];
      try {
        for (;;) {
          const page = await this.invoke((f) => f.replay(this.lastLsn, REPLAY_PAGE));
          for (const e of page.events) this.emitLogged(e.lsn, e.name, e.data);
          if (page.events.length < REPLAY_PAGE) break;
        }
      } finally {
        this.catchingUp = null;
        this.releaseHeld();
      }
    })();
    return this.catchingUp;
  }

  /** Hands out, in lsn order, the live events held during a login or catch-up. */
  private releaseHeld(): void {
    const held = (this.held ?? []).sort((a, b) => a.lsn - b.lsn);
    this.held = null;
    for (const f of held) this.emitLogged(f.lsn, f.name, f.data);
  }

  private emit<E extends ClientEventName>(event: E, data: ClientEventMap[E]): void {
    for (const h of this.handlers.get(event) ?? []) this.call1(h as (d: ClientEventMap[E]) => void, data);
  }

  /** One handler call: an app's exception is rethrown on its own, never breaks the client. */
  private call1<T>(h: (d: T) => void, data: T): void {
    try {
      h(data);
    } catch (e) {
      queueMicrotask(() => { throw e; });
    }
  }
}

/** Attaches this tab to the owner and resolves once the owner said hello. */
export async function connect(options: ConnectOptions): Promise<AunClient> {
  const client = new AunClient(options);
  await client.ready();
  return client;
}
