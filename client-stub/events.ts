// The event stream a tab hands to the app: handlers and async iterators, subscriptions at the
// owner (batched per task), the session state as a value, and logged events exactly once and in
// lsn order across re-attaches, resyncs and logins (catching up from the owner's log).

import type {
  BuildInfo, LogPage, Outcome, OwnerFacade, OwnerFrame, Rung, SessionSnapshot, TabEventMap, TabEventName,
} from '../protocol/tab.ts';

/** How often a tab tells the owner how far it has read (flow control). */
const ACK_EVENTS_MS = 200;
const REPLAY_PAGE = 500;

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

/** What the parts of one client share: whether it is closed, and who it is logged in as. */
/** One call on the owner's facade, as the calls part runs it (deadline, retries). */
export type FacadeCall<T> = (f: OwnerFacade) => Promise<Outcome<T>>;

export interface ClientState {
  closed: boolean;
  aid: string | null;
  /** The AID of a login in progress (its state shows while the owner is slow to answer). */
  loggingIn: string | null;
}

/** Events the client makes itself: never subscribed at the owner. */
const LOCAL_EVENTS: ReadonlySet<ClientEventName> = new Set(['owner', 'update-required']);

export class Events {
  readonly #handlers = new Map<ClientEventName, Set<(data: never) => void>>();
  /** Names that got their first handler in this task: one `subscribe` call sends them all. */
  readonly #toSubscribe = new Set<TabEventName>();
  snapshot: SessionSnapshot | null = null;
  /** `aid:state` of the last `state` handed to handlers, so a login does not repeat the owner's. */
  #lastEmittedState: string | null = null;
  /**
   * Counts the owner's `state` frames: those come on the event port, answers on the rpc port, in
   * no fixed order, so a login's answer is older than any state frame that came while it ran.
   */
  stateFrames = 0;
  /** The last logged event this tab handed to the app. */
  lastLsn = 0;
  /** Live logged events that arrived while a catch-up from the log (or a login) was running. */
  held: LogPage['events'] | null = null;
  #catchingUp: Promise<void> | null = null;
  #ackTimer: ReturnType<typeof setTimeout> | null = null;

  readonly #s: ClientState;
  readonly #invoke: <T>(run: FacadeCall<T>) => Promise<T>;

  constructor(s: ClientState, invoke: <T>(run: FacadeCall<T>) => Promise<T>) {
    this.#s = s;
    this.#invoke = invoke;
  }

  on<E extends ClientEventName>(event: E, handler: (data: ClientEventMap[E]) => void): () => void {
    let set = this.#handlers.get(event);
    if (!set) {
      set = new Set();
      this.#handlers.set(event, set);
      if (!LOCAL_EVENTS.has(event)) this.#subscribeSoon(event as TabEventName);
    }
    set.add(handler as (data: never) => void);
    if (event === 'state' && this.snapshot) this.#call1(handler as (d: SessionSnapshot) => void, this.snapshot);
    return () => {
      const s = this.#handlers.get(event);
      if (!s?.delete(handler as (data: never) => void) || s.size > 0) return;
      this.#handlers.delete(event);
      if (!LOCAL_EVENTS.has(event) && !this.#toSubscribe.delete(event as TabEventName)) {
        void this.#invoke((f) => f.unsubscribe([event as TabEventName])).catch(() => {});
      }
    };
  }

