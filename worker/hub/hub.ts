// The tabs: attach handshake, one capability (facade.ts) per tab, liveness through a Web Lock each
// tab holds, and the tab state only the hub changes: which AID a tab is bound to, its
// subscriptions, and the flow control of the one-way event fan-out on each tab's event port.

import * as Comlink from 'comlink';
import {
  ATTACH, FACADE_METHODS, TAB_PROTOCOL, type AttachMessage, type InspectorSnapshot, type LogPage, type OwnerAddress,
  type OwnerFacade, type OwnerFrame, type Rung, type TabEventMap, type TabEventName,
} from '../../protocol/tab.ts';
import { guardedEndpoint } from './guard.ts';

/** A tab as the rest of the worker sees it: read-only; the hub alone changes it (every Tab it hands out is one of its records). */
export interface Tab {
  readonly id: string;
  readonly attachedAt: number;
  readonly build: string;
  /** The AID this tab is logged in as (Hub.bind / Hub.unbind). */
  readonly aid: string | null;
  readonly subscriptions: ReadonlySet<TabEventName>;
  /** Flow control: the last logged event posted to the tab, the last it said it processed. */
  readonly sentLsn: number;
  readonly ackedLsn: number;
  /** True while the tab is too far behind: logged events wait in the log until it catches up. */
  readonly lagging: boolean;
  post(frame: OwnerFrame): void;
}

/** A logged event as the hub fans it out (delivery/journal.ts makes them). */
export type PublishedEvent = LogPage['events'][number];

/**
 * Logged events a tab may have in flight (posted, not yet acknowledged). Beyond it the owner
 * stops posting to that tab instead of piling messages into its port, and tells it to resync
 * from the log: a frozen tab costs the worker nothing and never slows the others.
 */
export const TAB_WINDOW = 1000;

export interface HubOptions {
  incarnation: string;
  build: string;
  builtAt: number;
  rung(): Rung;
  /**
   * Settles before any tab hears hello: null when this owner serves tabs, or the address of the
   * owner (a newer build) they must use instead.
   */
  gate?: Promise<OwnerAddress | null>;
  /** Builds the facade (capability) for one tab. */
  facade(tab: Tab): OwnerFacade;
  /** Called once when a tab is gone: its lock was released, or it detached. */
  onDetach(tab: Tab): void;
  locks?: LockManager;
  log?: (line: string) => void;
}

interface TabRecord extends Tab {
  aid: string | null;
  readonly subscriptions: Set<TabEventName>;
  sentLsn: number;
  ackedLsn: number;
  lagging: boolean;
  /** The tab reads logged events as JSON text (AttachMessage.eventsText). */
  readonly eventsText: boolean;
  rpc: MessagePort;
  events: MessagePort;
  /** Starts watching the tab's lock (once); pending until the tab says it holds it. */
  watch: (() => void) | null;
  /** Ends the watch (a pending lock request, its timer) once the record is gone. */
  unwatch: () => void;
}

/** A tab that attached before its lock was granted is watched after this long even if it never says so. */
const LOCK_PENDING_MS = 10_000;

const TAB_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** A Web Lock name request() accepts ('' when the tab has no lock); one starting with '-' is reserved and rejected. */
const isLockName = (name: string) => name === '' || (name.length <= 256 && !name.startsWith('-'));

/** Logged events the inspector lists. */
const RECENT_EVENTS = 50;

/**
 * A list of logged events as JSON text: posting it to 20 tabs copies it 20 times, posting the list
 * makes 20 structured clones. Logged events are JSON (the gateway's, and sent payloads in their
 * JSON form); should one not be, the list goes as it is.
 */
function asText(list: LogPage['events']): LogPage['events'] | string {
  try {
    return JSON.stringify(list);
  } catch {
    return list;
  }
}

function isAttach(data: unknown): data is AttachMessage {
  if (typeof data !== 'object' || data === null) return false;
  const m = data as Record<string, unknown>;
  return m.type === ATTACH && typeof m.tabId === 'string' && TAB_ID.test(m.tabId) && typeof m.tabLock === 'string' && isLockName(m.tabLock)
    && typeof m.protocol === 'number' && typeof m.build === 'string' && typeof m.builtAt === 'number'
    && (m.lockPending === undefined || typeof m.lockPending === 'boolean') && (m.eventsText === undefined || typeof m.eventsText === 'boolean')
    && m.rpc instanceof MessagePort && m.events instanceof MessagePort;
}

export class Hub {
  private readonly tabs = new Map<string, TabRecord>();
  /** The last logged events fanned out, for the inspector. */
  private readonly recentEvents: InspectorSnapshot['recent'] = [];
  readonly ownerLock: string;
  /** Resolves once the owner lock is granted: no tab hears hello before we hold it. */
  private readonly ownerHeld: Promise<void>;

  constructor(private readonly opts: HubOptions) {
    this.ownerLock = `aun-owner:${opts.incarnation}`;
    const locks = this.locks;
    // Held for the owner's whole life: tabs wait on it to learn within milliseconds that we died.
    this.ownerHeld = locks
      ? new Promise((held) => void locks.request(this.ownerLock, () => {
        held();
        return new Promise<never>(() => {});
      }))
      : Promise.resolve();
  }

  private get locks(): LockManager | undefined {
    return this.opts.locks ?? (globalThis.navigator as Navigator | undefined)?.locks;
  }

  /** Accepts a port from SharedWorker `onconnect` (or the fallback owner). */
  accept(port: MessagePort): void {
    port.onmessage = (ev: MessageEvent) => {
      if (!isAttach(ev.data)) {
        this.opts.log?.('ignored a malformed attach message');
        return;
      }
      const msg = ev.data;
      void Promise.all([this.ownerHeld, this.opts.gate]).then(([, elsewhere]) => {
        if (elsewhere) this.redirect(msg, elsewhere);
        else this.attach(msg);
      });
    };
    port.start();
  }

  /** Another owner serves this origin now: the tab goes there. */
  private redirect(msg: AttachMessage, to: OwnerAddress): void {
    msg.events.postMessage({ t: 'moved', to } satisfies OwnerFrame);
    msg.events.close();
    msg.rpc.close();
  }

  /** To every attached tab (draining, moved). */
  broadcast(frame: OwnerFrame): void {
    for (const tab of this.tabs.values()) tab.post(frame);
  }

  private attach(msg: AttachMessage): void {
    const { incarnation, build, builtAt } = this.opts;
    if (msg.protocol !== TAB_PROTOCOL) {
      msg.events.postMessage({ t: 'refused', reason: `tab protocol ${msg.protocol} is not ${TAB_PROTOCOL}`, build, builtAt, protocol: TAB_PROTOCOL } satisfies OwnerFrame);
      msg.events.close();
      msg.rpc.close();
      return;
    }
    // An attach with the id of a tab still attached: the tab itself attaching again (a retried
    // attach, a leader's bridge with a new attempt) or another script of the origin. Either way
    // the old record goes as a detach does (both ports closed, onDetach, so the runtime accounts
    // for its AID); told `draining` first, a tab still alive behind it attaches again itself.
    const old = this.tabs.get(msg.tabId);
    if (old) {
      old.post({ t: 'draining', to: null });
      this.detach(old.id);
    }
    const tab: TabRecord = {
      id: msg.tabId,
      attachedAt: Date.now(),
      build: msg.build,
      aid: null,
      subscriptions: new Set(),
      sentLsn: 0,
      ackedLsn: 0,
      lagging: false,
      eventsText: msg.eventsText === true,
      rpc: msg.rpc,
      events: msg.events,
      post: (frame) => msg.events.postMessage(frame),
      watch: null,
      unwatch: () => {},
    };
    this.tabs.set(tab.id, tab);
    Comlink.expose(this.opts.facade(tab), guardedEndpoint(msg.rpc, FACADE_METHODS));
    tab.post({ t: 'hello', incarnation, build, builtAt, protocol: TAB_PROTOCOL, ownerLock: this.ownerLock, rung: this.opts.rung() });
    // Granted only when the tab's own lock is released: the tab closed, crashed or navigated.
    // A tab still waiting for its lock is watched once it holds it, or after LOCK_PENDING_MS.
    if (msg.tabLock && this.locks) {
      const locks = this.locks;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const gone = new AbortController();
      tab.unwatch = () => {
        tab.watch = null;
        clearTimeout(timer);
        gone.abort();
      };
      tab.watch = () => {
        tab.watch = null;
        clearTimeout(timer);
        // Only this record: a later attach with the same id has its own watch.
        locks.request(msg.tabLock, { signal: gone.signal }, () => {
          if (this.tabs.get(tab.id) === tab) this.detach(tab.id);
        }).catch((err: unknown) => {
          if (!gone.signal.aborted) this.opts.log?.(`cannot watch the lock of tab ${tab.id}: ${(err as Error).message}`);
        });
      };
      if (msg.lockPending) timer = setTimeout(() => tab.watch?.(), LOCK_PENDING_MS);
      else tab.watch();
    }
    this.opts.log?.(`attach ${tab.id} (build ${tab.build}), ${this.tabs.size} tab(s)`);
  }

  /** The tab now holds the lock it named at attach. */
  lockHeld(tabId: string): void {
    this.tabs.get(tabId)?.watch?.();
  }

  detach(tabId: string): void {
    const tab = this.tabs.get(tabId);
    if (!tab) return;
    this.tabs.delete(tabId);
    tab.unwatch();
    tab.events.close();
    // A detach the tab asked for is answered on this port after this returns: close it a task
    // later, once that answer is posted (closed now, the answer was lost and close() hung).
    setTimeout(() => tab.rpc.close(), 0);
    this.opts.log?.(`detach ${tabId}, ${this.tabs.size} tab(s)`);
    this.opts.onDetach(tab);
  }