  async *iterate<E extends ClientEventName>(event: E, opts: { signal?: AbortSignal }): AsyncGenerator<ClientEventMap[E]> {
    const queue: ClientEventMap[E][] = [];
    let wake: (() => void) | null = null;
    const off = this.on(event, (d) => {
      queue.push(d);
      wake?.();
    });
    const stop = () => wake?.();
    opts.signal?.addEventListener('abort', stop);
    try {
      while (!this.#s.closed && !opts.signal?.aborted) {
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

  /** The owner-side events some handler listens to (subscribed again after a re-attach). */
  subscribed(): TabEventName[] {
    return [...this.#handlers.keys()].filter((n): n is TabEventName => !LOCAL_EVENTS.has(n));
  }

  /** An app registers its handlers in a row: their names go to the owner in one call. */
  #subscribeSoon(name: TabEventName): void {
    if (this.#toSubscribe.size === 0) queueMicrotask(() => this.flushSubscriptions());
    this.#toSubscribe.add(name);
  }

  flushSubscriptions(): void {
    if (this.#toSubscribe.size === 0) return;
    const names = [...this.#toSubscribe];
    this.#toSubscribe.clear();
    void this.#invoke((f) => f.subscribe(names)).catch(() => {});
  }

  /** A frame of this tab's current owner (hand-over frames are the link's). */
  onFrame(frame: OwnerFrame): void {
    if (frame.t === 'resync') {
      void this.catchUp().catch(() => {});
      return;
    }
    if (frame.t === 'events') {
      // One frame per committed batch, in lsn order (as JSON text, or as the list); an entry that is not one is skipped.
      let list: unknown = frame.list;
      try {
        if (typeof list === 'string') list = JSON.parse(list);
      } catch {
        return;
      }
      if (!Array.isArray(list)) return;
      for (const e of list as unknown[]) {
        if (!isLogged(e)) continue;
        if (this.held) this.held.push(e);
        else this.#emitLogged(e.lsn, e.name, e.data);
      }
      return;
    }
    if (frame.t !== 'event') return;
    if (frame.name === 'state') {
      if (typeof frame.data !== 'object' || frame.data === null) return;
      const snap = frame.data as SessionSnapshot;
      if (snap.aid === this.#s.aid || snap.aid === this.#s.loggingIn) {
        this.stateFrames++;
        this.snapshot = snap;
        this.#lastEmittedState = `${snap.aid}:${snap.state}`;
      }
    }
    this.emit(frame.name, frame.data as never);
  }

  /** While the owner is slow to answer (starting, or moving), a tab with an AID shows `connecting`. */
  noteSlowOwner(): void {
    const aid = this.#s.aid ?? this.#s.loggingIn;
    if (!aid || this.snapshot?.state === 'connecting') return;
    this.#noteState({ aid, state: 'connecting', detail: { owner: 'attaching' }, lastLsn: this.snapshot?.lastLsn ?? this.lastLsn });
  }

  /** A login's answer: the state it carries, unless a state frame of that AID came meanwhile (newer). */
  noteAnswer(snap: SessionSnapshot, framesBefore: number): void {
    if (this.stateFrames !== framesBefore && this.snapshot?.aid === snap.aid) {
      this.snapshot = { ...this.snapshot, lastLsn: Math.max(this.snapshot.lastLsn, snap.lastLsn) };
      return;
    }
    this.#noteState(snap);
  }

  /** The session state this tab knows now; handlers hear it unless it is the one they last heard. */
  #noteState(snap: SessionSnapshot): void {
    this.snapshot = snap;
    const key = `${snap.aid}:${snap.state}`;
    if (key === this.#lastEmittedState) return;
    this.#lastEmittedState = key;
    this.emit('state', snap);
  }

  /** Logged out: no state until the next login. */
  forgetState(): void {
    this.snapshot = null;
    this.#lastEmittedState = null;
  }

  /** Hands out a logged event once, in lsn order, and tells the owner how far this tab got. */
  #emitLogged(lsn: number, name: TabEventName, data: unknown): void {
    if (lsn <= this.lastLsn) return;
    this.lastLsn = lsn;
    this.emit(name, data as never);
    this.#ackTimer ??= setTimeout(() => {
      this.#ackTimer = null;
      void this.#invoke((f) => f.ackEvents(this.lastLsn)).catch(() => {});
    }, ACK_EVENTS_MS);
  }

  /**
   * Reads the local log from the last lsn this tab saw (after a re-attach, a resync, or a login
   * with history); live events that arrive meanwhile wait, so the app sees one ordered stream.
   */
  catchUp(): Promise<void> {
    this.#catchingUp ??= (async () => {
      this.held ??= [];
      try {
        for (;;) {
          const page = await this.#invoke((f) => f.replay(this.lastLsn, REPLAY_PAGE));
          for (const e of page.events) this.#emitLogged(e.lsn, e.name, e.data);
          if (page.events.length < REPLAY_PAGE) break;
        }
      } finally {
        this.#catchingUp = null;
        this.releaseHeld();
      }
    })();
    return this.#catchingUp;
  }

  /** Hands out, in lsn order, the live events held during a login or catch-up (unless one runs). */
  releaseHeld(): void {
    if (this.#catchingUp) return;
    const held = (this.held ?? []).sort((a, b) => a.lsn - b.lsn);
    this.held = null;
    for (const f of held) this.#emitLogged(f.lsn, f.name, f.data);
  }

  emit<E extends ClientEventName>(event: E, data: ClientEventMap[E]): void {
    for (const h of this.#handlers.get(event) ?? []) this.#call1(h as (d: ClientEventMap[E]) => void, data);
  }

  /** One handler call: an app's exception is rethrown on its own, never breaks the client. */
  #call1<T>(h: (d: T) => void, data: T): void {
    try {
      h(data);
    } catch (e) {
      queueMicrotask(() => { throw e; });
    }
  }

  stop(): void {
    if (this.#ackTimer) clearTimeout(this.#ackTimer);
  }
}

/** An entry of an `events` frame as the owner writes it: a safe-integer lsn and an event name. */
function isLogged(e: unknown): e is LogPage['events'][number] {
  return typeof e === 'object' && e !== null && Number.isSafeInteger((e as { lsn?: unknown }).lsn) && typeof (e as { name?: unknown }).name === 'string';
}