  /** True while `tab` is attached (false once it detached, or another attach took its id). */
  attached(tab: Tab): boolean {
    return this.tabs.get(tab.id) === tab;
  }

  /** Sends an event to every tab logged in as `aid` that subscribed to it. */
  publish<E extends TabEventName>(aid: string, name: E, data: TabEventMap[E]): void {
    const frame: OwnerFrame = { t: 'event', name, data };
    for (const tab of this.tabs.values()) {
      if (tab.aid === aid && tab.subscriptions.has(name)) tab.post(frame);
    }
  }

  /**
   * Logged events (committed together, in lsn order) to the subscribed tabs of `aid`: one `events`
   * frame per tab, with flow control per event and per tab. A tab that reaches its window in the
   * middle gets the events before that point, then `resync`, and nothing more until it catches up.
   */
  publishLogged(aid: string, events: readonly PublishedEvent[]): void {
    if (events.length === 0) return;
    const at = Date.now();
    for (const { lsn, name, data } of events.slice(-RECENT_EVENTS)) {
      const m = data as { direction?: unknown; timestamp?: unknown };
      const sentAt = name.endsWith('message') && m.direction === 'inbound' && typeof m.timestamp === 'number' ? m.timestamp : undefined;
      this.recentEvents.push({ at, aid, name, lsn, ...(sentAt === undefined ? {} : { sentAt }) });
    }
    if (this.recentEvents.length > RECENT_EVENTS) this.recentEvents.splice(0, this.recentEvents.length - RECENT_EVENTS);
    // Each list's text is made once, for every tab that takes the same events (by their lsns).
    const texts = new Map<string, LogPage['events'] | string>();
    const frame = (tab: TabRecord, out: LogPage['events']): OwnerFrame => {
      if (!tab.eventsText) return { t: 'events', list: out };
      const key = out.length === events.length ? '' : out.map((e) => e.lsn).join();
      let list = texts.get(key);
      if (list === undefined) texts.set(key, (list = asText(out)));
      return { t: 'events', list };
    };
    for (const tab of this.tabs.values()) {
      if (tab.aid !== aid || tab.lagging) continue;
      const out: LogPage['events'] = [];
      for (const event of events) {
        if (!tab.subscriptions.has(event.name)) continue;
        if (tab.sentLsn - tab.ackedLsn >= TAB_WINDOW) {
          tab.lagging = true;
          if (out.length) tab.post(frame(tab, out));
          tab.post({ t: 'resync', aid, lastLsn: event.lsn });
          this.opts.log?.(`tab ${tab.id} is ${tab.sentLsn - tab.ackedLsn} events behind: paused, told to resync`);
          break;
        }
        tab.sentLsn = event.lsn;
        out.push(event);
      }
      if (!tab.lagging && out.length) tab.post(frame(tab, out));
    }
  }

  /** The tab processed logged events up to `lsn`; a lagging tab that caught up resumes live. */
  ack(view: Tab, lsn: number, lastLsn: number): void {
    const tab = view as TabRecord;
    if (!Number.isSafeInteger(lsn) || lsn <= tab.ackedLsn) return;
    tab.ackedLsn = lsn;
    tab.sentLsn = Math.max(tab.sentLsn, lsn);
    if (tab.lagging && lastLsn - lsn < TAB_WINDOW / 2) {
      tab.lagging = false;
      // What was logged while it was paused is fetched by one more catch-up.
      tab.post({ t: 'resync', aid: tab.aid ?? '', lastLsn });
    }
  }

  /** The tab is logged in as `aid` now; its flow control starts at the account's last lsn. */
  bind(view: Tab, aid: string, lastLsn: number): void {
    const tab = view as TabRecord;
    tab.aid = aid;
    tab.sentLsn = tab.ackedLsn = lastLsn;
    tab.lagging = false;
  }

  /** The tab leaves its AID (logout, or the identity was removed); returns the AID it left. */
  unbind(view: Tab): string | null {
    const tab = view as TabRecord;
    const aid = tab.aid;
    tab.aid = null;
    return aid;
  }

  subscribe(view: Tab, names: TabEventName[], on: boolean): void {
    const tab = view as TabRecord;
    for (const n of names) {
      if (on) tab.subscriptions.add(n);
      else tab.subscriptions.delete(n);
    }
  }

  /** How many attached tabs are logged in as `aid`. */
  tabCount(aid: string): number {
    let n = 0;
    for (const t of this.tabs.values()) if (t.aid === aid) n++;
    return n;
  }

  /** The last logged events fanned out (oldest first), for the inspector. */
  recent(): InspectorSnapshot['recent'] {
    return [...this.recentEvents];
  }

  tabsOf(aid: string): Tab[] {
    return [...this.tabs.values()].filter((t) => t.aid === aid);
  }

  /** Every attached tab, for the inspector. */
  list(): Tab[] {
    return [...this.tabs.values()];
  }

  get size(): number {
    return this.tabs.size;
  }
}
